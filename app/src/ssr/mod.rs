//! Server-only glue for pages and server functions, compiled only with the `ssr` feature:
//! the shared state and each request's context (`state`), who is calling and the one mapping of
//! engine errors to UI errors (`guards`), cookies and the one-shot flash (`cookies`), the
//! hook through which a page has its data read with the session (`preload`), and the pages'
//! Content-Security-Policy (`content_security`).

pub mod content_security;
mod cookies;
mod guards;
pub mod preload;
mod state;

pub use cookies::{cookie, cookie_value, decode_flash, encode_flash, FLASH_COOKIE, PENDING_COOKIE, SESSION_COOKIE};
pub use guards::{admin, map_identity_error, me_of, request, signed_in, state, Caller};
pub use preload::{session_read_for, SessionRead};
pub use state::{RequestContext, ServerState, SharedState};
