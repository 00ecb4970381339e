//! The idle timeout (RFC 9000 §10.1): the smaller of both sides' values
//! closes a silent connection without a packet, keep-alives hold it open,
//! none applies when both disable it, and a peer gone dark ends in
//! `TimedOut` while a shorter outage is survived.

use crate::util::*;
use actix_quic::protocol::ConnectionError;
use actix_quic::protocol::Dir;
use actix_quic::protocol::TransportConfig;
use actix_quic::testing::Link;
use actix_quic::IdleTimeout;
use bytes::Bytes;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn idle_timeout_is_the_smaller_of_both() {
    let client = {
        let mut config = TransportConfig::default();
        config.max_idle_timeout(Some(
            IdleTimeout::try_from(Duration::from_secs(30)).unwrap(),
        ));
        config
    };
    let server = {
        let mut config = TransportConfig::default();
        config.max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(5)).unwrap()));
        config
    };
    let mut p = pair_with(client, server, Link::default());
    assert!(p.handshake_and_settle());
    let start = p.now;
    assert!(
        p.run_until(Duration::from_secs(60), |p| p.client.error().is_some()
            && p.server().error().is_some())
    );
    assert_eq!(p.client.error(), Some(&ConnectionError::TimedOut));
    assert_eq!(p.server().error(), Some(&ConnectionError::TimedOut));
    let took = p.now - start;
    assert!(
        took >= Duration::from_secs(4) && took <= Duration::from_secs(6),
        "idle close after {took:?}"
    );
    // Timing out is silent: nothing is sent.
    assert!(p.client.is_drained());
}

#[test]
fn keep_alive_holds_idle_connection_open() {
    let cfg = {
        let mut config = TransportConfig::default();
        config
            .max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(3)).unwrap()))
            .keep_alive_interval(Some(Duration::from_secs(1)));
        config
    };
    let server = {
        let mut config = TransportConfig::default();
        config.max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(3)).unwrap()));
        config
    };
    let mut p = pair_with(cfg, server, Link::default());
    assert!(p.handshake());
    p.advance(Duration::from_secs(30));
    assert!(p.client.error().is_none(), "{:?}", p.client.error());
    assert!(p.server().error().is_none(), "{:?}", p.server().error());
    // And a transfer still works afterwards.
    let got = transfer(&mut p, &pattern(3, 0, 10_000), Duration::from_secs(5));
    assert_eq!(got, pattern(3, 0, 10_000));
}

#[test]
fn no_idle_timeout_when_both_disable_it() {
    let cfg = {
        let mut config = TransportConfig::default();
        config.max_idle_timeout(None);
        config
    };
    let mut p = pair_with(cfg.clone(), cfg, Link::default());
    assert!(p.handshake_and_settle());
    p.advance(Duration::from_secs(600));
    assert!(p.client.error().is_none());
    assert!(p.server().error().is_none());
}

#[test]
fn idle_timeout_during_blackout() {
    // The peer vanishes: the connection times out instead of retrying
    // forever.
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    p.link.drop = Some(Box::new(|_, _| true));
    let id = p.client.open(Dir::Uni).unwrap();
    let mut d = Bytes::from(pattern(1, 0, 5000));
    p.client.write(id, &mut d).unwrap();
    assert!(p.run_until(Duration::from_secs(120), |p| p.client.error().is_some()));
    assert_eq!(p.client.error(), Some(&ConnectionError::TimedOut));
}

#[test]
fn blackout_shorter_than_idle_timeout_is_survived() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let dark = Rc::new(Cell::new(false));
    let d = dark.clone();
    p.link.drop = Some(Box::new(move |_, _| d.get()));
    let data = pattern(4, 0, 300_000);
    let id = p.client.open(actix_quic::protocol::Dir::Uni).unwrap();
    let mut sent = 0;
    write_some(&mut p.client, id, &data, &mut sent);
    p.step();
    dark.set(true);
    p.advance(Duration::from_secs(5));
    dark.set(false);
    let mut finished = false;
    let mut got = Vec::new();
    assert!(
        p.run_until(Duration::from_secs(25), |p| {
            if !finished && write_some(&mut p.client, id, &data, &mut sent) {
                p.client.finish(id).unwrap();
                finished = true;
            }
            while p.server().accept(actix_quic::protocol::Dir::Uni).is_some() {}
            read_all(p.server(), id, &mut got) == ReadEnd::Finished
        }),
        "client {:?}",
        p.client.error()
    );
    assert!(got == data);
    assert!(p.client.stats().lost_packets > 0);
}

/// Keep-alive as quinn's: the interval restarts with every packet
/// received, so a client hearing from its peer sends no PING; once the
/// peer goes quiet, a PING goes every interval.
#[test]
fn keep_alive_counts_from_the_last_packet_received() {
    let client = {
        let mut config = TransportConfig::default();
        config.keep_alive_interval(Some(Duration::from_secs(1)));
        config
    };
    let mut p = pair_with(client, TransportConfig::default(), Link::default());
    assert!(p.handshake_and_settle());
    let pings = |p: &mut actix_quic::testing::Pair| p.client.stats().frame_tx.ping;
    let before = pings(&mut p);
    // The server sends a datagram every 400 ms for 5 s.
    for _ in 0..12 {
        p.server()
            .send_datagram(Bytes::from_static(b"tick"))
            .unwrap();
        p.advance(Duration::from_millis(400));
    }
    assert_eq!(pings(&mut p), before, "PINGs while hearing from the peer");
    // Then silence: about one PING a second.
    p.advance(Duration::from_millis(5_500));
    let sent = pings(&mut p) - before;
    assert!((4..=6).contains(&sent), "{sent} PINGs in 5.5 s of silence");
}

/// Keep-alive starts once the handshake is complete: a server whose
/// client's Finished never arrives sends no 1-RTT PING to a client that
/// may have no 1-RTT keys (it probes in the Handshake space instead).
#[test]
fn no_keep_alive_before_the_handshake_completes() {
    let server = {
        let mut config = TransportConfig::default();
        config.keep_alive_interval(Some(Duration::from_millis(200)));
        config
    };
    let short_from_server = Rc::new(Cell::new(0u32));
    let count = short_from_server.clone();
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            use actix_quic::protocol::packet::LongType;
            use actix_quic::testing::Direction;
            let types = packet_types(d);
            match dir {
                // The client's Handshake packets (its Finished) are lost.
                Direction::ToServer => types.contains(&Some(LongType::Handshake)),
                Direction::ToClient => {
                    if types.contains(&None) {
                        count.set(count.get() + 1);
                    }
                    false
                }
            }
        })),
        ..Link::default()
    };
    let mut p = pair_with(TransportConfig::default(), server, link);
    p.advance(Duration::from_secs(3));
    assert!(!p.server().is_handshake_complete());
    assert_eq!(
        short_from_server.get(),
        0,
        "1-RTT packets before completion"
    );
}
