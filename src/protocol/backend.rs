//! The crypto backend, chosen by cargo feature: `ring` (the default) or
//! `aws-lc-rs`. TLS and the Initial packets use the rustls crypto provider
//! of each configuration (this backend's when it lacks AES-128-GCM); the
//! AEAD of Retry integrity tags (RFC 9001 §5.8) and address validation
//! tokens, and the HMAC of stateless reset tokens (RFC 9000 §10.3.2),
//! come from the backend directly, as quinn does.

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!("actix-quic needs a crypto backend: enable the `ring` or `aws-lc-rs` feature");

#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc_rs::{aead, hmac};
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) use ring::{aead, hmac};

/// The rustls crypto provider of this build's backend.
pub(crate) fn default_provider() -> rustls::crypto::CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    return rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    return rustls::crypto::ring::default_provider();
}

/// A rustls client and server configuration on `provider` for unit
/// tests: TLS 1.3, a fresh self-signed certificate for "localhost" that
/// the client trusts, no ALPN.
#[cfg(test)]
pub(crate) fn test_tls(
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
) -> (rustls::ClientConfig, rustls::ServerConfig) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        cert.key_pair.serialize_der(),
    ));
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (client, server)
}
