//! 0-RTT (RFC 9001 §4.6, RFC 9000 §7.4.1): a resuming client sends
//! application data in its first flight under keys from the TLS session
//! ticket, with the server's transport parameters remembered from the
//! earlier connection; a server whose TLS configuration allows early data
//! (rustls `max_early_data_size` of `u32::MAX`, stateful tickets) reads
//! it. When the server rejects it, everything sent in 0-RTT is sent again
//! in 1-RTT packets, transparently.
//!
//! Replay: 0-RTT data can be replayed by an attacker (RFC 8446 §8,
//! RFC 9001 §9.2). rustls's stateful tickets are single use within one
//! server process, which stops replays there, but not across servers
//! sharing no ticket state; requests in 0-RTT should be idempotent.

use super::spaces::SpaceId;
use super::Connection;
use crate::protocol::transport_params::TransportParameters;
use rustls::quic::DirectionalKeys;

/// Where a connection stands with 0-RTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroRttState {
    /// No 0-RTT: no ticket allowing it (client) or not requested or
    /// refused (server).
    None,
    /// Client: sending 0-RTT, the server's answer not known yet.
    Offered,
    /// The server accepted the early data.
    Accepted,
    /// The server rejected it; what was sent went again in 1-RTT.
    Rejected,
}

/// 0-RTT keys: for sealing on a client, for opening on a server.
pub(super) type ZeroRttKeys = DirectionalKeys;

impl Connection {
    /// Client, right after the ClientHello: with a ticket that allows
    /// early data, take the 0-RTT keys and the server's remembered
    /// transport parameters (RFC 9000 §7.4.1), so streams and datagrams
    /// can be used at once.
    pub(super) fn init_client_0rtt(&mut self) {
        let Some((keys, raw)) = self
            .tls
            .with_live(|tls| {
                Some((
                    tls.zero_rtt_keys()?,
                    tls.quic_transport_parameters()?.to_vec(),
                ))
            })
            .flatten()
        else {
            return;
        };
        let Ok(mut p) = TransportParameters::decode(&raw, self.side.peer()) else {
            return;
        };
        // RFC 9000 §7.4.1: only the limits are remembered; CIDs, tokens
        // and addresses belong to the earlier connection.
        p.original_destination_connection_id = None;
        p.initial_source_connection_id = None;
        p.retry_source_connection_id = None;
        p.stateless_reset_token = None;
        p.preferred_address = None;
        let Some(h) = self.handshaking.as_deref_mut() else {
            return;
        };
        h.zero_rtt_keys = Some(keys);
        self.apply_stream_limits(&p);
        self.peer_params = Some(super::PeerParams::from(&p));
        self.zero_rtt = ZeroRttState::Offered;
        tracing::debug!("sending 0-RTT");
    }

    /// Server, after the ClientHello: rustls hands out 0-RTT keys only
    /// when it accepted early data (RFC 8446 §4.2.10).
    pub(super) fn init_server_0rtt(&mut self) {
        if self.side.is_client() || self.zero_rtt != ZeroRttState::None || self.handshake_complete {
            return;
        }
        let keys = self.tls.with_live(|tls| tls.zero_rtt_keys()).flatten();
        if let (Some(keys), Some(h)) = (keys, self.handshaking.as_deref_mut()) {
            h.zero_rtt_keys = Some(keys);
            self.zero_rtt = ZeroRttState::Accepted;
            tracing::debug!("accepting 0-RTT");
        }
    }

    /// True while a client sends application data in 0-RTT packets.
    pub(super) fn sending_0rtt(&self) -> bool {
        self.side.is_client() && self.one_rtt.is_none() && self.zero_rtt_keys().is_some()
    }

    /// At the end of the handshake: a client learns whether its early
    /// data was accepted; if not, everything sent in 0-RTT goes again as
    /// 1-RTT (the packets are not counted as congestion losses). Both
    /// sides drop the 0-RTT keys (RFC 9001 §4.9.3).
    pub(super) fn finish_0rtt(&mut self) {
        if let Some(h) = self.handshaking.as_deref_mut() {
            h.zero_rtt_keys = None;
        }
        if self.zero_rtt != ZeroRttState::Offered {
            return;
        }
        let accepted = self.tls.with_live(
            |tls| matches!(tls, rustls::quic::Connection::Client(c) if c.is_early_data_accepted()),
        ) == Some(true);
        if accepted {
            self.zero_rtt = ZeroRttState::Accepted;
            return;
        }
        self.zero_rtt = ZeroRttState::Rejected;
        tracing::debug!("0-RTT rejected; resending as 1-RTT");
        let packets = self.recovery.take_zero_rtt();
        for p in packets {
            if p.in_flight && p.epoch == self.path.epoch {
                self.path.cc.on_removed(u64::from(p.size));
            }
            for f in p.frames {
                self.requeue(SpaceId::Data, f);
            }
        }
    }

    /// Where this connection stands with 0-RTT.
    pub fn zero_rtt_state(&self) -> ZeroRttState {
        self.zero_rtt
    }
}
