//! Version negotiation seen by a client (RFC 9000 §6.2).

use actix_quic::protocol::packet::{self, PartialHeader};
use actix_quic::protocol::ConnectionError;
use bytes::BytesMut;
use std::time::Instant;

fn vn_for(initial: &[u8], versions: &[u32]) -> BytesMut {
    let h = PartialHeader::parse(initial, 8).unwrap();
    let scid = match h.kind {
        packet::HeaderKind::Long { scid, .. } => scid,
        k => panic!("{k:?}"),
    };
    BytesMut::from(&packet::version_negotiation(&h.dcid, &scid, 0x2a, versions)[..])
}

#[test]
fn version_negotiation_without_our_version_fails_with_version_mismatch() {
    let (mut conn, initial) = crate::common::client_and_first_datagram();
    let vn = vn_for(&initial, &[0x1a2a_3a4a, 0xff00_001d]);
    conn.handle_datagram(Instant::now(), "127.0.0.1:4433".parse().unwrap(), vn);
    assert_eq!(conn.error(), Some(&ConnectionError::VersionMismatch));
}

#[test]
fn version_negotiation_listing_our_version_is_ignored() {
    let (mut conn, initial) = crate::common::client_and_first_datagram();
    let vn = vn_for(&initial, &[packet::VERSION_1, 0x1a2a_3a4a]);
    conn.handle_datagram(Instant::now(), "127.0.0.1:4433".parse().unwrap(), vn);
    assert_eq!(conn.error(), None);
}

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::testing::{Link, Pair};
use std::time::Duration;

/// A pair whose client speaks `version`; the server takes v1 and v2.
fn pair_version(version: u32, link: Link) -> Pair {
    let (mut c, s) = crate::common::configs();
    c.version(version);
    Pair::new(c, s, "localhost", link)
}

#[test]
fn quic_v2_connection_transfers_and_updates_keys() {
    let mut p = pair_version(
        packet::VERSION_2,
        Link {
            loss: 0.02,
            seed: 9,
            ..Link::default()
        },
    );
    assert!(p.handshake_and_settle());
    assert_eq!(p.client.version(), packet::VERSION_2);
    assert_eq!(p.server().version(), packet::VERSION_2);
    let data = pattern(3, 0, 1 << 20);
    assert!(p.client.force_key_update());
    let got = transfer(&mut p, &data, Duration::from_secs(30));
    assert!(got == data);
    assert!(p.server().stats().key_updates >= 1);
}

#[test]
fn v2_long_headers_use_the_v2_type_bits_and_version() {
    let (mut c, s) = crate::common::configs();
    c.version(packet::VERSION_2);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    // The client's first datagram: a v2 Initial (type bits 0b01).
    let mut buf = Vec::new();
    let t = p
        .client
        .poll_transmit(p.now, 1, &mut buf)
        .expect("client Initial");
    let first = &buf[..t.size];
    assert_eq!(&first[1..5], &packet::VERSION_2.to_be_bytes());
    assert_eq!((first[0] >> 4) & 0x03, 0b01);
    let h = PartialHeader::parse(first, 8).unwrap();
    assert!(matches!(
        h.kind,
        packet::HeaderKind::Long {
            ty: packet::LongType::Initial,
            version: packet::VERSION_2,
            ..
        }
    ));
}

#[test]
fn v2_with_retry_works_between_our_ends() {
    let (mut c, mut s) = crate::common::configs();
    c.version(packet::VERSION_2);
    s.retry(true);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    assert!(p.handshake_and_settle());
    assert!(p.client.retried());
    let id = p.client.open(Dir::Bi).unwrap();
    let mut b = bytes::Bytes::from_static(b"v2 after retry");
    p.client.write(id, &mut b).unwrap();
    p.advance(Duration::from_millis(100));
    assert!(p.client.error().is_none() && p.server().error().is_none());
}

/// Versions of the long-header packets seen on the link, per direction.
type Seen = std::rc::Rc<std::cell::RefCell<Vec<(actix_quic::testing::Direction, u32)>>>;

/// A pair whose server prefers v2, with a link recording the version of
/// every long-header datagram.
fn pair_preferring_v2() -> (Pair, Seen, actix_quic::protocol::ClientConfig) {
    let (c, mut s) = crate::common::configs();
    s.preferred_versions(vec![packet::VERSION_2, packet::VERSION_1]);
    let seen: Seen = Default::default();
    let log = seen.clone();
    let link = Link {
        drop: Some(Box::new(move |dir, d: &[u8]| {
            if d.len() >= 5 && d[0] & 0x80 != 0 {
                let v = u32::from_be_bytes([d[1], d[2], d[3], d[4]]);
                log.borrow_mut().push((dir, v));
            }
            false
        })),
        ..Link::default()
    };
    (Pair::new(c.clone(), s, "localhost", link), seen, c)
}

#[test]
fn server_upgrades_a_client_that_lists_v2() {
    let (mut p, seen, c) = pair_preferring_v2();
    // Replace the client, before it sent anything, by one that starts in
    // v1 and lists v2 (RFC 9368 §2.3).
    p.client = actix_quic::protocol::Connection::client_with_upgrade(
        packet::VERSION_1,
        Some(packet::VERSION_2),
        &c,
        "localhost",
        p.now,
        "127.0.0.1:4433".parse().unwrap(),
        rand::SeedableRng::seed_from_u64(1),
    )
    .unwrap();
    let ok = p.handshake_and_settle();
    assert!(
        ok,
        "client {:?} server {:?} seen {:?}",
        p.client.error(),
        p.server.as_ref().map(|s| s.error().cloned()),
        seen.borrow()
    );
    assert_eq!(p.client.version(), packet::VERSION_2);
    assert_eq!(p.server().version(), packet::VERSION_2);
    let seen = seen.borrow();
    use actix_quic::testing::Direction::{ToClient, ToServer};
    assert_eq!(
        seen.first(),
        Some(&(ToServer, packet::VERSION_1)),
        "started in v1"
    );
    assert!(seen
        .iter()
        .filter(|(d, _)| *d == ToClient)
        .all(|(_, v)| *v == packet::VERSION_2));
    assert!(
        seen.contains(&(ToServer, packet::VERSION_2)),
        "the client followed"
    );
    drop(seen);
    let data = pattern(5, 0, 300_000);
    assert!(transfer(&mut p, &data, Duration::from_secs(10)) == data);
}

#[test]
fn server_preferring_v2_keeps_a_client_that_does_not_list_it() {
    let (mut p, seen, _) = pair_preferring_v2();
    assert!(p.handshake_and_settle());
    assert_eq!(p.client.version(), packet::VERSION_1);
    assert_eq!(p.server().version(), packet::VERSION_1);
    assert!(seen.borrow().iter().all(|(_, v)| *v == packet::VERSION_1));
}
