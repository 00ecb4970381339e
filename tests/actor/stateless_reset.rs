//! Stateless reset over UDP: quinn stands in for a server that crashed
//! and came back with the same reset key; our client endpoint routes the
//! reset by its token and the connection ends with `Reset`.

use crate::common::within;
use crate::retry::{switchable_relay, ALPN};
use actix_quic::{ClientConfig, Endpoint};
use std::sync::Arc;

/// Random 8-byte connection IDs.
struct RandomCids;

impl quinn::ConnectionIdGenerator for RandomCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        let mut b = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
        quinn::ConnectionId::new(&b)
    }
    fn cid_len(&self) -> usize {
        8
    }
    fn cid_lifetime(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A quinn server endpoint on 127.0.0.1 with a fixed stateless reset key.
fn quinn_server_with_reset_key(crypto: rustls::ServerConfig) -> quinn::Endpoint {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0x42; 32]);
    let server = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(crypto).unwrap(),
    ));
    let mut config = quinn::EndpointConfig::new(Arc::new(key));
    // quinn's default CIDs carry a check keyed per endpoint; plain random
    // ones let a second endpoint take the first one's CIDs for its own.
    config.cid_generator(|| Box::new(RandomCids));
    quinn::Endpoint::new(
        config,
        Some(server),
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        quinn::default_runtime().unwrap(),
    )
    .unwrap()
}

#[actix::test]
async fn our_client_is_reset_by_a_server_that_lost_its_state() {
    crate::common::trace();
    // Server A holds the connection. Server B stands in for A after a
    // crash: same address (the relay), same reset key, no state. B
    // answers our client's next packet with a stateless reset, which
    // carries a random DCID: our client endpoint routes it by its token
    // (RFC 9000 §10.3.1) and the connection ends with Reset.
    let (crypto, cert) = crate::common::server_crypto(&[ALPN]);
    let a = quinn_server_with_reset_key(crypto.clone());
    let b = quinn_server_with_reset_key(crypto);
    let (addr, _seen, target) = switchable_relay(a.local_addr().unwrap()).await;
    let accepted = tokio::spawn(async move {
        let conn = a.accept().await.unwrap().await.unwrap();
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let data = recv.read_to_end(1024).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        // Keep the connection and endpoint alive, silently.
        (a, conn)
    });
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(
        ClientConfig::new(Arc::new(crate::common::client_crypto(&cert, &[ALPN]))).unwrap(),
    );
    let conn = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"ping").await.unwrap();
    send.finish().unwrap();
    assert_eq!(within(10, recv.read_to_end(64)).await.unwrap(), b"ping");
    let _keep = within(10, accepted).await.unwrap();

    *target.lock().unwrap() = b.local_addr().unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&[7u8; 1000]).await.unwrap();
    let reason = within(10, conn.closed()).await;
    assert_eq!(reason, actix_quic::ConnectionError::Reset);
    drop(b);
}
