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
