//! The server endpoint (`protocol::endpoint::Endpoint::handle`) on
//! arbitrary datagrams, and the connections it accepts.
//!
//! Input: byte 0 picks the mode (modulo 3), the rest is split into
//! records (`Records`: tag, u16 length, bytes).
//! - mode 0: each record is a raw datagram from one of four addresses.
//! - mode 1: each record is the *plaintext* of a client Initial that the
//!   `actix_quic_fuzz::client_initial` seals with the Initial keys of a
//!   DCID taken from the input, so the endpoint authenticates it, accepts a connection and
//!   the server connection parses arbitrary frames (and TLS messages in
//!   CRYPTO frames) from an authentic Initial. A record tag with the top
//!   bit set is sent raw instead, to mix garbage in.
//! - mode 2: the records are edits (overwrite, insert, truncate at an
//!   offset) of a real client's decrypted first Initial (CRYPTO frames
//!   with a ClientHello and its transport parameters), which is then
//!   sealed in an authentic Initial: the server's TLS and transport
//!   parameter handling see inputs close to valid ones.
//!
//! Whatever the endpoint accepts is fed the datagram and driven on a
//! virtual clock; routed datagrams reach their connection.
#![no_main]

use actix_quic::protocol::Connection;
use actix_quic::protocol::ConnectionId;
use actix_quic::protocol::{ConnectionHandle, DatagramEvent, Endpoint};
use actix_quic_fuzz::{client_hello, client_initial, server_config, Records};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Connections kept alive at once; older ones are forgotten.
const MAX_CONNS: usize = 4;

struct Server {
    ep: Endpoint,
    conns: Vec<(ConnectionHandle, Connection)>,
    now: Instant,
    buf: Vec<u8>,
}

impl Server {
    fn deliver(&mut self, from: SocketAddr, d: &[u8]) {
        match self.ep.handle(self.now, from, d) {
            DatagramEvent::Route(h) => {
                if let Some((_, c)) = self.conns.iter_mut().find(|(x, _)| *x == h) {
                    c.handle_datagram(self.now, from, BytesMut::from(d));
                }
            }
            DatagramEvent::NewConnection(incoming) => {
                // Every decision, chosen by the datagram's last byte.
                match d.last().map_or(0, |b| b % 4) {
                    0 => assert!(!self.ep.refuse(*incoming).is_empty()),
                    1 => {
                        let _ = self.ep.retry(*incoming, self.now);
                    }
                    2 => self.ep.ignore(*incoming),
                    _ => {
                        if let Ok((h, c)) = self.ep.accept(*incoming, self.now, None) {
                            if self.conns.len() >= MAX_CONNS {
                                let (old, _) = self.conns.remove(0);
                                self.ep.forget(old);
                            }
                            self.conns.push((h, *c));
                        }
                    }
                }
            }
            DatagramEvent::Respond(r) => {
                assert!(!r.is_empty());
            }
            DatagramEvent::Drop => {}
        }
        self.drive();
    }

    /// Drains what the connections want to do, with a bound.
    fn drive(&mut self) {
        let now = self.now;
        for (h, c) in self.conns.iter_mut() {
            for _ in 0..8 {
                if c.poll_transmit(now, 4, &mut self.buf).is_none() {
                    break;
                }
            }
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
            while let Some(e) = c.poll_endpoint_event() {
                self.ep.handle_event(*h, e);
            }
            while c.poll_event().is_some() {}
        }
        self.conns.retain(|(_, c)| !c.is_drained());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let addrs: [SocketAddr; 4] = [
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:40001".parse().unwrap(),
        "[::1]:40000".parse().unwrap(),
        "10.0.0.1:443".parse().unwrap(),
    ];
    let mut server = Server {
        ep: Endpoint::new(
            actix_quic::protocol::EndpointConfig::new(),
            Some(server_config()),
            [7; 32],
        ),
        conns: Vec::new(),
        now: Instant::now(),
        buf: Vec::new(),
    };
    let mut records = Records::new(rest, 4096);
    match mode % 3 {
        0 => {
            for (tag, d) in records {
                server.now += Duration::from_millis(u64::from(tag >> 2));
                server.deliver(addrs[usize::from(tag & 3)], d);
            }
        }
        1 => {
            // A DCID of 8..=20 bytes and an optional token from the first record.
            let (_, head) = records.next().unwrap_or((0, &[]));
            let dcid_len = 8 + usize::from(mode / 3) % 13;
            let mut dcid_bytes = [0x5a; 20];
            for (d, s) in dcid_bytes.iter_mut().zip(head) {
                *d = *s;
            }
            let dcid = ConnectionId::new(&dcid_bytes[..dcid_len]).expect("<= 20 bytes");
            let scid = ConnectionId::new(&dcid_bytes[dcid_len.min(12)..][..8]).expect("8 bytes");
            let token = head.get(dcid_len..).unwrap_or(&[]);
            let token = &token[..token.len().min(64)];
            for (pn, (tag, payload)) in records.enumerate() {
                server.now += Duration::from_millis(u64::from(tag & 0x0f));
                let from = addrs[usize::from((tag >> 4) & 1)];
                if tag & 0x80 != 0 {
                    server.deliver(from, payload);
                } else if let Some(d) = client_initial(&dcid, &scid, token, pn as u64, payload) {
                    server.deliver(from, &d);
                }
            }
        }
        _ => {
            let hello = client_hello();
            let mut payload = hello.payload.clone();
            for (tag, edit) in records {
                let Some((at, bytes)) = edit.split_first_chunk::<2>() else {
                    continue;
                };
                let at = usize::from(u16::from_le_bytes(*at)) % (payload.len() + 1);
                match tag % 3 {
                    0 => {
                        let end = (at + bytes.len()).min(payload.len());
                        payload[at..end].copy_from_slice(&bytes[..end - at]);
                    }
                    1 => {
                        payload.splice(at..at, bytes.iter().copied());
                    }
                    _ => payload.truncate(at),
                }
            }
            let dcid = ConnectionId::new(&[0x5a; 8]).expect("8 bytes");
            if let Some(d) = client_initial(&dcid, &hello.scid, &[], 0, &payload) {
                server.deliver(addrs[0], &d);
            }
        }
    }
    // Let the timers run out a little.
    for _ in 0..4 {
        let Some(t) = server
            .conns
            .iter()
            .filter_map(|(_, c)| c.poll_timeout())
            .min()
        else {
            break;
        };
        server.now = server.now.max(t);
        server.drive();
    }
});
