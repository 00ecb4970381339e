//! What one stream's handle shares with the connection actor: the
//! stream's ID and a state under a lock (an outbox, an inbox).

use crate::protocol::StreamId;
use std::sync::{Arc, Mutex, MutexGuard};

/// A stream's shared state `S`; see the module documentation.
#[derive(Debug)]
pub(crate) struct StreamBox<S> {
    id: StreamId,
    state: Mutex<S>,
}

impl<S: Default> StreamBox<S> {
    /// An empty state for stream `id`.
    pub(crate) fn new(id: StreamId) -> Arc<Self> {
        Arc::new(Self {
            id,
            state: Mutex::new(S::default()),
        })
    }
}

impl<S> StreamBox<S> {
    /// The stream.
    pub(crate) fn id(&self) -> StreamId {
        self.id
    }

    /// The state, locked (a panic while it was held leaves it usable:
    /// every update keeps it consistent).
    pub(super) fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
