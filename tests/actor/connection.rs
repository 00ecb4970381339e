//! Actor-level tests of the `Connection` handle's identity and getters,
//! over real UDP on 127.0.0.1.

use crate::common::{connect, connected, endpoints, endpoints_with, within};
use actix_quic::messages::Stats;
use actix_quic::VarInt;
use actix_quic::{ConnectionError, SendDatagramError, TransportConfig};
use bytes::Bytes;
use futures::poll;
use std::time::Duration;

/// Clones are handles to one connection: same `stable_id`, and what one
/// clone does the others see. Dropping a clone leaves the others working.
#[actix::test]
async fn clones_share_one_connection() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let (conn, sconn) = connect(&server, &client, addr).await;
    let (conn2, sconn2) = connect(&server, &client, addr).await;

    let clone = conn.clone();
    assert_eq!(clone.stable_id(), conn.stable_id());
    assert_eq!(sconn.clone().stable_id(), sconn.stable_id());
    let ids = [
        conn.stable_id(),
        sconn.stable_id(),
        conn2.stable_id(),
        sconn2.stable_id(),
    ];
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            assert_ne!(a, b, "two connections share a stable_id: {ids:?}");
        }
    }

    // A stream opened on the clone arrives on the server's connection.
    let mut send = clone.open_uni().await.unwrap();
    send.write_all(b"via clone").await.unwrap();
    send.finish().unwrap();
    drop(send);
    drop(clone);
    let mut recv = within(5, sconn.accept_uni()).await.unwrap();
    assert_eq!(within(5, recv.read_to_end(64)).await.unwrap(), b"via clone");
    // The original still works after the clone is gone.
    let mut send = conn.open_uni().await.unwrap();
    send.write_all(b"via original").await.unwrap();
    send.finish().unwrap();
    let mut recv = within(5, sconn.accept_uni()).await.unwrap();
    assert_eq!(
        within(5, recv.read_to_end(64)).await.unwrap(),
        b"via original"
    );
    // The second connection saw none of it.
    let mut none = Box::pin(sconn2.accept_uni());
    assert!(
        futures::poll!(&mut none).is_pending(),
        "stream leaked to another connection"
    );

    // Closing through one clone closes it for all.
    let other = conn.clone();
    other.close(VarInt::from_u32(5), b"one closes all");
    assert_eq!(
        within(5, conn.closed()).await,
        ConnectionError::LocallyClosed
    );
    assert_eq!(conn.close_reason(), Some(ConnectionError::LocallyClosed));
    assert!(matches!(
        within(5, sconn.closed()).await,
        ConnectionError::ApplicationClosed(c) if c.error_code == VarInt::from_u32(5)
    ));
    // The other connection is unaffected.
    assert_eq!(conn2.close_reason(), None);
    let mut send = conn2.open_uni().await.unwrap();
    send.write_all(b"second").await.unwrap();
    send.finish().unwrap();
    let mut recv = within(5, none).await.unwrap();
    assert_eq!(within(5, recv.read_to_end(64)).await.unwrap(), b"second");
}

/// `Debug` names the connection and its peer; `rtt()` is a real sample
/// (not zero, well under the 333 ms initial guess on loopback);
/// `remote_address()` is the peer's bound address on both sides;
/// handshake data and the peer's certificate are there.
#[actix::test]
async fn debug_rtt_remote_address_and_handshake_data() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let (conn, sconn) = connect(&server, &client, addr).await;

    assert_eq!(conn.remote_address(), addr);
    assert_eq!(sconn.remote_address(), client.local_addr().unwrap());

    // One exchange so both sides have RTT samples from 1-RTT packets.
    let srv = actix::spawn(async move {
        let (mut send, mut recv) = sconn.accept_bi().await.unwrap();
        let data = recv.read_to_end(64).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        // Wait for the client's acknowledgement of the echo.
        send.stopped().await.unwrap();
        sconn
    });
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"rtt").await.unwrap();
    send.finish().unwrap();
    assert_eq!(within(5, recv.read_to_end(64)).await.unwrap(), b"rtt");
    let sconn = within(5, srv).await.unwrap();

    for (side, c) in [("client", &conn), ("server", &sconn)] {
        let rtt = c.rtt();
        assert!(rtt > Duration::ZERO, "{side} rtt is zero");
        assert!(
            rtt < Duration::from_millis(200),
            "{side} rtt {rtt:?} is not a loopback sample"
        );
        assert_eq!(
            c.handshake_data().and_then(|h| h.protocol),
            Some(b"test".to_vec()),
            "{side} ALPN"
        );
    }
    let certs = conn
        .peer_identity()
        .expect("client knows the server's certificate");
    let certs = certs
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .expect("a Vec<CertificateDer>");
    assert_eq!(certs.len(), 1);

    // The congestion controller's state, for debugging: CUBIC by
    // default, in slow start after this little traffic, nothing lost.
    let cs = conn.congestion_state();
    assert_eq!(cs.algorithm, "Cubic");
    assert!(cs.window >= 14_720, "{cs:?}");
    assert_eq!(cs.ssthresh, u64::MAX);
    assert_eq!(cs.phase, actix_quic::protocol::CongestionPhase::SlowStart);
    assert!(cs.in_flight <= cs.window);

    let debug = format!("{conn:?}");
    assert!(debug.starts_with("Connection"), "{debug}");
    assert!(debug.contains("stable_id"), "{debug}");
    assert!(debug.contains(&conn.stable_id().to_string()), "{debug}");
    assert!(debug.contains(&addr.to_string()), "{debug}");
    assert!(debug.contains("test"), "ALPN missing: {debug}");
    let debug = format!("{sconn:?}");
    assert!(
        debug.contains(&client.local_addr().unwrap().to_string()),
        "{debug}"
    );
}

/// Datagrams flow both ways; `max_datagram_size()` is a little over a
/// kilobyte on a 1200-byte path (PMTU discovery off here); a datagram of
/// exactly that size is delivered and one byte more is refused.
#[actix::test]
async fn datagrams_both_ways_and_size_limit() {
    crate::common::trace();
    let fixed = {
        let mut config = TransportConfig::default();
        config.mtu_discovery_config(None);
        config
    };
    let (server, client, addr) = endpoints_with(fixed.clone(), fixed);
    let (conn, sconn) = connect(&server, &client, addr).await;
    let max = conn.max_datagram_size().expect("peer accepts datagrams");
    assert!((1000..1200).contains(&max), "max_datagram_size {max}");
    assert_eq!(sconn.max_datagram_size(), Some(max));

    conn.send_datagram(Bytes::from_static(b"c2s")).unwrap();
    assert_eq!(&within(5, sconn.read_datagram()).await.unwrap()[..], b"c2s");
    sconn.send_datagram(Bytes::from_static(b"s2c")).unwrap();
    assert_eq!(&within(5, conn.read_datagram()).await.unwrap()[..], b"s2c");

    let full = Bytes::from(vec![0x5a; max]);
    conn.send_datagram(full.clone()).unwrap();
    assert_eq!(within(5, sconn.read_datagram()).await.unwrap(), full);
    assert_eq!(
        conn.send_datagram(Bytes::from(vec![0; max + 1])),
        Err(SendDatagramError::TooLarge)
    );
    // The waiting form queues the same way.
    within(5, conn.send_datagram_wait(Bytes::from_static(b"waited")))
        .await
        .unwrap();
    assert_eq!(
        &within(5, sconn.read_datagram()).await.unwrap()[..],
        b"waited"
    );
    // Closed: the reason, at once.
    conn.close(VarInt::from_u32(0), b"");
    assert_eq!(
        conn.send_datagram(Bytes::from_static(b"late")),
        Err(SendDatagramError::ConnectionLost(
            ConnectionError::LocallyClosed
        ))
    );
}

/// With PMTU discovery (the default), `max_datagram_size()` grows with
/// the path: loopback carries the 1452-byte bound, and a datagram of the
/// new size arrives whole.
#[actix::test]
async fn max_datagram_size_follows_the_path_mtu() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let grown = within(5, async {
        loop {
            conn.send_datagram(Bytes::from_static(b"tick")).unwrap();
            sconn.read_datagram().await.unwrap();
            let max = conn.max_datagram_size().unwrap();
            if max > 1400 {
                return max;
            }
        }
    })
    .await;
    assert_eq!(conn.stats().mtu, 1452);
    let full = Bytes::from(vec![0x77; grown]);
    conn.send_datagram(full.clone()).unwrap();
    let got = within(5, async {
        loop {
            let d = sconn.read_datagram().await.unwrap();
            if d.len() == grown {
                return d;
            }
        }
    })
    .await;
    assert_eq!(got, full);
}

/// A peer that disables datagrams: `max_datagram_size()` is `None` and
/// sending is refused.
#[actix::test]
async fn datagrams_unsupported_by_peer() {
    crate::common::trace();
    let no_datagrams = {
        let mut config = TransportConfig::default();
        config.datagram_receive_buffer_size(None);
        config
    };
    let (server, client, addr) = endpoints_with(TransportConfig::default(), no_datagrams);
    let (conn, _sconn) = connect(&server, &client, addr).await;
    assert_eq!(conn.max_datagram_size(), None);
    assert_eq!(
        conn.send_datagram(Bytes::from_static(b"x")),
        Err(SendDatagramError::UnsupportedByPeer)
    );
}

/// Datagrams disabled locally: `max_datagram_size()` is `None` even
/// though the peer accepts them (quinn's documented behaviour).
#[actix::test]
async fn datagrams_disabled_locally() {
    crate::common::trace();
    let no_datagrams = {
        let mut config = TransportConfig::default();
        config.datagram_receive_buffer_size(None);
        config
    };
    let (server, client, addr) = endpoints_with(no_datagrams, TransportConfig::default());
    let (conn, _sconn) = connect(&server, &client, addr).await;
    assert_eq!(conn.max_datagram_size(), None);
}

/// Both peers derive the same keying material; label and context matter.
#[actix::test]
async fn export_keying_material_matches_on_both_sides() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    conn.export_keying_material(&mut a, b"EXPORTER-test", b"ctx")
        .unwrap();
    sconn
        .export_keying_material(&mut b, b"EXPORTER-test", b"ctx")
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, [0u8; 32]);
    let mut c = [0u8; 32];
    sconn
        .export_keying_material(&mut c, b"EXPORTER-other", b"ctx")
        .unwrap();
    assert_ne!(a, c, "label ignored");
    sconn
        .export_keying_material(&mut c, b"EXPORTER-test", b"other")
        .unwrap();
    assert_ne!(a, c, "context ignored");
}

/// `set_max_concurrent_bi_streams` lifts a limit of 0: an `open_bi`
/// parked on it completes, and the stream works.
#[actix::test]
async fn raising_the_stream_limit_unblocks_open_bi() {
    crate::common::trace();
    let no_bidi = {
        let mut config = TransportConfig::default();
        config.max_concurrent_bidi_streams(VarInt::from_u64(0).unwrap());
        config
    };
    let (server, client, addr) = endpoints_with(TransportConfig::default(), no_bidi);
    let (conn, sconn) = connect(&server, &client, addr).await;
    let mut open = Box::pin(conn.open_bi());
    assert!(poll!(&mut open).is_pending());
    // FIFO mailbox: once this is answered, OpenBi was handled and parked.
    conn.addr().send(Stats).await.unwrap();
    assert!(poll!(&mut open).is_pending(), "open_bi passed a limit of 0");

    sconn.set_max_concurrent_bi_streams(VarInt::from_u32(1));
    let (mut send, mut recv) = within(5, open).await.unwrap();
    send.write_all(b"unblocked").await.unwrap();
    send.finish().unwrap();
    let (mut ssend, mut srecv) = within(5, sconn.accept_bi()).await.unwrap();
    assert_eq!(
        within(5, srecv.read_to_end(64)).await.unwrap(),
        b"unblocked"
    );
    ssend.write_all(b"ok").await.unwrap();
    ssend.finish().unwrap();
    assert_eq!(within(5, recv.read_to_end(64)).await.unwrap(), b"ok");
}

/// `stats()` counts what was exchanged, and agrees with the raw `Stats`
/// message.
#[actix::test]
async fn stats_count_traffic() {
    crate::common::trace();
    let (_server, _client, conn, sconn) = connected().await;
    let mut send = conn.open_uni().await.unwrap();
    send.write_all(&[1u8; 50_000]).await.unwrap();
    send.finish().unwrap();
    let mut recv = within(5, sconn.accept_uni()).await.unwrap();
    assert_eq!(
        within(5, recv.read_to_end(60_000)).await.unwrap().len(),
        50_000
    );
    assert_eq!(within(5, send.stopped()).await, Ok(None));

    let s = conn.stats();
    assert!(s.udp_tx_bytes > 50_000, "{s:?}");
    assert!(
        s.packets_sent >= s.udp_tx_datagrams && s.udp_tx_datagrams > 0,
        "{s:?}"
    );
    assert!(s.packets_received > 0 && s.udp_rx_datagrams > 0, "{s:?}");
    assert!(s.frames_sent >= s.packets_sent, "{s:?}");
    let r = sconn.stats();
    assert!(r.udp_rx_bytes > 50_000, "{r:?}");
    let raw = conn.addr().send(Stats).await.unwrap();
    assert!(raw.packets_sent >= s.packets_sent);
}

/// `side()` says which end a handle is, from the first moment (a server's
/// `Connecting` before its actor runs); `min_rtt()` is the smallest RTT
/// sample: positive, and not above the smoothed RTT.
#[actix::test]
async fn side_and_min_rtt() {
    crate::common::trace();
    let (server, client, addr) = crate::common::endpoints();
    let connecting = client.connect(addr, "localhost").unwrap();
    let incoming = within(5, server.accept()).await.unwrap();
    let (sconn, _) = incoming.accept().unwrap().into_0rtt().unwrap();
    assert_eq!(sconn.side(), actix_quic::Side::Server);
    let conn = within(5, connecting).await.unwrap();
    assert_eq!(conn.side(), actix_quic::Side::Client);
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"ping").await.unwrap();
    send.finish().unwrap();
    let (mut ssend, mut srecv) = within(5, sconn.accept_bi()).await.unwrap();
    assert_eq!(within(5, srecv.read_to_end(8)).await.unwrap(), b"ping");
    ssend.write_all(b"pong").await.unwrap();
    ssend.finish().unwrap();
    assert_eq!(within(5, recv.read_to_end(8)).await.unwrap(), b"pong");
    let min = conn.min_rtt();
    assert!(
        min > Duration::ZERO && min < Duration::from_millis(100),
        "{min:?}"
    );
    assert!(min <= conn.rtt() + Duration::from_millis(1));
}
