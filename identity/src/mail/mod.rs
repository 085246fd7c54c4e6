//! Mail: what Rollcall sends (`templates`, rendered at send time from current data) and the
//! outbox it waits in until a worker delivers it (`outbox`). Speaking SMTP is the server's.

pub mod outbox;
pub(crate) mod templates;

pub use templates::{html_escape, invite, invite_subject, InviteMail, Mail};
