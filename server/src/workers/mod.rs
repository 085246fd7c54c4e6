//! Background work every app server runs beside its HTTP surface: draining the engine's queues
//! (the mail outbox, `outbox`; directory reads, `directory`) and periodic housekeeping (`housekeeping`). Any number of
//! servers run these at once: queues are leased row by row (`identity::jobs`), and housekeeping
//! is idempotent.

mod directory;
mod housekeeping;
mod outbox;
mod queue;

use crate::smtp::Mailer;
use app::ssr::SharedState;
use tokio::task::JoinHandle;

/// The running workers; they stop when this is dropped or `stop`ped.
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts housekeeping, directory reads when a provider is configured, and outbox delivery
    /// when an SMTP server is configured (without one, mail waits in the outbox for an admin).
    pub fn start(state: SharedState, mailer: Option<Mailer>) -> Workers {
        let mut tasks = vec![tokio::spawn(housekeeping::run(state.clone()))];
        // Directories are read only through a configured provider: without one there is nothing
        // to read, and no connection is held listening for it.
        if !state.providers.configured().is_empty() {
            tasks.push(tokio::spawn(directory::run(state.clone())));
        }
        if let Some(mailer) = mailer {
            tasks.push(tokio::spawn(outbox::run(state, mailer)));
        }
        Workers { tasks }
    }

    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
