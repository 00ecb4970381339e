//! What the workers of one server endpoint share (see
//! [`EndpointConfig::workers`](crate::protocol::EndpointConfig::workers)):
//! each worker is a protocol [`Endpoint`](crate::protocol::Endpoint) of
//! its own, with its own socket; the connection IDs it issues name it, so
//! a datagram that reaches another worker is passed on; and the limits
//! of the server configuration count every worker's connections.

use super::cid_generator::ConnectionIdGenerator;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The most workers one endpoint runs: a worker's index is one byte of
/// its connection IDs.
pub(crate) const MAX_WORKERS: usize = 256;

/// One worker's place among the others.
#[derive(Clone, Debug)]
pub(crate) struct WorkerRole {
    /// This worker's index.
    pub(crate) index: u8,
    /// Reads which worker issued a connection ID.
    pub(crate) demux: Arc<dyn ConnectionIdGenerator>,
    /// Every worker's counts.
    pub(crate) counts: Arc<SharedCounts>,
}

impl WorkerRole {
    /// The worker other than this one that issued `cid`, if any. A
    /// client's random first DCID can read as an ID of ours by chance
    /// (1 in 2,048 with the default IDs), naming any worker or none that
    /// exists: those are ours to handle, not to pass on.
    pub(crate) fn owner_elsewhere(&self, cid: &[u8]) -> Option<u8> {
        self.demux
            .worker_of(cid)
            .filter(|&w| w != self.index && usize::from(w) < self.counts.workers())
    }
}

/// Connections and connection attempts of each worker, published by
/// each as they change, so that `max_connections` and `max_incoming`
/// hold for the endpoint as a whole. Two workers admitting at the same
/// moment can each take the last place: the limits hold to within the
/// number of workers.
#[derive(Debug)]
pub(crate) struct SharedCounts {
    connections: Vec<AtomicUsize>,
    attempts: Vec<AtomicUsize>,
}

impl SharedCounts {
    /// Counts for `workers` workers, all zero.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            connections: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            attempts: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// How many workers there are.
    pub(crate) fn workers(&self) -> usize {
        self.connections.len()
    }

    /// Worker `index` now holds `connections` connections and
    /// `attempts` attempts in progress.
    pub(crate) fn publish(&self, index: u8, connections: usize, attempts: usize) {
        let i = usize::from(index);
        self.connections[i].store(connections, Ordering::Relaxed);
        self.attempts[i].store(attempts, Ordering::Relaxed);
    }

    /// The connections of every worker but `index`.
    pub(crate) fn connections_elsewhere(&self, index: u8) -> usize {
        Self::sum_except(&self.connections, index)
    }

    /// The attempts in progress of every worker but `index`.
    pub(crate) fn attempts_elsewhere(&self, index: u8) -> usize {
        Self::sum_except(&self.attempts, index)
    }

    fn sum_except(counts: &[AtomicUsize], index: u8) -> usize {
        counts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != usize::from(index))
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::QuicLbCids;
    use rand::SeedableRng;

    /// Only IDs naming another worker that exists are passed on.
    #[test]
    fn ids_are_passed_on_only_to_a_worker_that_exists() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let demux: Arc<dyn ConnectionIdGenerator> = Arc::new(QuicLbCids::for_workers_only([4; 16]));
        let role = WorkerRole {
            index: 0,
            demux: demux.clone(),
            counts: Arc::new(SharedCounts::new(2)),
        };
        let id_of =
            |w: u8, rng: &mut rand::rngs::StdRng| demux.for_worker(w).unwrap().generate(rng);
        assert_eq!(role.owner_elsewhere(&id_of(1, &mut rng)), Some(1));
        assert_eq!(role.owner_elsewhere(&id_of(0, &mut rng)), None, "our own");
        assert_eq!(
            role.owner_elsewhere(&id_of(5, &mut rng)),
            None,
            "no worker 5"
        );
        assert_eq!(role.owner_elsewhere(&[0x55; 8]), None, "not one of ours");
    }

    #[test]
    fn each_worker_sees_the_others_counts() {
        let c = SharedCounts::new(3);
        c.publish(0, 5, 1);
        c.publish(2, 7, 2);
        assert_eq!(c.connections_elsewhere(0), 7);
        assert_eq!(c.connections_elsewhere(1), 12);
        assert_eq!(c.attempts_elsewhere(2), 1);
        c.publish(2, 0, 0);
        assert_eq!(c.connections_elsewhere(1), 5);
    }
}
