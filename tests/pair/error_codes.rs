//! Transport error codes of RFC 9000 §20.1 that the other pair tests do
//! not produce: TLS failures as CRYPTO_ERROR (RFC 9001 §4.8), too much
//! out-of-order CRYPTO data, and frames in a packet type that forbids them.

use crate::util::*;
use actix_quic::protocol::frame::Frame;
use actix_quic::protocol::SpaceId;
use actix_quic::protocol::TransportErrorCode as Code;
use actix_quic::protocol::{ClientConfig, ServerConfig};
use actix_quic::testing::{Direction, Link, Pair};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

fn run_until_both_closed(p: &mut Pair) {
    assert!(
        p.run_until(Duration::from_secs(10), |p| p.client.error().is_some()
            && p.server.as_ref().is_some_and(|s| s.error().is_some()))
    );
}

#[test]
fn alpn_mismatch_is_crypto_error_no_application_protocol() {
    let (server_tls, cert) = crate::common::server_crypto(&[b"server-only"]);
    let client_tls = crate::common::client_crypto(&cert, &[b"client-only"]);
    let mut p = Pair::new(
        ClientConfig::new(Arc::new(client_tls)).unwrap(),
        ServerConfig::with_crypto(Arc::new(server_tls)).unwrap(),
        "localhost",
        Link::default(),
    );
    run_until_both_closed(&mut p);
    // TLS alert no_application_protocol (120) -> 0x0100 + 120.
    let code = Code::crypto(120);
    assert_local_error(p.server().error(), code);
    assert_peer_closed_with(p.client.error(), code);
}

#[test]
fn untrusted_certificate_is_crypto_error_from_the_client() {
    let (server_tls, _) = crate::common::server_crypto(&[b"test"]);
    // The client trusts another certificate.
    let (_, other) = crate::common::server_crypto(&[b"test"]);
    let client_tls = crate::common::client_crypto(&other, &[b"test"]);
    let mut p = Pair::new(
        ClientConfig::new(Arc::new(client_tls)).unwrap(),
        ServerConfig::with_crypto(Arc::new(server_tls)).unwrap(),
        "localhost",
        Link::default(),
    );
    run_until_both_closed(&mut p);
    // The client rejects the chain with a certificate alert (0x2a
    // bad_certificate or 0x30 unknown_ca): a CRYPTO_ERROR either way.
    let code = match p.client.error() {
        Some(actix_quic::ConnectionError::TransportError(e)) => e.code,
        e => panic!("client: {e:?}"),
    };
    assert!((0x100..0x200).contains(&code.0), "{code}");
    assert_peer_closed_with(p.server().error(), code);
}

/// Sends `frame` from the client in an Initial packet once the server
/// connection exists, and returns the pair once the server has closed.
fn client_initial_with(frame: Frame) -> Pair {
    let mut p = pair(Link::default());
    assert!(p.run_until(Duration::from_secs(5), |p| p.server.is_some()));
    let mut payload = Vec::new();
    frame.encode(&mut payload);
    let d = p
        .client
        .seal_raw_packet_for_test(SpaceId::Initial, &payload)
        .expect("initial keys");
    p.inject(Direction::ToServer, d);
    assert!(p.run_until(Duration::from_secs(5), |p| p
        .server
        .as_ref()
        .is_some_and(|s| s.error().is_some())));
    p
}

#[test]
fn crypto_data_far_beyond_the_buffer_is_crypto_buffer_exceeded() {
    let mut p = client_initial_with(Frame::Crypto {
        offset: 10 * 1024 * 1024,
        data: Bytes::from_static(&[1; 16]),
    });
    assert_local_error(p.server().error(), Code::CRYPTO_BUFFER_EXCEEDED);
}

#[test]
fn stream_frame_in_an_initial_packet_is_protocol_violation() {
    let mut p = client_initial_with(Frame::Stream {
        id: crate::common::stream_id(0),
        offset: 0,
        fin: false,
        data: Bytes::from_static(b"too early"),
    });
    assert_local_error(p.server().error(), Code::PROTOCOL_VIOLATION);
}

#[test]
fn invalid_transport_parameter_is_transport_parameter_error() {
    // A client configured with a max_ack_delay of 20 s sends 20000 ms,
    // above the 2^14 limit of RFC 9000 §18.2.
    let client = {
        let mut config = actix_quic::protocol::TransportConfig::default();
        config.max_ack_delay(Duration::from_secs(20));
        config
    };
    let mut p = pair_with(client, Default::default(), Link::default());
    run_until_both_closed(&mut p);
    assert_local_error(p.server().error(), Code::TRANSPORT_PARAMETER_ERROR);
    assert_peer_closed_with(p.client.error(), Code::TRANSPORT_PARAMETER_ERROR);
}
