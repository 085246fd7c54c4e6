//! The hook through which a page has its data read in the same statement as the session.
//!
//! Every request's context starts with a session read. A page whose own read is worth fusing
//! with it (the Users tab: one round trip instead of two, see `identity::users::resolve_with_page`)
//! offers a [`SessionRead`] for the requests that show it. The server's middleware, which knows
//! no page, asks [`session_read_for`] with each request's method and URI and runs what it gets;
//! the page later takes what was read from the request's context ([`RequestContext::preloaded`]).

use super::state::RequestContext;
use identity::sessions::{SessionStore, SessionUser};
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a session read with a page's data found: the session (if live), and the page's data
/// when the page read it.
pub type SessionWithData = Option<(SessionUser, Option<Preloaded>)>;

/// A page's read, to run with the session's.
pub trait SessionRead: Send {
    fn resolve<'a>(
        self: Box<Self>,
        sessions: &'a SessionStore,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = identity::Result<SessionWithData>> + Send + 'a>>;
}

/// A page's hook: the read it wants done with the session for this request, if any.
pub type PageHook = fn(&http::Method, &http::Uri) -> Option<Box<dyn SessionRead>>;

/// The pages that read with the session, each asked in turn; the first that wants the request
/// has it.
const PAGE_HOOKS: &[PageHook] = &[crate::users::preload::session_read];

/// What to read with the session for a request, if its page asks for anything.
pub fn session_read_for(method: &http::Method, uri: &http::Uri) -> Option<Box<dyn SessionRead>> {
    PAGE_HOOKS.iter().find_map(|hook| hook(method, uri))
}

/// A page's data, read with the session, waiting in the request's context for the page.
#[derive(Clone)]
pub struct Preloaded(Arc<dyn Any + Send + Sync>);

impl Preloaded {
    pub fn new<T: Any + Send + Sync>(data: T) -> Preloaded {
        Preloaded(Arc::new(data))
    }
}

impl std::fmt::Debug for Preloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Preloaded(..)")
    }
}

impl RequestContext {
    /// The data the request's page had read with the session, if it is of type `T`.
    pub fn preloaded<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.preloaded.as_ref()?.0).downcast().ok()
    }
}
