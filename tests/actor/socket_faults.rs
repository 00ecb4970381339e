//! Faults on the server's socket (issue 13 §4): sends failing with
//! ENOBUFS or a spurious EAGAIN, receives failing with ECONNREFUSED (an
//! ICMP unreachable reported on the socket), received batches cut short.
//! The endpoint keeps serving: transfers on two connections complete
//! (what a failed send or a cut datagram lost is sent again), and a new
//! connection still gets through.

use crate::common::{connect, endpoints, within};
use actix_quic::Connection;
use std::sync::atomic::Ordering;

const SIZE: usize = 1 << 20;

/// The client sends `SIZE` bytes on a new stream; the server reads them
/// and sends them back on another.
async fn round_trip(client: Connection, server: Connection, seed: u8) {
    let data: Vec<u8> = (0..SIZE).map(|i| (i as u8).wrapping_mul(seed)).collect();
    let up = async {
        let mut s = client.open_uni().await.unwrap();
        s.write_all(&data).await.unwrap();
        s.finish().unwrap();
    };
    let echo = async {
        let mut r = server.accept_uni().await.unwrap();
        let got = r.read_to_end(SIZE + 1).await.unwrap();
        let mut s = server.open_uni().await.unwrap();
        s.write_all(&got).await.unwrap();
        s.finish().unwrap();
    };
    let down = async {
        let mut r = client.accept_uni().await.unwrap();
        r.read_to_end(SIZE + 1).await.unwrap()
    };
    let ((), (), back) = futures::join!(up, echo, down);
    assert!(back == data, "echo differs");
}

#[actix::test]
async fn the_endpoint_serves_on_through_socket_faults() {
    let (server, client, addr) = endpoints();
    let (c1, s1) = connect(&server, &client, addr).await;
    let (c2, s2) = connect(&server, &client, addr).await;
    let faults = server.socket_faults_for_test();
    faults.enobufs.store(40, Ordering::Release);
    faults.eagain.store(40, Ordering::Release);
    faults.refused.store(10, Ordering::Release);
    faults.truncated.store(10, Ordering::Release);
    within(60, async {
        futures::join!(round_trip(c1, s1, 3), round_trip(c2, s2, 7));
    })
    .await;
    for (name, n) in [
        ("ENOBUFS", &faults.enobufs),
        ("EAGAIN", &faults.eagain),
        ("ECONNREFUSED", &faults.refused),
        ("truncated", &faults.truncated),
    ] {
        assert_eq!(n.load(Ordering::Acquire), 0, "{name} faults left unused");
    }
    let (c3, s3) = connect(&server, &client, addr).await;
    within(30, round_trip(c3, s3, 11)).await;
}
