//! The connection's TLS session (RFC 9001 §4): the core feeds it CRYPTO
//! data and takes keys from it; the application's handles share it to
//! export keying material (RFC 8446 §7.5) without asking the core.
//!
//! Once the handshake is confirmed and nothing more is expected from TLS
//! (a server's tickets are written; a client has read one), the session
//! is retired: rustls's state (about 4.5 KiB per side) is dropped and
//! only its exporter secret is kept, taken from the key log (see
//! [`exporter`](crate::protocol::exporter)) and checked against the
//! session first. Later CRYPTO data at 1-RTT is still read to message
//! boundaries: a client skips further NewSessionTickets, and anything
//! else is the unexpected message rustls would have refused (RFC 9001
//! §6: a KeyUpdate; a server expects nothing).

use super::spaces::SpaceId;
use crate::protocol::exporter::{self, Exporter};
use crate::protocol::Side;
use rustls::pki_types::CertificateDer;
use rustls::AlertDescription;
use std::sync::{Arc, Mutex, MutexGuard};

/// A rustls QUIC session that the core and the handles of its
/// connection share. The core holds the lock only for one TLS call at a
/// time, so an export never waits long.
#[derive(Clone)]
pub(crate) struct TlsSession(Arc<Mutex<TlsState>>);

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSession")
    }
}

struct TlsState {
    stage: Stage,
    side: Side,
    /// The start of the ClientHello, for its random.
    hello: HelloStart,
    /// Where 1-RTT CRYPTO data stands among TLS messages.
    after: PostHandshake,
    /// The exporter secret was taken (or looked for) from the key log's
    /// table.
    took: bool,
}

enum Stage {
    /// rustls's session.
    Live(Box<rustls::quic::Connection>),
    /// What is left of it after the handshake.
    Retired {
        exporter: Exporter,
        peer_certificates: Option<Vec<CertificateDer<'static>>>,
        /// Why the peer's CRYPTO data was refused, once it was.
        alert: Option<AlertDescription>,
    },
}

impl Drop for TlsState {
    fn drop(&mut self) {
        // An exporter secret this session never took would wait in the
        // key log's table for nothing.
        if let (false, Some(random)) = (self.took, self.hello.random()) {
            exporter::forget(&random);
        }
    }
}

/// A label no application uses, exported by the session and by the
/// exporter made from the logged secret: they must agree before the
/// session goes.
const PROBE: &[u8] = b"actix-quic retiring the TLS session";

impl TlsSession {
    /// Shares `tls`, a `side` session.
    pub(super) fn new(tls: rustls::quic::Connection, side: Side) -> Self {
        Self(Arc::new(Mutex::new(TlsState {
            stage: Stage::Live(Box::new(tls)),
            side,
            hello: HelloStart::default(),
            after: PostHandshake::default(),
            took: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, TlsState> {
        // A panic inside rustls while the lock was held leaves nothing
        // half-written that a later call could trip on.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `f` on the live session; `None` once it is retired.
    pub(super) fn with_live<R>(
        &self,
        f: impl FnOnce(&mut rustls::quic::Connection) -> R,
    ) -> Option<R> {
        match &mut self.lock().stage {
            Stage::Live(tls) => Some(f(tls)),
            Stage::Retired { .. } => None,
        }
    }

    /// TLS output for the CRYPTO stream, and new keys; nothing once
    /// retired.
    pub(super) fn write_hs(&self, out: &mut Vec<u8>) -> Option<rustls::quic::KeyChange> {
        let mut state = self.lock();
        let state = &mut *state;
        let Stage::Live(tls) = &mut state.stage else {
            return None;
        };
        let change = tls.write_hs(out);
        if state.side.is_client() {
            state.hello.push(out);
        }
        change
    }

    /// Feeds CRYPTO data received at `space` to TLS.
    pub(super) fn read_hs(&self, space: SpaceId, data: &[u8]) -> Result<(), rustls::Error> {
        let mut state = self.lock();
        let state = &mut *state;
        if !state.side.is_client() {
            state.hello.push(data);
        }
        let client = state.side.is_client();
        match &mut state.stage {
            Stage::Live(tls) => {
                if space == SpaceId::Data {
                    // rustls judges the messages; this only follows them.
                    let _ = state.after.follow(data, |_| true);
                }
                tls.read_hs(data)
            }
            Stage::Retired { alert, .. } => {
                // RFC 9001 §4.1.3: after the handshake, a server sends
                // only tickets, and a client nothing.
                if space != SpaceId::Data
                    || state
                        .after
                        .follow(data, |ty| client && ty == NEW_SESSION_TICKET)
                        .is_err()
                {
                    *alert = Some(AlertDescription::UnexpectedMessage);
                    return Err(rustls::Error::General(
                        "unexpected TLS message after the handshake".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The alert TLS would send for its last failure.
    pub(super) fn alert(&self) -> Option<AlertDescription> {
        match &self.lock().stage {
            Stage::Live(tls) => tls.alert(),
            Stage::Retired { alert, .. } => *alert,
        }
    }

    /// True until the handshake completes.
    pub(super) fn is_handshaking(&self) -> bool {
        self.with_live(|tls| tls.is_handshaking()).unwrap_or(false)
    }

    /// Tickets a client's session has read (0 for a server's).
    pub(super) fn tickets_received(&self) -> u32 {
        self.with_live(|tls| match tls {
            rustls::quic::Connection::Client(c) => c.tls13_tickets_received(),
            rustls::quic::Connection::Server(_) => 0,
        })
        .unwrap_or(0)
    }

    /// The peer's certificate chain, once known.
    pub(crate) fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        match &self.lock().stage {
            Stage::Live(tls) => tls
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect()),
            Stage::Retired {
                peer_certificates, ..
            } => peer_certificates.clone(),
        }
    }

    /// Drops rustls's session, keeping its exporter and the peer's
    /// certificates; true if it did. It does not when the handshake is
    /// not over, a TLS message is half read, or the exporter secret was
    /// not logged for this session (a rustls configuration that did not
    /// come through ours, or two handshakes under one client random):
    /// the session then stays, with nothing lost.
    pub(super) fn retire(&self) -> bool {
        let mut state = self.lock();
        let state = &mut *state;
        let Stage::Live(tls) = &state.stage else {
            return false;
        };
        if tls.is_handshaking() || !state.after.at_boundary() {
            return false;
        }
        let (Some(random), Some(rustls::SupportedCipherSuite::Tls13(suite))) =
            (state.hello.random(), tls.negotiated_cipher_suite())
        else {
            return false;
        };
        state.took = true;
        let Some(secret) = exporter::take(&random) else {
            return false;
        };
        let exporter = Exporter::new(suite, secret);
        let (mut ours, mut theirs) = ([0u8; 32], [1u8; 32]);
        let same = exporter.export(&mut ours, PROBE, b"").is_ok()
            && tls
                .export_keying_material(&mut theirs, PROBE, Some(b""))
                .is_ok()
            && ours == theirs;
        if !same {
            return false;
        }
        let peer_certificates = tls
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect());
        state.stage = Stage::Retired {
            exporter,
            peer_certificates,
            alert: None,
        };
        true
    }

    /// True once [`retire`](Self::retire) dropped the session.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(super) fn is_retired(&self) -> bool {
        matches!(self.lock().stage, Stage::Retired { .. })
    }

    /// RFC 8446 §7.5 exporter: `out.len()` bytes that both peers derive
    /// alike from `label` and `context`; fails before the handshake
    /// completes.
    pub(crate) fn export_keying_material(
        &self,
        out: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), rustls::Error> {
        match &self.lock().stage {
            Stage::Live(tls) => tls
                .export_keying_material(out, label, Some(context))
                .map(|_| ()),
            Stage::Retired { exporter, .. } => exporter.export(out, label, context),
        }
    }
}

/// The TLS handshake message type of a NewSessionTicket (RFC 8446 §4).
const NEW_SESSION_TICKET: u8 = 4;

/// The first bytes of the ClientHello: type (1), length (3), legacy
/// version (2), then the 32-byte random (RFC 8446 §4.1.2), which a
/// HelloRetryRequest does not change.
struct HelloStart {
    bytes: [u8; 38],
    len: usize,
}

impl Default for HelloStart {
    fn default() -> Self {
        Self {
            bytes: [0; 38],
            len: 0,
        }
    }
}

impl HelloStart {
    /// More of the ClientHello's stream, from where the last ended.
    fn push(&mut self, data: &[u8]) {
        let n = data.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
    }

    /// The client random, once all of it is here.
    fn random(&self) -> Option<[u8; 32]> {
        const CLIENT_HELLO: u8 = 1;
        (self.len == self.bytes.len() && self.bytes[0] == CLIENT_HELLO)
            .then(|| self.bytes[6..].try_into().expect("32 bytes"))
    }
}

/// Follows TLS messages (type, 24-bit length, body) through 1-RTT CRYPTO
/// data to know where each ends.
#[derive(Default)]
struct PostHandshake {
    header: [u8; 4],
    /// Header bytes seen of the current message.
    have: usize,
    /// Body bytes still to come of the current message.
    remaining: usize,
}

impl PostHandshake {
    /// Takes `data`; fails at a message whose type `allowed` refuses.
    fn follow(&mut self, mut data: &[u8], allowed: impl Fn(u8) -> bool) -> Result<(), ()> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = data.len().min(self.remaining);
                self.remaining -= n;
                data = &data[n..];
                continue;
            }
            let n = data.len().min(4 - self.have);
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == 4 {
                if !allowed(self.header[0]) {
                    return Err(());
                }
                self.have = 0;
                self.remaining = usize::from(self.header[1]) << 16
                    | usize::from(self.header[2]) << 8
                    | usize::from(self.header[3]);
            }
        }
        Ok(())
    }

    /// True between messages.
    fn at_boundary(&self) -> bool {
        self.have == 0 && self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_fails_while_handshaking() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        );
        let tls = rustls::quic::ClientConnection::new(
            config,
            rustls::quic::Version::V1,
            "localhost".try_into().unwrap(),
            Vec::new(),
        )
        .unwrap();
        let session = TlsSession::new(tls.into(), Side::Client);
        let mut out = [0u8; 16];
        assert!(session
            .clone()
            .export_keying_material(&mut out, b"label", b"")
            .is_err());
        // Nor can it retire.
        assert!(!session.retire());
    }

    #[test]
    fn messages_are_followed_across_chunks() {
        let mut p = PostHandshake::default();
        // A ticket of 5 bytes, then a KeyUpdate header split in two.
        let data = [4, 0, 0, 5, 1, 2, 3, 4, 5, 24, 0];
        p.follow(&data[..2], |ty| ty == 4).unwrap();
        assert!(!p.at_boundary());
        p.follow(&data[2..7], |ty| ty == 4).unwrap();
        assert!(!p.at_boundary());
        p.follow(&data[7..9], |ty| ty == 4).unwrap();
        assert!(p.at_boundary());
        p.follow(&data[9..], |ty| ty == 4).unwrap();
        assert!(!p.at_boundary());
        assert!(p.follow(&[0, 1], |ty| ty == 4).is_err());
    }

    #[test]
    fn the_random_needs_the_whole_start_of_a_client_hello() {
        let mut h = HelloStart::default();
        let mut hello = vec![1, 0, 1, 0, 3, 3];
        hello.extend(0..32u8);
        hello.extend([9; 10]);
        h.push(&hello[..20]);
        assert_eq!(h.random(), None);
        h.push(&hello[20..]);
        let random: Vec<u8> = (0..32).collect();
        assert_eq!(h.random().unwrap().to_vec(), random);
        let mut other = HelloStart::default();
        other.push(&[2; 40]);
        assert_eq!(other.random(), None, "not a ClientHello");
    }
}
