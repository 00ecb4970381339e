//! The guard of an event subscription.

use crate::actors::{ConnectionActor, HandleToken};
use crate::messages::Unsubscribe;
use actix::Addr;
use std::sync::Arc;

/// Keeps a subscription to a connection's events (see
/// [`messages::Subscribe`](crate::messages::Subscribe)) and the connection
/// itself alive. Dropping it unsubscribes; if no other handle is left,
/// the connection then closes with code 0, as when the last `Connection`
/// goes.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    addr: Addr<ConnectionActor>,
    _token: Arc<HandleToken>,
}

impl Subscription {
    pub(crate) fn new(id: u64, addr: Addr<ConnectionActor>, token: Arc<HandleToken>) -> Self {
        Self {
            id,
            addr,
            _token: token,
        }
    }

    /// This subscription's number on its connection.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.addr.do_send(Unsubscribe(self.id));
    }
}
