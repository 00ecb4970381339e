//! A connection under attack after a valid handshake.
//!
//! Every input builds a fresh client/server `Pair` on the virtual clock
//! and completes the handshake (the certificate and rustls configurations
//! are made once per process; `Connection` is not `Sync`, so the pair
//! itself cannot be). The input is then split into records (`Records`:
//! tag, u16 length, bytes), each one of:
//!
//! - a raw datagram handed straight to the server connection
//!   (`handle_datagram`), or to the client connection;
//! - a raw datagram put on the wire to the server, so it goes through the
//!   server endpoint's routing (stateless reset detection, CID routes);
//! - raw frame bytes sealed in a valid 1-RTT packet
//!   (`seal_raw_packet_for_test(SpaceId::Data, ..)`) by the client for the
//!   server, or by the server for the client: the receiver authenticates
//!   the packet and parses and acts on arbitrary frames;
//! - well-behaved application traffic (a stream opened, written, finished;
//!   a datagram), so hostile frames meet live stream state.
//!
//! After each record the pair steps a little, and both applications accept
//! and read every stream (echoing on bidirectional ones). Nothing may
//! panic, and the virtual clock must never get stuck (`Pair::step` checks).
#![no_main]

use actix_quic::protocol::Connection;
use actix_quic::protocol::Dir;
use actix_quic::protocol::SpaceId;
use actix_quic::protocol::StreamId;
use actix_quic::testing::{Direction, Link, Pair};
use actix_quic_fuzz::{client_config, server_config, Records};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

/// The addresses `Pair` uses for its two ends.
const CLIENT_ADDR: &str = "127.0.0.1:40000";
const SERVER_ADDR: &str = "127.0.0.1:4433";

/// Streams an application has seen, read until they end.
#[derive(Default)]
struct App {
    streams: Vec<StreamId>,
}

impl App {
    /// Accepts new streams, reads everything readable (echoing it on
    /// bidirectional streams the peer opened), drains datagrams and events.
    fn run(&mut self, conn: &mut Connection) {
        for dir in [Dir::Bi, Dir::Uni] {
            while let Some(id) = conn.accept(dir) {
                if self.streams.len() < 64 {
                    self.streams.push(id);
                }
            }
        }
        let mut done = Vec::new();
        for &id in &self.streams {
            for _ in 0..16 {
                match conn.read(id, 4096) {
                    Ok(Some(data)) => {
                        if id.dir() == Dir::Bi {
                            let mut d = data;
                            let _ = conn.write(id, &mut d);
                        }
                    }
                    Ok(None) => {
                        let _ = conn.finish(id);
                        done.push(id);
                        break;
                    }
                    Err(actix_quic::protocol::ReadFailure::Blocked) => break,
                    Err(_) => {
                        done.push(id);
                        break;
                    }
                }
            }
        }
        self.streams.retain(|id| !done.contains(id));
        while conn.read_datagram().is_some() {}
        while conn.poll_event().is_some() {}
    }
}

fuzz_target!(|data: &[u8]| {
    let client_addr: SocketAddr = CLIENT_ADDR.parse().unwrap();
    let server_addr: SocketAddr = SERVER_ADDR.parse().unwrap();
    let mut pair = Pair::new(
        client_config(),
        server_config(),
        "localhost",
        Link::default(),
    );
    assert!(pair.handshake_and_settle(), "handshake failed");
    let (mut client_app, mut server_app) = (App::default(), App::default());

    for (tag, rec) in Records::new(data, 2048) {
        let now = pair.now;
        match tag % 8 {
            0 => pair
                .server()
                .handle_datagram(now, client_addr, BytesMut::from(rec)),
            1 => pair.inject(Direction::ToServer, rec.to_vec()),
            2 | 3 => {
                if let Some(d) = pair.client.seal_raw_packet_for_test(SpaceId::Data, rec) {
                    pair.inject(Direction::ToServer, d);
                }
            }
            4 => {
                if let Some(d) = pair.server().seal_raw_packet_for_test(SpaceId::Data, rec) {
                    pair.inject(Direction::ToClient, d);
                }
            }
            5 => pair
                .client
                .handle_datagram(now, server_addr, BytesMut::from(rec)),
            6 => {
                // Well-behaved traffic from the client.
                let dir = if rec.first().is_some_and(|b| b & 1 == 1) {
                    Dir::Uni
                } else {
                    Dir::Bi
                };
                if let Some(id) = pair.client.open(dir) {
                    let mut d = Bytes::copy_from_slice(rec);
                    let _ = pair.client.write(id, &mut d);
                    let _ = pair.client.finish(id);
                    if dir == Dir::Bi {
                        client_app.streams.push(id);
                    }
                }
            }
            _ => {
                let _ = pair.client.send_datagram(Bytes::copy_from_slice(rec));
                let _ = pair.server().send_datagram(Bytes::copy_from_slice(rec));
            }
        }
        for _ in 0..1 + (tag >> 3) % 4 {
            if !pair.step() {
                break;
            }
            client_app.run(&mut pair.client);
            server_app.run(pair.server());
        }
    }
    // Let what was started play out, boundedly.
    for _ in 0..64 {
        if !pair.step() {
            break;
        }
        client_app.run(&mut pair.client);
        server_app.run(pair.server());
    }
});
