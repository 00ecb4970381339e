//! Whole endpoints over real UDP through the impairing relay
//! (`actix_quic::testing::Relay`): loss, delay, corruption and an outage
//! between an actix-quic client and an actix-quic server.

use crate::common::{endpoints, pattern, within};
use actix_quic::testing::{Direction, LinkConfig, Loss, Outage, Relay};
use actix_quic::{Connection, Endpoint};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

/// Sends `data` from the client to the server on one uni stream through
/// `relay`, and returns what the server read and both connections.
async fn upload(
    server: &Endpoint,
    client: &Endpoint,
    relay: SocketAddr,
    data: &[u8],
    secs: u64,
) -> (Vec<u8>, Connection, Connection) {
    let accepting = async {
        let conn = server
            .accept()
            .await
            .expect("endpoint open")
            .await
            .expect("server handshake");
        let mut recv = conn.accept_uni().await.expect("stream");
        let got = recv.read_to_end(data.len() + 1).await.expect("read");
        (got, conn)
    };
    let sending = async {
        let conn = client
            .connect(relay, "localhost")
            .unwrap()
            .await
            .expect("client handshake");
        let mut send = conn.open_uni().await.expect("open");
        send.write_all(data).await.expect("write");
        send.finish().unwrap();
        conn
    };
    let ((got, sconn), cconn) = within(secs, futures::future::join(accepting, sending)).await;
    (got, cconn, sconn)
}

#[actix::test]
async fn one_mib_through_ten_percent_loss_and_20ms_delay() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let link = LinkConfig {
        delay: Duration::from_millis(20),
        loss: Loss::random(0.1),
        ..LinkConfig::default()
    };
    let relay = Relay::symmetric(addr, link, 7).unwrap();
    let data = pattern(1, MIB);
    let wall = Instant::now();
    let (got, cconn, sconn) = upload(&server, &client, relay.local_addr(), &data, 60).await;
    assert!(got == data, "data differs");
    let stats = relay.stats().await;
    eprintln!(
        "1 MiB through 10% loss, 20 ms each way: {:?}; relay {stats:?}; client lost {} packets",
        wall.elapsed(),
        cconn.stats().lost_packets
    );
    assert!(
        stats.to_server.lost > 50 && stats.to_client.lost > 5,
        "{stats:?}"
    );
    assert!(cconn.stats().lost_packets > 50);
    // The server saw the relay's address, not the client's.
    assert_ne!(sconn.remote_address(), client.local_addr().unwrap());
    assert!(
        cconn.rtt() >= Duration::from_millis(40),
        "{:?}",
        cconn.rtt()
    );
}

#[actix::test]
async fn corrupted_datagrams_never_reach_the_application() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        corrupt: 0.05,
        ..LinkConfig::default()
    };
    let relay = Relay::symmetric(addr, link, 11).unwrap();
    let data = pattern(2, MIB / 2);
    let (got, _c, _s) = upload(&server, &client, relay.local_addr(), &data, 30).await;
    assert!(got == data, "data differs");
    let stats = relay.stats().await;
    assert!(stats.to_server.corrupted > 5, "{stats:?}");
}

#[actix::test]
async fn connection_survives_an_outage() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    // Down from 0.3 s to 1.3 s after the relay started: the handshake
    // goes through, then the transfer runs into the outage.
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        bandwidth: Some(20_000_000),
        queue: Some(100),
        outages: vec![Outage::between(
            Duration::from_millis(300),
            Duration::from_millis(1300),
        )],
        ..LinkConfig::default()
    };
    let relay = Relay::symmetric(addr, link, 3).unwrap();
    let data = pattern(3, 2 * MIB);
    let wall = Instant::now();
    let (got, _c, _s) = upload(&server, &client, relay.local_addr(), &data, 30).await;
    assert!(got == data, "data differs");
    let stats = relay.stats().await;
    eprintln!(
        "2 MiB across a 1 s outage: {:?}; relay {stats:?}",
        wall.elapsed()
    );
    assert!(stats.to_server.outage > 0, "{stats:?}");
}

#[actix::test]
async fn link_can_change_while_running() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let relay = Relay::symmetric(addr, LinkConfig::with_delay(Duration::ZERO), 5).unwrap();
    let (got, cconn, _s) = upload(&server, &client, relay.local_addr(), b"before", 10).await;
    assert_eq!(got, b"before");
    relay
        .set_link(
            Direction::ToClient,
            LinkConfig::with_delay(Duration::from_millis(100)),
        )
        .await;
    // A stream round trip now takes the extra 100 ms.
    let mut send = cconn.open_uni().await.unwrap();
    send.write_all(b"x").await.unwrap();
    send.finish().unwrap();
    let start = Instant::now();
    within(10, send.stopped()).await.ok();
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(relay.stats().await.clients, 1);
}
