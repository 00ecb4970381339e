//! Resource pinning by a hostile peer (RFC 9000 §21.7), measured with
//! the per-thread allocation counter: what a connection holds stays
//! within its configured windows plus a fixed bound, and a stuck peer
//! is closed by the idle timeout.

use crate::alloc_count::live;
use crate::util::*;
use actix_quic::protocol::frame::Frame;
use actix_quic::protocol::{Dir, SpaceId, TransportConfig, TransportErrorCode};
use actix_quic::testing::{Direction, Link, Pair};
use bytes::Bytes;
use std::time::Duration;

/// The client sends `frame(offset)` (one byte) at every other offset from
/// `from` to `to`, about a thousand bytes of frames per packet of
/// `space`, until the server closes. Returns the offset reached.
fn send_fragments(
    p: &mut Pair,
    space: SpaceId,
    from: u64,
    to: u64,
    frame: impl Fn(u64) -> Frame,
) -> u64 {
    let mut offset = from;
    while offset < to && p.server().error().is_none() {
        let mut payload = Vec::new();
        while payload.len() < 1000 && offset < to {
            frame(offset).encode(&mut payload);
            offset += 2;
        }
        let d = p.client.seal_raw_packet_for_test(space, &payload).unwrap();
        p.inject(Direction::ToServer, d);
        p.advance(Duration::from_millis(1));
    }
    offset
}

/// The client sends one byte at every other offset of a stream, up to
/// the end of the window: gaps the server can never fill. The server
/// holds at most the window plus a fixed bound, or closes the connection
/// for too many fragments (RFC 9000 §21.7: "limiting the size of
/// tracking data structures").
#[test]
fn gaps_that_never_fill_pin_no_more_than_the_window() {
    const WINDOW: u32 = 256 * 1024;
    let mut p = pair_with(
        small_windows(u64::from(WINDOW)),
        small_windows(u64::from(WINDOW)),
        Link::default(),
    );
    assert!(p.handshake_and_settle());
    let id = p.client.open(Dir::Uni).unwrap();
    let before = live();
    let offset = send_fragments(&mut p, SpaceId::Data, 1, u64::from(WINDOW), |offset| {
        Frame::Stream {
            id,
            offset,
            fin: false,
            data: Bytes::from_static(b"x"),
        }
    });
    let held = live() - before;
    eprintln!("fragments: closed at offset {offset}, {held} bytes held");
    let bound = WINDOW as isize + 512 * 1024;
    assert!(held < bound, "{held} bytes held for a {WINDOW}-byte window");
    assert!(offset < u64::from(WINDOW) / 4, "closed early: {offset}");
    assert_local_error(p.server().error(), TransportErrorCode::PROTOCOL_VIOLATION);
}

/// The server's application writes 1 MiB on each of the 100 streams a
/// peer opened, and the peer never reads: the server holds at most its
/// send window (`send_window`, here 2 MiB) plus a fixed bound, and the
/// writes wait.
#[test]
fn a_peer_that_never_reads_pins_no_more_than_the_send_window() {
    const SEND_WINDOW: u64 = 2 * 1024 * 1024;
    let mut server = TransportConfig::default();
    server.send_window(SEND_WINDOW);
    let mut p = pair_with(small_windows(64 * 1024), server, Link::default());
    assert!(p.handshake_and_settle());
    for _ in 0..100 {
        let id = p.client.open(Dir::Bi).unwrap();
        p.client.write(id, &mut Bytes::from_static(b"GET")).unwrap();
    }
    p.advance(Duration::from_millis(100));
    let response = vec![7u8; 1024 * 1024];
    let before = live();
    let mut written = 0;
    let mut streams = Vec::new();
    while let Some(id) = p.server().accept(Dir::Bi) {
        streams.push(id);
    }
    assert_eq!(streams.len(), 100);
    for _ in 0..20 {
        for &id in &streams {
            let mut sent = 0;
            write_some(p.server(), id, &response, &mut sent);
            written += sent;
        }
        p.advance(Duration::from_millis(200));
    }
    let held = live() - before;
    eprintln!("never reads: {written} bytes taken, {held} bytes held");
    assert!(written as u64 <= SEND_WINDOW + 64 * 1024, "{written} taken");
    let bound = SEND_WINDOW as isize + 512 * 1024;
    assert!(
        held < bound,
        "{held} bytes held for a {SEND_WINDOW}-byte send window"
    );
    assert!(p.server().error().is_none());
}

/// After the handshake the peer goes silent (nothing it sends arrives,
/// so nothing is acknowledged) while the server's application keeps
/// writing: the server holds at most its send window, and the idle
/// timeout closes the connection.
#[test]
fn a_peer_that_never_acknowledges_is_closed_by_the_idle_timeout() {
    const SEND_WINDOW: u64 = 1024 * 1024;
    let mut server = TransportConfig::default();
    server
        .send_window(SEND_WINDOW)
        .max_idle_timeout(Some(Duration::from_secs(5).try_into().unwrap()));
    let silent = std::rc::Rc::new(std::cell::Cell::new(false));
    let s = silent.clone();
    let link = Link {
        drop: Some(Box::new(move |dir, _| {
            dir == Direction::ToServer && s.get()
        })),
        ..Link::default()
    };
    let mut p = pair_with(TransportConfig::default(), server, link);
    assert!(p.handshake_and_settle());
    let id = p.server().open(Dir::Uni).unwrap();
    silent.set(true);
    let data = vec![1u8; 256 * 1024];
    let before = live();
    let start = p.now;
    while p.server().error().is_none() && p.now - start < Duration::from_secs(30) {
        let mut sent = 0;
        if p.server().error().is_none() {
            write_some(p.server(), id, &data, &mut sent);
        }
        let held = live() - before;
        assert!(
            held < (SEND_WINDOW + 512 * 1024) as isize,
            "{held} bytes held"
        );
        p.advance(Duration::from_millis(250));
    }
    let closed_after = p.now - start;
    eprintln!("never acknowledges: closed after {closed_after:?}");
    assert!(
        matches!(
            p.server().error(),
            Some(actix_quic::protocol::ConnectionError::TimedOut)
        ),
        "{:?}",
        p.server().error()
    );
    assert!(closed_after <= Duration::from_secs(7), "{closed_after:?}");
}

/// The same attack on the handshake: a client's Initial CRYPTO data in
/// one-byte fragments with gaps. The server closes with
/// CRYPTO_BUFFER_EXCEEDED after a few hundred, holding little.
#[test]
fn crypto_fragments_are_bounded_before_the_handshake() {
    // The client hears nothing back, so it keeps its Initial keys.
    let link = Link {
        drop: Some(Box::new(|dir, _| dir == Direction::ToClient)),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.run_until(Duration::from_secs(5), |p| p.server.is_some()));
    let before = live();
    send_fragments(&mut p, SpaceId::Initial, 5000, 30_000, |offset| {
        Frame::Crypto {
            offset,
            data: Bytes::from_static(b"x"),
        }
    });
    let held = live() - before;
    eprintln!("CRYPTO fragments: {held} bytes held");
    assert!(held < 128 * 1024, "{held} bytes held");
    assert_local_error(
        p.server().error(),
        TransportErrorCode::CRYPTO_BUFFER_EXCEEDED,
    );
}
