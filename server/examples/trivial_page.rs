//! The reference `bench/users-page` measures the machine with: the issue's "trivial Leptos 0.8
//! page" (its scale: about 12,000 requests/s with p99 5 ms), served the way Rollcall serves its
//! pages (leptos_axum, axum, mimalloc, `TCP_NODELAY` on accepted sockets) and nothing more.
//! Comparing the Users tab with this page in the same run tells the code's cost from the
//! machine's speed of the day.
//!
//! `cargo run --release -p rollcall --no-default-features --example trivial_page [addr]`

use leptos::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn shell() -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head><meta charset="utf-8"/><title>"Trivial"</title></head>
            <body><h1>"Hello"</h1><p>"A trivial Leptos page."</p></body>
        </html>
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3399".to_owned());
    // Also sets up the async executor that rendering needs.
    let _ = leptos_axum::generate_route_list(shell);
    let app = axum::Router::new().route("/", axum::routing::get(leptos_axum::render_app_to_stream(shell)));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
