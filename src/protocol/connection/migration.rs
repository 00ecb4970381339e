//! Connection migration and path validation (RFC 9000 §8.2, §9): a
//! server following a client to a new address (NAT rebinding or an
//! active move), validating it with PATH_CHALLENGE / PATH_RESPONSE under
//! the anti-amplification limit, and a client moving to a new local
//! socket.

use super::{Connection, State};
use rand::RngCore;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A path being validated after the peer moved to it.
#[derive(Debug, Clone, Copy)]
pub(super) struct PathValidation {
    /// The PATH_CHALLENGE data we expect echoed.
    pub data: [u8; 8],
    /// When validation fails (RFC 9000 §8.2.4).
    pub deadline: Instant,
    /// When the PATH_CHALLENGE goes again if no PATH_RESPONSE came: a
    /// response can be lost even when the challenge was not (§8.2.1).
    pub rechallenge: Instant,
    /// The address we used before, to return to if validation fails.
    pub previous: SocketAddr,
    /// Whether the previous path was validated.
    pub previous_validated: bool,
}

impl Connection {
    /// Decides what a datagram from `remote` may do before its packets are
    /// opened: true to process it. A client only listens to the server's
    /// address (RFC 9000 §9: servers do not migrate); a server accepts a
    /// new client address only with migration enabled and once the
    /// handshake is confirmed (§9.1).
    pub(super) fn accept_from(&self, remote: SocketAddr) -> bool {
        remote == self.path.remote
            || (!self.side.is_client() && self.allow_migration && self.handshake_confirmed)
    }

    /// Called after a 1-RTT packet from `remote` was processed: a
    /// non-probing packet with the largest packet number so far from a new
    /// address moves the connection there (RFC 9000 §9.3).
    pub(super) fn on_packet_from(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        pn: u64,
        non_probing: bool,
        datagram_len: usize,
    ) {
        if remote == self.path.remote || !non_probing || self.state != State::Established {
            return;
        }
        let largest = self.spaces[super::SpaceId::Data as usize].acks.largest();
        if largest != Some(pn) {
            // RFC 9000 §9.3: reordered older packets do not move us.
            return;
        }
        self.migrate_to(now, remote, datagram_len);
    }

    fn migrate_to(&mut self, now: Instant, remote: SocketAddr, datagram_len: usize) {
        // RFC 9000 §9.4: a new address means a new path: congestion control
        // and RTT estimation start afresh, unless only the port changed
        // (NAT rebinding keeps the same network path). §9.3, §8.1: until
        // validated, at most three times what arrived on the new path.
        let (previous, previous_validated) = self.path.move_to(&self.config, remote, datagram_len);
        // RFC 9000 §13.4.2: ECN is validated again on the new path.
        self.ecn.on_new_path();
        tracing::debug!(side = ?self.side, from = %previous, to = %remote, "peer migrated");
        self.stats.migrations += 1;
        if previous.ip() != remote.ip() {
            self.recovery.on_new_path();
        }
        // RFC 9000 §9.5: a fresh CID on the new path, when the peer gave
        // us one, so the paths cannot be linked.
        self.rotate_cid();
        self.announce_reset_token();
        let mut data = [0u8; 8];
        self.rng.with(|rng| rng.fill_bytes(&mut data));
        self.pending.path_challenge = Some(data);
        self.path.validation = Some(Box::new(PathValidation {
            data,
            deadline: now + self.path_validation_timeout(),
            rechallenge: now + self.rechallenge_interval(),
            previous,
            previous_validated,
        }));
    }

    /// How long to wait for a PATH_RESPONSE before challenging again: a
    /// PTO on the new path, as an Initial would be resent (§8.2.1).
    fn rechallenge_interval(&self) -> Duration {
        self.path.rtt.pto_base() + self.peer_max_ack_delay()
    }

    /// RFC 9000 §8.2.4: three PTOs, and no less than six initial RTTs.
    fn path_validation_timeout(&self) -> Duration {
        let pto = self.path.rtt.pto_base() + self.peer_max_ack_delay();
        (pto * 3).max(self.config.initial_rtt * 6)
    }

    /// A PATH_RESPONSE arrived (RFC 9000 §8.2.3).
    pub(super) fn on_path_response(&mut self, data: [u8; 8]) {
        let Some(v) = self.path.validation.as_deref() else {
            return;
        };
        if v.data != data {
            return;
        }
        tracing::debug!(side = ?self.side, remote = %self.path.remote, "path validated");
        self.path.validation = None;
        self.pending.path_challenge = None;
        self.path.validated = true;
    }

    /// The PATH_CHALLENGE we sent may have been lost: send it again while
    /// the validation it belongs to is under way.
    pub(super) fn on_path_challenge_lost(&mut self, data: [u8; 8]) {
        if self
            .path
            .validation
            .as_ref()
            .is_some_and(|v| v.data == data)
        {
            self.pending.path_challenge = Some(data);
        }
    }

    /// When path validation next needs attention (a challenge to send
    /// again, or giving up), if one is under way.
    pub(super) fn path_validation_deadline(&self) -> Option<Instant> {
        self.path
            .validation
            .as_ref()
            .map(|v| v.deadline.min(v.rechallenge))
    }

    /// Sends the PATH_CHALLENGE again when no response came within a PTO;
    /// RFC 9000 §9.3.2: a new path that could not be validated by the
    /// deadline is abandoned for the previous one.
    pub(super) fn on_path_validation_timeout(&mut self, now: Instant) {
        let Some(v) = self.path.validation.as_deref().copied() else {
            return;
        };
        if v.deadline > now {
            if v.rechallenge <= now {
                self.pending.path_challenge = Some(v.data);
                let next = now + self.rechallenge_interval();
                if let Some(v) = self.path.validation.as_mut() {
                    v.rechallenge = next;
                }
            }
            return;
        }
        tracing::debug!(side = ?self.side, to = %v.previous, "path validation failed; back to the previous path");
        self.path.validation = None;
        self.pending.path_challenge = None;
        self.path.remote = v.previous;
        self.path.validated = v.previous_validated;
        self.announce_reset_token();
    }

    /// Client: our local address changed (a new socket, as after
    /// `Endpoint::rebind`). Moves to a fresh CID, which RFC 9000 §9.5
    /// asks for on a new local address, and sends a PING so the server
    /// sees the new address at once (§9.2). False before the handshake
    /// is confirmed, when a client may not migrate (§9). A server that
    /// disabled migration drops what comes from the new address.
    pub fn local_address_changed(&mut self) -> bool {
        if !self.side.is_client() || !self.handshake_confirmed || self.is_closed() {
            return false;
        }
        self.rotate_cid();
        self.pending.ping = true;
        true
    }
}
