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
    /// Where 1-RTT CRYPTO data stands among TLS messages.
    after: Messages,
    /// The exporter secret was taken (or looked for) from the key log's
    /// table.
    took: bool,
}

enum Stage {
    /// rustls's session, and the ClientHellos (the client's Initial
    /// CRYPTO data) followed for the client random of the last.
    Live(Box<rustls::quic::Connection>, Hellos),
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
        if let (Stage::Live(_, hellos), false) = (&self.stage, self.took) {
            if let Some(random) = hellos.random {
                exporter::forget(&random);
            }
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
            stage: Stage::Live(Box::new(tls), Hellos::default()),
            side,
            after: Messages::default(),
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
            Stage::Live(tls, _) => Some(f(tls)),
            Stage::Retired { .. } => None,
        }
    }

    /// TLS output for the CRYPTO stream of `space` (the level before
    /// any key change it returns), and new keys; nothing once retired.
    pub(super) fn write_hs(
        &self,
        space: SpaceId,
        out: &mut Vec<u8>,
    ) -> Option<rustls::quic::KeyChange> {
        let mut state = self.lock();
        let state = &mut *state;
        let Stage::Live(tls, hellos) = &mut state.stage else {
            return None;
        };
        let start = out.len();
        let change = tls.write_hs(out);
        if state.side.is_client() && space == SpaceId::Initial {
            hellos.follow(&out[start..]);
        }
        change
    }

    /// Feeds CRYPTO data received at `space` to TLS.
    pub(super) fn read_hs(&self, space: SpaceId, data: &[u8]) -> Result<(), rustls::Error> {
        let mut state = self.lock();
        let state = &mut *state;
        let client = state.side.is_client();
        match &mut state.stage {
            Stage::Live(tls, hellos) => {
                if !client && space == SpaceId::Initial {
                    hellos.follow(data);
                }
                if space == SpaceId::Data {
                    // rustls judges the messages; this only follows them.
                    let _ = state.after.follow(data, |_| Ok(()));
                }
                tls.read_hs(data)
            }
            Stage::Retired { alert, .. } => {
                // RFC 9001 §4.1.3, §6: after the handshake a server sends
                // only tickets (RFC 8446 §4.6.1), a client nothing.
                let refused = if space == SpaceId::Data {
                    state
                        .after
                        .follow(data, |header| after_handshake(client, header))
                        .err()
                } else {
                    Some(AlertDescription::UnexpectedMessage)
                };
                if let Some(a) = refused {
                    *alert = Some(a);
                    return Err(rustls::Error::General(
                        "a TLS message refused after the handshake".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The alert TLS would send for its last failure.
    pub(super) fn alert(&self) -> Option<AlertDescription> {
        match &self.lock().stage {
            Stage::Live(tls, _) => tls.alert(),
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
            Stage::Live(tls, _) => tls
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
        let Stage::Live(tls, hellos) = &state.stage else {
            return false;
        };
        // One look in the table per session: a miss stays a miss.
        if state.took || tls.is_handshaking() || !state.after.at_boundary() {
            return false;
        }
        let (Some(random), Some(rustls::SupportedCipherSuite::Tls13(suite))) =
            (hellos.random, tls.negotiated_cipher_suite())
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
            Stage::Live(tls, _) => tls
                .export_keying_material(out, label, Some(context))
                .map(|_| ()),
            Stage::Retired { exporter, .. } => exporter.export(out, label, context),
        }
    }
}

/// The TLS handshake message types this module looks for (RFC 8446 §4).
const CLIENT_HELLO: u8 = 1;
const NEW_SESSION_TICKET: u8 = 4;

/// The shortest NewSessionTicket body: lifetime (4), age_add (4), an
/// empty nonce (1), a one-byte ticket (2 + 1) and no extensions (2)
/// (RFC 8446 §4.6.1).
const SHORTEST_TICKET: usize = 14;

/// Whether a retired session takes a message with this header after the
/// handshake: a client skips well-formed tickets; anything else is
/// refused with the alert rustls would send.
fn after_handshake(client: bool, header: Header) -> Result<(), AlertDescription> {
    if !client || header.ty != NEW_SESSION_TICKET {
        return Err(AlertDescription::UnexpectedMessage);
    }
    if header.len < SHORTEST_TICKET {
        return Err(AlertDescription::DecodeError);
    }
    Ok(())
}

/// A TLS handshake message's header: type, and body length (24 bits).
#[derive(Clone, Copy)]
struct Header {
    ty: u8,
    len: usize,
}

/// Follows TLS handshake messages through a CRYPTO stream, in order, to
/// know where each starts and ends.
#[derive(Default)]
struct Messages {
    header: [u8; 4],
    /// Header bytes seen of the current message.
    have: usize,
    /// The current message's header, once whole.
    current: Option<Header>,
    /// Body bytes of the current message seen.
    read: usize,
}

impl Messages {
    /// Takes `data`, showing each header to `check`, which may refuse
    /// the message.
    fn follow(
        &mut self,
        data: &[u8],
        check: impl FnMut(Header) -> Result<(), AlertDescription>,
    ) -> Result<(), AlertDescription> {
        self.follow_bodies(data, check, |_, _, _| {})
    }

    /// As [`follow`](Self::follow), also showing each piece of a body to
    /// `body` with its message's header and its offset in the body.
    fn follow_bodies(
        &mut self,
        mut data: &[u8],
        mut check: impl FnMut(Header) -> Result<(), AlertDescription>,
        mut body: impl FnMut(Header, usize, &[u8]),
    ) -> Result<(), AlertDescription> {
        while !data.is_empty() {
            if let Some(h) = self.current {
                let n = data.len().min(h.len - self.read);
                body(h, self.read, &data[..n]);
                self.read += n;
                data = &data[n..];
                if self.read == h.len {
                    self.current = None;
                }
                continue;
            }
            let n = data.len().min(4 - self.have);
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == 4 {
                let h = Header {
                    ty: self.header[0],
                    len: usize::from(self.header[1]) << 16
                        | usize::from(self.header[2]) << 8
                        | usize::from(self.header[3]),
                };
                check(h)?;
                self.have = 0;
                self.read = 0;
                self.current = (h.len > 0).then_some(h);
            }
        }
        Ok(())
    }

    /// True between messages.
    fn at_boundary(&self) -> bool {
        self.have == 0 && self.current.is_none()
    }
}

/// The ClientHellos of a handshake (RFC 8446 §4.1.2: a body starting
/// with legacy_version (2) and the random (32)), followed to keep the
/// random of the last: a server logs its secrets under the random of
/// the ClientHello it answered, which after a HelloRetryRequest is the
/// second (rustls does not hold a client to the same random).
#[derive(Default)]
struct Hellos {
    messages: Messages,
    /// The current ClientHello's random, as far as it came.
    partial: [u8; 32],
    /// The random of the last whole one seen.
    random: Option<[u8; 32]>,
}

impl Hellos {
    /// More of the client's Initial CRYPTO stream, in order.
    fn follow(&mut self, data: &[u8]) {
        const RANDOM: std::ops::Range<usize> = 2..34;
        let (partial, random) = (&mut self.partial, &mut self.random);
        // The stream's own validity is rustls's to judge.
        let _ = self.messages.follow_bodies(
            data,
            |_| Ok(()),
            |h, offset, bytes| {
                if h.ty != CLIENT_HELLO || offset >= RANDOM.end {
                    return;
                }
                let end = offset + bytes.len();
                let (from, to) = (offset.max(RANDOM.start), end.min(RANDOM.end));
                if from < to {
                    partial[from - 2..to - 2].copy_from_slice(&bytes[from - offset..to - offset]);
                }
                if to == RANDOM.end {
                    *random = Some(*partial);
                }
            },
        );
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
        let mut m = Messages::default();
        let ticket = |h: Header| after_handshake(true, h);
        // A ticket of 14 bytes, then a KeyUpdate header split in two.
        let mut data = vec![4, 0, 0, 14];
        data.extend([7; 14]);
        data.extend([24, 0]);
        m.follow(&data[..2], ticket).unwrap();
        assert!(!m.at_boundary());
        m.follow(&data[2..10], ticket).unwrap();
        assert!(!m.at_boundary());
        m.follow(&data[10..18], ticket).unwrap();
        assert!(m.at_boundary());
        m.follow(&data[18..], ticket).unwrap();
        assert!(!m.at_boundary());
        assert_eq!(
            m.follow(&[0, 1], ticket),
            Err(AlertDescription::UnexpectedMessage)
        );
        // A ticket too short to be one; a server takes none at all.
        let mut m = Messages::default();
        assert_eq!(
            m.follow(&[4, 0, 0, 2, 1, 1], ticket),
            Err(AlertDescription::DecodeError)
        );
        let mut m = Messages::default();
        assert!(m.follow(&data[..4], |h| after_handshake(false, h)).is_err());
    }

    /// A ClientHello of `len` body bytes with `random`.
    fn hello(random: u8, len: usize) -> Vec<u8> {
        let mut m = vec![CLIENT_HELLO, 0, (len >> 8) as u8, len as u8, 3, 3];
        m.extend([random; 32]);
        m.resize(4 + len, 0xaa);
        m
    }

    #[test]
    fn the_random_of_the_last_client_hello_is_kept() {
        let mut h = Hellos::default();
        let first = hello(1, 100);
        for piece in first.chunks(5) {
            h.follow(piece);
        }
        assert_eq!(h.random, Some([1; 32]));
        // A second ClientHello (after a HelloRetryRequest) with another
        // random, in one piece with a byte of what follows.
        let mut second = hello(2, 60);
        second.push(CLIENT_HELLO);
        h.follow(&second[..20]);
        assert_eq!(h.random, Some([1; 32]), "not all of it yet");
        h.follow(&second[20..]);
        assert_eq!(h.random, Some([2; 32]));
        // Not a ClientHello: no random.
        let mut other = Hellos::default();
        other.follow(&[2, 0, 0, 40]);
        other.follow(&[9; 40]);
        assert_eq!(other.random, None);
    }
}
