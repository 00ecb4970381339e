//! Connection ID rotation (RFC 9000 §5.1): a client switching to a new
//! CID mid-connection keeps working; retired CIDs are replaced by the
//! peer and stop routing.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::testing::Link;
use bytes::Bytes;
use std::time::Duration;

#[test]
fn not_before_the_handshake() {
    let mut p = pair(Link::default());
    assert!(!p.client.rotate_cid());
}

#[test]
fn client_rotates_its_cid_many_times_during_a_transfer() {
    let mut p = pair(Link {
        loss: 0.01,
        seed: 4,
        ..Link::default()
    });
    assert!(p.handshake_and_settle());
    let id = p.client.open(Dir::Uni).unwrap();
    let data = pattern(4, 0, 3 << 20);
    let mut sent = 0;
    let mut finished = false;
    let mut got = Vec::new();
    let mut rotations = 0;
    let mut next = 100_000;
    assert!(p.run_until(Duration::from_secs(60), |p| {
        if !finished && write_some(&mut p.client, id, &data, &mut sent) {
            p.client.finish(id).unwrap();
            finished = true;
        }
        while p.server().accept(Dir::Uni).is_some() {}
        let end = read_all(p.server(), id, &mut got);
        // A new CID every 100 kB received: more than the peer issued at
        // once, so the replacements it sends on RETIRE are used too.
        if got.len() >= next && p.client.rotate_cid() {
            rotations += 1;
            next += 100_000;
        }
        end == ReadEnd::Finished
    }));
    assert!(got == data, "data differs");
    assert!(rotations >= 20, "only {rotations} rotations");
    let s = p.server().stats();
    assert!(s.frame_rx.retire_connection_id >= rotations);
    // Each retired CID was replaced (3 issued after the handshake).
    assert!(s.frame_tx.new_connection_id >= rotations + 3 - 1);
    assert!(p.client.error().is_none() && p.server().error().is_none());
}

#[test]
fn no_spare_cid_means_no_rotation() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    // Three spares were issued; without running the link the peer cannot
    // replace them.
    for _ in 0..3 {
        assert!(p.client.rotate_cid());
    }
    assert!(!p.client.rotate_cid());
    let got = transfer(&mut p, &pattern(1, 0, 10_000), Duration::from_secs(5));
    assert_eq!(got.len(), 10_000);
    p.advance(Duration::from_millis(100));
    assert!(p.client.rotate_cid(), "replacements arrived");
    let mut b = Bytes::from_static(b"x");
    let id = p.client.open(Dir::Bi).unwrap();
    p.client.write(id, &mut b).unwrap();
    p.advance(Duration::from_millis(200));
    assert!(p.client.error().is_none() && p.server().error().is_none());
}
