//! A client's first Initial before the server decides on it (quinn's
//! `Incoming`): the endpoint has authenticated it (RFC 9001 §5.2) and
//! checked its token (RFC 9000 §8.1), but created no connection and done
//! no TLS work. The application accepts, refuses, retries or ignores it
//! through [`Endpoint`](super::Endpoint). Meanwhile the client's further
//! datagrams to the same connection ID are held, within limits, and
//! handed to the connection if it is accepted.

use super::cid::ConnectionId;
use super::connection::{ConnectionError, ServerValidation};
use super::ecn::EcnCodepoint;
use super::KeyedMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long the endpoint holds an undecided connection attempt before it
/// forgets it (its datagrams and its place under `max_incoming`). The
/// actor layer always decides; this bounds what a driver of the sans-IO
/// core that drops an `Incoming` can leak.
pub(crate) const INCOMING_EXPIRY: Duration = Duration::from_secs(10);

/// A client's authentic first Initial, awaiting the server's decision:
/// pass it to exactly one of [`Endpoint::accept`](super::Endpoint::accept),
/// [`refuse`](super::Endpoint::refuse), [`retry`](super::Endpoint::retry)
/// or [`ignore`](super::Endpoint::ignore).
#[derive(Debug)]
pub struct Incoming {
    pub(crate) received: Instant,
    pub(crate) remote: SocketAddr,
    pub(crate) local_ip: Option<IpAddr>,
    pub(crate) ecn: Option<EcnCodepoint>,
    /// The datagram that carried the Initial.
    pub(crate) datagram: Vec<u8>,
    /// The DCID the client chose (or our Retry's SCID).
    pub(crate) dcid: ConnectionId,
    pub(crate) client_scid: ConnectionId,
    /// The version of the client's Initial.
    pub(crate) version: u32,
    pub(crate) validation: ServerValidation,
    /// The worker of the server endpoint that holds the attempt.
    pub(crate) worker: u8,
}

impl Incoming {
    /// The worker of the server endpoint that holds the attempt.
    pub(crate) fn worker(&self) -> usize {
        usize::from(self.worker)
    }

    /// The client's UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.remote
    }

    /// The local IP address the client reached, where the platform
    /// reports it.
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.local_ip
    }

    /// Whether the client proved it receives at its address: its Initial
    /// carried a valid Retry or NEW_TOKEN token (RFC 9000 §8.1). An
    /// unvalidated client gets at most three times the bytes it sent
    /// until it does.
    pub fn remote_address_validated(&self) -> bool {
        self.validation.address_validated
    }

    /// The destination connection ID of the client's very first Initial
    /// (before any Retry), as quinn's: what the client's connection is
    /// known by in its transport parameters (RFC 9000 §7.3).
    pub fn orig_dst_cid(&self) -> ConnectionId {
        self.validation.retry_orig_dcid.unwrap_or(self.dcid)
    }

    /// Whether a Retry may answer it: not when it already answers one
    /// (RFC 9000 §17.2.5.2: a client takes a single Retry).
    pub fn may_retry(&self) -> bool {
        self.validation.retry_orig_dcid.is_none()
    }

    /// True once the endpoint has forgotten it (its place under
    /// `max_incoming` and its held datagrams): undecided for longer than
    /// [`INCOMING_EXPIRY`].
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.received) >= INCOMING_EXPIRY
    }
}

/// Why [`Endpoint::accept`](super::Endpoint::accept) made no connection,
/// and what to send the client, if anything.
#[derive(Debug)]
pub struct AcceptError {
    /// Why.
    pub cause: ConnectionError,
    /// The datagram closing the client's attempt, for its address.
    pub response: Option<Vec<u8>>,
}

/// [`Endpoint::retry`](super::Endpoint::retry) was asked for a client
/// that already answers a Retry; the [`Incoming`] comes back to be
/// accepted, refused or ignored instead.
#[derive(Debug, thiserror::Error)]
#[error("retry() with an Incoming that answers a Retry already")]
pub struct RetryError(Box<Incoming>);

impl RetryError {
    pub(crate) fn new(incoming: Incoming) -> Self {
        Self(Box::new(incoming))
    }

    /// The `Incoming`, to decide on otherwise.
    pub fn into_incoming(self) -> Incoming {
        *self.0
    }
}

/// A datagram held for an undecided connection attempt.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) remote: SocketAddr,
    pub(crate) local_ip: Option<IpAddr>,
    pub(crate) ecn: Option<EcnCodepoint>,
    pub(crate) data: Vec<u8>,
}

#[derive(Debug)]
struct Pending {
    received: Instant,
    remote: SocketAddr,
    /// The client proved its address (a Retry or NEW_TOKEN token).
    validated: bool,
    held: Vec<Held>,
    bytes: usize,
}

/// The undecided connection attempts of an endpoint, by the DCID their
/// client chose, with the datagrams held for each: at most `per_incoming`
/// bytes each and `total` bytes in all.
#[derive(Debug, Default)]
pub(crate) struct PendingIncoming {
    by_dcid: KeyedMap<ConnectionId, Pending>,
    bytes: usize,
    /// Attempts whose client has not proved its address.
    unvalidated: usize,
}

impl PendingIncoming {
    /// No attempts yet; the map of DCIDs (which clients choose) hashes
    /// with `hasher`, keyed from the endpoint's seed.
    pub(crate) fn new(hasher: foldhash::fast::FixedState) -> Self {
        Self {
            by_dcid: KeyedMap::with_hasher(hasher),
            bytes: 0,
            unvalidated: 0,
        }
    }

    /// Attempts awaiting a decision.
    pub(crate) fn len(&self) -> usize {
        self.by_dcid.len()
    }

    /// Attempts awaiting a decision whose client address is not
    /// validated.
    pub(crate) fn unvalidated(&self) -> usize {
        self.unvalidated
    }

    /// True when `dcid` names an undecided attempt.
    pub(crate) fn contains(&self, dcid: &ConnectionId) -> bool {
        self.by_dcid.contains_key(dcid)
    }

    /// Records an attempt surfaced as an `Incoming`.
    pub(crate) fn insert(&mut self, incoming: &Incoming) {
        let validated = incoming.validation.address_validated;
        let old = self.by_dcid.insert(
            incoming.dcid,
            Pending {
                received: incoming.received,
                remote: incoming.remote,
                validated,
                held: Vec::new(),
                bytes: 0,
            },
        );
        self.unvalidated += usize::from(!validated);
        if let Some(old) = old {
            self.forgot(&old);
        }
    }

    /// Holds a further datagram of the attempt for `dcid`, if it comes
    /// from the same address and fits the limits; dropped otherwise (the
    /// client sends it again).
    pub(crate) fn hold(
        &mut self,
        dcid: &ConnectionId,
        held: Held,
        per_incoming: usize,
        total: usize,
    ) {
        let Some(p) = self.by_dcid.get_mut(dcid) else {
            return;
        };
        let len = held.data.len();
        if p.remote != held.remote || p.bytes + len > per_incoming || self.bytes + len > total {
            return;
        }
        p.bytes += len;
        self.bytes += len;
        p.held.push(held);
    }

    /// Ends the attempt for `dcid`: its held datagrams, oldest first.
    pub(crate) fn take(&mut self, dcid: &ConnectionId) -> Vec<Held> {
        let Some(p) = self.by_dcid.remove(dcid) else {
            return Vec::new();
        };
        self.forgot(&p);
        p.held
    }

    /// An attempt left: its bytes and its count go.
    fn forgot(&mut self, p: &Pending) {
        self.bytes -= p.bytes;
        self.unvalidated -= usize::from(!p.validated);
    }

    /// Forgets attempts undecided for longer than [`INCOMING_EXPIRY`].
    pub(crate) fn expire(&mut self, now: Instant) {
        let (mut freed, mut unvalidated) = (0, 0);
        self.by_dcid.retain(|_, p| {
            let keep = now.saturating_duration_since(p.received) < INCOMING_EXPIRY;
            if !keep {
                freed += p.bytes;
                unvalidated += usize::from(!p.validated);
            }
            keep
        });
        self.bytes -= freed;
        self.unvalidated -= unvalidated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(now: Instant, dcid: u8, remote: &str) -> Incoming {
        Incoming {
            received: now,
            remote: remote.parse().unwrap(),
            local_ip: None,
            ecn: None,
            datagram: vec![0; 1200],
            dcid: ConnectionId::new(&[dcid; 8]).unwrap(),
            client_scid: ConnectionId::new(&[9; 8]).unwrap(),
            version: super::super::packet::VERSION_1,
            validation: ServerValidation::default(),
            worker: 0,
        }
    }

    fn held(remote: &str, len: usize) -> Held {
        Held {
            remote: remote.parse().unwrap(),
            local_ip: None,
            ecn: None,
            data: vec![1; len],
        }
    }

    #[test]
    fn datagrams_are_held_within_the_limits_and_from_the_same_address() {
        let now = Instant::now();
        let mut p = PendingIncoming::default();
        let a = incoming(now, 1, "10.0.0.1:1000");
        let b = incoming(now, 2, "10.0.0.2:1000");
        p.insert(&a);
        p.insert(&b);
        assert_eq!(p.len(), 2);
        p.hold(&a.dcid, held("10.0.0.1:1000", 1000), 1500, 2500);
        // Past the attempt's own limit.
        p.hold(&a.dcid, held("10.0.0.1:1000", 1000), 1500, 2500);
        // From another address: not the client's.
        p.hold(&a.dcid, held("10.0.0.9:1000", 100), 1500, 2500);
        p.hold(&b.dcid, held("10.0.0.2:1000", 1400), 1500, 2500);
        // Within b's own limit, past the endpoint's total.
        p.hold(&b.dcid, held("10.0.0.2:1000", 100), 1500, 2450);
        let got = p.take(&a.dcid);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data.len(), 1000);
        assert_eq!(p.take(&b.dcid).len(), 1);
        assert_eq!(p.len(), 0);
        assert_eq!(p.bytes, 0);
    }

    #[test]
    fn undecided_attempts_expire() {
        let now = Instant::now();
        let mut p = PendingIncoming::default();
        let a = incoming(now, 1, "10.0.0.1:1000");
        p.insert(&a);
        p.hold(&a.dcid, held("10.0.0.1:1000", 500), 1500, 2500);
        p.expire(now + INCOMING_EXPIRY - Duration::from_millis(1));
        assert!(p.contains(&a.dcid));
        p.expire(now + INCOMING_EXPIRY);
        assert!(!p.contains(&a.dcid));
        assert_eq!(p.bytes, 0);
    }

    #[test]
    fn an_incoming_expires_with_its_pending_entry() {
        let now = Instant::now();
        let a = incoming(now, 1, "10.0.0.1:1000");
        let mut p = PendingIncoming::default();
        p.insert(&a);
        let later = now + INCOMING_EXPIRY;
        assert!(!a.expired(later - Duration::from_millis(1)));
        assert!(a.expired(later));
        p.expire(later);
        assert!(
            !p.contains(&a.dcid),
            "the endpoint forgets it at the same time"
        );
    }

    #[test]
    fn a_retry_answer_may_not_be_retried() {
        let now = Instant::now();
        let mut a = incoming(now, 1, "10.0.0.1:1000");
        assert!(a.may_retry() && !a.remote_address_validated());
        a.validation.retry_orig_dcid = ConnectionId::new(&[3; 8]);
        a.validation.address_validated = true;
        assert!(!a.may_retry() && a.remote_address_validated());
    }
}
