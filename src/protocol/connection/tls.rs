//! The connection's TLS session (RFC 9001 §4): the core feeds it CRYPTO
//! data and takes keys from it; the application's handles share it to
//! export keying material (RFC 8446 §7.5) without asking the core.

use std::sync::{Arc, Mutex, MutexGuard};

/// A rustls QUIC session that the core and the handles of its
/// connection share. The core holds the lock only for one TLS call at a
/// time, so an export never waits long.
#[derive(Clone)]
pub(crate) struct TlsSession(Arc<Mutex<rustls::quic::Connection>>);

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSession")
    }
}

impl TlsSession {
    /// Shares `tls`.
    pub(super) fn new(tls: rustls::quic::Connection) -> Self {
        Self(Arc::new(Mutex::new(tls)))
    }

    /// The session, for one call.
    pub(super) fn lock(&self) -> MutexGuard<'_, rustls::quic::Connection> {
        // A panic inside rustls while the lock was held leaves nothing
        // half-written that a later call could trip on.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
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
        self.lock()
            .export_keying_material(out, label, Some(context))
            .map(|_| ())
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
        let session = TlsSession::new(tls.into());
        let mut out = [0u8; 16];
        assert!(session
            .clone()
            .export_keying_material(&mut out, b"label", b"")
            .is_err());
    }
}
