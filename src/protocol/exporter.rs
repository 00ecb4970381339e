//! The TLS exporter (RFC 8446 §7.5) of a connection whose TLS session is
//! gone.
//!
//! After the handshake a QUIC connection needs its TLS session only to
//! export keying material (RFC 9001 §4.9 moves packet protection to the
//! QUIC layer, and key updates derive from the traffic secrets we
//! already hold). rustls keeps a session's whole state for that: about
//! 4.5 KiB per connection side that an idle connection never uses. The
//! exporter needs one secret, which rustls hands out only through its
//! key log, named by the handshake's client random. So each
//! configuration's key log is wrapped ([`capture_in`]) to keep each
//! `EXPORTER_SECRET` in a bounded table until its connection takes it
//! ([`take`]); the connection checks the secret against its session
//! before it drops the session (see `tls.rs`).

use rustls::crypto::tls13::OkmBlock;
use rustls::{KeyLog, Tls13CipherSuite};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The key log label of the exporter secret (rustls's name).
const EXPORTER_SECRET: &str = "EXPORTER_SECRET";

/// Most exporter secrets waiting for their connection. A secret waits
/// from the moment a side derives it (a server on the ClientHello, a
/// client on the server's Finished) until its connection takes it or
/// goes away. A secret that nobody takes (a peer that switched randoms
/// in a second ClientHello and left, an ECH client whose inner random we
/// do not see) waits until newer ones push it out: when the table is
/// full, the oldest goes, and its connection, if any, keeps its TLS
/// session (nothing else changes). About 200 bytes each.
const MOST_WAITING: usize = 1 << 14;

/// What the table holds for a client random: the secret, or `None` when
/// two different ones were logged under it (a peer may choose its
/// random), so that neither handshake can take the other's; how many
/// sessions logged it (both ends of one connection in this process log
/// the same secret under the same random, and each takes it); and when
/// it came, for eviction.
struct Entry {
    secret: Option<OkmBlock>,
    sessions: usize,
    age: u64,
}

/// Exporter secrets logged and not yet taken, by client random, and the
/// same randoms by age.
struct Waiting {
    entries: BTreeMap<[u8; 32], Entry>,
    by_age: BTreeMap<u64, [u8; 32]>,
    next_age: u64,
}

impl Waiting {
    /// Logs `secret` under `random`.
    fn log(&mut self, random: [u8; 32], secret: &[u8]) {
        if let Some(entry) = self.entries.get_mut(&random) {
            if entry.secret.as_ref().map(OkmBlock::as_ref) != Some(secret) {
                entry.secret = None;
            }
            entry.sessions += 1;
            return;
        }
        if self.entries.len() >= MOST_WAITING {
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        let age = self.next_age;
        self.next_age += 1;
        self.by_age.insert(age, random);
        self.entries.insert(
            random,
            Entry {
                secret: Some(OkmBlock::new(secret)),
                sessions: 1,
                age,
            },
        );
    }

    /// One session fewer waits under `random`; the secret it would take.
    fn leave(&mut self, random: &[u8; 32]) -> Option<OkmBlock> {
        let entry = self.entries.get_mut(random)?;
        let secret = entry.secret.as_ref().map(|s| OkmBlock::new(s.as_ref()));
        entry.sessions -= 1;
        if entry.sessions == 0 {
            let age = entry.age;
            self.entries.remove(random);
            self.by_age.remove(&age);
        }
        secret
    }
}

/// The table. One for the process: rustls's key log is per
/// configuration and names a secret only by its client random.
static WAITING: Mutex<Waiting> = Mutex::new(Waiting {
    entries: BTreeMap::new(),
    by_age: BTreeMap::new(),
    next_age: 0,
});

fn waiting() -> std::sync::MutexGuard<'static, Waiting> {
    // Nothing is left half-written by a panic while the lock was held.
    WAITING.lock().unwrap_or_else(|p| p.into_inner())
}

/// A key log that keeps exporter secrets for their connections and
/// passes every secret on to the key log it wraps, as that one asks.
#[derive(Debug)]
struct CaptureLog {
    inner: Arc<dyn KeyLog>,
}

impl KeyLog for CaptureLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if label == EXPORTER_SECRET {
            if let Ok(random) = <[u8; 32]>::try_from(client_random) {
                waiting().log(random, secret);
            }
        }
        if self.inner.will_log(label) {
            self.inner.log(label, client_random, secret);
        }
    }

    fn will_log(&self, label: &str) -> bool {
        label == EXPORTER_SECRET || self.inner.will_log(label)
    }
}

/// `key_log` wrapped to keep exporter secrets for [`take`].
pub(crate) fn capture_in(key_log: &Arc<dyn KeyLog>) -> Arc<dyn KeyLog> {
    Arc::new(CaptureLog {
        inner: key_log.clone(),
    })
}

/// The exporter secret logged under `client_random`, for one of the
/// sessions that logged it; `None` if none was, or two that differ.
pub(crate) fn take(client_random: &[u8; 32]) -> Option<OkmBlock> {
    waiting().leave(client_random)
}

/// A session that may have logged under `client_random` went away
/// without taking its secret.
pub(crate) fn forget(client_random: &[u8; 32]) {
    waiting().leave(client_random);
}

/// RFC 8446 §7.5 exporter on a secret: what rustls's session would
/// export, without the session.
pub(crate) struct Exporter {
    suite: &'static Tls13CipherSuite,
    secret: OkmBlock,
}

impl Exporter {
    pub(crate) fn new(suite: &'static Tls13CipherSuite, secret: OkmBlock) -> Self {
        Self { suite, secret }
    }

    /// `TLS-Exporter(label, context, out.len())` into `out`:
    /// HKDF-Expand-Label(Derive-Secret(secret, label, ""), "exporter",
    /// Hash(context), length). Fails, as rustls does, for an empty `out`
    /// or one longer than HKDF can make (255 hash lengths).
    pub(crate) fn export(
        &self,
        out: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), rustls::Error> {
        if out.is_empty() {
            return Err(rustls::Error::General(
                "export_keying_material with zero-length output".into(),
            ));
        }
        let hash = self.suite.common.hash_provider;
        let hkdf = self.suite.hkdf_provider;
        let empty = hash.hash(&[]);
        let derived =
            expand_label_block(&*hkdf.expander_for_okm(&self.secret), label, empty.as_ref());
        let context = hash.hash(context);
        let info = LabelInfo::new(out.len(), EXPORTER, context.as_ref());
        hkdf.expander_for_okm(&derived)
            .expand_slice(&info.parts(EXPORTER, context.as_ref()), out)
            .map_err(|_| rustls::Error::General("exporting too much".into()))
    }
}

/// RFC 8446 §7.1: every HKDF label starts so.
const LABEL_PREFIX: &[u8] = b"tls13 ";
/// The second expansion's label (RFC 8446 §7.5).
const EXPORTER: &[u8] = b"exporter";

/// The fixed-size fields of an HkdfLabel (RFC 8446 §7.1): the output
/// length, the label's length and the context's length. Lengths are
/// encoded as rustls encodes them (cut to the field's size), so that a
/// label too long for the field still exports what a rustls peer does.
struct LabelInfo {
    length: [u8; 2],
    label_len: [u8; 1],
    context_len: [u8; 1],
}

impl LabelInfo {
    fn new(length: usize, label: &[u8], context: &[u8]) -> Self {
        Self {
            length: (length as u16).to_be_bytes(),
            label_len: [(LABEL_PREFIX.len() + label.len()) as u8],
            context_len: [context.len() as u8],
        }
    }

    /// The HkdfLabel, in parts.
    fn parts<'a>(&'a self, label: &'a [u8], context: &'a [u8]) -> [&'a [u8]; 6] {
        [
            &self.length,
            &self.label_len,
            LABEL_PREFIX,
            label,
            &self.context_len,
            context,
        ]
    }
}

/// HKDF-Expand-Label(secret, label, context, Hash.length) (RFC 8446
/// §7.1).
fn expand_label_block(
    expander: &dyn rustls::crypto::tls13::HkdfExpander,
    label: &[u8],
    context: &[u8],
) -> OkmBlock {
    let info = LabelInfo::new(expander.hash_len(), label, context);
    expander.expand_block(&info.parts(label, context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::quic::{ClientConnection, Connection, ServerConnection, Version};

    /// A client and a server configuration offering only `suite`, with
    /// capturing key logs.
    fn configs(
        suite: rustls::SupportedCipherSuite,
    ) -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
        let mut provider = crate::protocol::backend::default_provider();
        provider.cipher_suites = vec![suite];
        let provider = Arc::new(provider);
        let (mut client, mut server) = crate::protocol::backend::test_tls(provider);
        server.key_log = capture_in(&server.key_log);
        client.key_log = capture_in(&client.key_log);
        (Arc::new(client), Arc::new(server))
    }

    /// Passes what `from` says to `to` until it says nothing; the bytes.
    fn pump(from: &mut Connection, to: &mut Connection) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let mut out = Vec::new();
            let change = from.write_hs(&mut out);
            if out.is_empty() && change.is_none() {
                return all;
            }
            if !out.is_empty() {
                to.read_hs(&out).unwrap();
            }
            all.extend(out);
        }
    }

    #[test]
    fn exports_what_the_session_exports_in_every_suite() {
        for suite in crate::protocol::backend::default_provider().cipher_suites {
            let Some(tls13) = suite.tls13() else {
                continue;
            };
            let (c, s) = configs(suite);
            let name = "localhost".try_into().unwrap();
            let mut client: Connection = ClientConnection::new(c, Version::V1, name, vec![1])
                .unwrap()
                .into();
            let mut server: Connection = ServerConnection::new(s, Version::V1, vec![2])
                .unwrap()
                .into();
            let hello = pump(&mut client, &mut server);
            while !pump(&mut server, &mut client).is_empty()
                | !pump(&mut client, &mut server).is_empty()
            {}
            assert!(!client.is_handshaking() && !server.is_handshaking());
            let random: [u8; 32] = hello[6..38].try_into().unwrap();
            // Both ends logged it; each takes it once.
            let secret = take(&random).expect("logged");
            assert!(take(&random).is_some());
            assert!(take(&random).is_none());
            let exporter = Exporter::new(tls13, secret);
            let long = [0x61u8; 300];
            for (label, context, len) in [
                (&b"EXPERIMENTAL x"[..], &b""[..], 32),
                (b"EXPERIMENTAL y", b"some context", 1),
                (b"", b"", 64),
                (&long[..], &long[..], 1000),
            ] {
                let (mut ours, mut theirs) = (vec![0u8; len], vec![1u8; len]);
                exporter.export(&mut ours, label, context).unwrap();
                client
                    .export_keying_material(&mut theirs, label, Some(context))
                    .unwrap();
                assert_eq!(ours, theirs, "{:?} {len}", suite.suite());
            }
            // Refused as rustls refuses.
            let mut none = [0u8; 0];
            assert!(exporter.export(&mut none, b"x", b"").is_err());
            let mut huge = vec![0u8; 256 * 48];
            assert!(exporter.export(&mut huge, b"x", b"").is_err());
            assert!(client
                .export_keying_material(&mut huge, b"x", None)
                .is_err());
        }
    }

    #[test]
    fn two_secrets_under_one_random_are_for_neither() {
        let log = capture_in(&(Arc::new(rustls::NoKeyLog) as Arc<dyn KeyLog>));
        let random = [0xeeu8; 32];
        log.log(EXPORTER_SECRET, &random, &[1; 32]);
        log.log(EXPORTER_SECRET, &random, &[2; 32]);
        assert!(take(&random).is_none());
        assert!(take(&random).is_none());
        assert!(!waiting().entries.contains_key(&random), "both left");
        // One session that goes away without taking leaves nothing.
        log.log(EXPORTER_SECRET, &random, &[3; 32]);
        forget(&random);
        assert!(take(&random).is_none());
    }

    #[test]
    fn a_full_table_lets_its_oldest_secret_go() {
        let mut t = Waiting {
            entries: BTreeMap::new(),
            by_age: BTreeMap::new(),
            next_age: 0,
        };
        let random = |i: usize| {
            let mut r = [0u8; 32];
            r[..8].copy_from_slice(&(i as u64).to_be_bytes());
            r
        };
        for i in 0..MOST_WAITING + 10 {
            t.log(random(i), &[1; 32]);
        }
        assert_eq!(t.entries.len(), MOST_WAITING);
        assert_eq!(t.by_age.len(), MOST_WAITING);
        assert!(t.leave(&random(9)).is_none(), "pushed out");
        assert!(t.leave(&random(10)).is_some(), "the oldest kept");
        assert_eq!(t.by_age.len(), MOST_WAITING - 1, "ages follow");
    }
}
