//! Accepting connections: hyper serving the router, with the limits a server facing the internet
//! needs. A client gets `HEADER_READ_TIMEOUT` to send a request's headers (a slow or silent
//! client cannot hold a connection open), and at most `max_connections` are open at once (`ROLLCALL_MAX_CONNECTIONS`) (past
//! it, new ones are closed at once rather than exhausting file descriptors). Shutdown stops
//! accepting and lets in-flight requests finish.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// Time a client has to send a request's headers, on a new connection and between requests
/// on a kept-alive one.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an HTTP/2 connection is pinged to tell a live peer from a vanished one.
const HTTP2_PING_EVERY: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(15);

pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // HTTP/2 (cleartext, prior knowledge): a peer that stops answering pings is closed, and one
    // connection carries at most 100 requests at once.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(HTTP2_PING_EVERY))
        .keep_alive_timeout(HEADER_READ_TIMEOUT)
        .max_concurrent_streams(100);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(max_connections));
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::warn!(%remote, "too many open connections; closing a new one");
            continue;
        };
        // Nagle's algorithm meets delayed ACKs on keep-alive connections and adds ~40 ms to
        // streamed responses.
        let _ = tcp.set_nodelay(true);
        let tower_service = Service::<SocketAddr>::call(&mut make_service, remote)
            .await
            .unwrap_or_else(|never| match never {});
        let hyper_service = hyper::service::service_fn(move |request| tower_service.clone().oneshot(request));
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The protocol is told by the first bytes, and hyper's header timeout only starts
            // once a request begins: a client that connects and says nothing is closed here.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(HEADER_READ_TIMEOUT, tcp.peek(&mut first)).await,
                Ok(Ok(1..))
            ) {
                drop(permit);
                return;
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), hyper_service)
                .into_owned();
            // A closed or timed-out connection is the client's business, not an error of ours.
            let _ = watcher.watch(connection).await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time");
    }
    Ok(())
}
