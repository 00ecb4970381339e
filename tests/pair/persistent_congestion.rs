//! Persistent congestion (RFC 9002 §7.6): a long outage in the middle of a
//! transfer collapses the window to the minimum; short losses do not.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::testing::Link;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Runs a client-to-server transfer, cutting the link for `outage` once
/// 200 kB have arrived; returns the smallest client window seen after the
/// outage and the bytes the server got.
fn transfer_with_outage(outage: Duration) -> (u64, usize) {
    let cut = Rc::new(Cell::new(false));
    let c = cut.clone();
    let link = Link {
        drop: Some(Box::new(move |_, _| c.get())),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.handshake());
    let data = pattern(1, 0, 4 * 1024 * 1024);
    let id = p.client.open(Dir::Uni).unwrap();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut min_window = u64::MAX;
    let mut phase = 0;
    let deadline = p.now + Duration::from_secs(120);
    while got.len() < data.len() && p.now < deadline {
        if write_some(&mut p.client, id, &data, &mut sent) && sent == data.len() {
            let _ = p.client.finish(id);
        }
        if let Some(s) = p.server.as_mut() {
            let _ = s.accept(Dir::Uni);
            read_all(s, id, &mut got);
        }
        if phase == 0 && got.len() > 200_000 {
            phase = 1;
            cut.set(true);
            let start = p.now;
            p.run_until(outage, |p| p.now >= start + outage);
            cut.set(false);
        }
        if phase == 1 {
            min_window = min_window.min(p.client.congestion_state().window);
        }
        if !p.step() {
            break;
        }
    }
    assert!(got == data, "transfer incomplete: {} bytes", got.len());
    (min_window, got.len())
}

#[test]
fn long_outage_is_persistent_congestion() {
    let (min_window, _) = transfer_with_outage(Duration::from_secs(3));
    assert_eq!(min_window, 2 * 1200, "window did not collapse");
}

#[test]
fn brief_outage_is_not_persistent_congestion() {
    // 30 ms: a few packets lost, well under 3 PTOs.
    let (min_window, _) = transfer_with_outage(Duration::from_millis(30));
    assert!(min_window > 2 * 1200, "window collapsed: {min_window}");
}
