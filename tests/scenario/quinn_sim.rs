//! quinn-proto (quinn's sans-IO core) on the same simulated link as our
//! pair: a quinn client and a quinn server joined by two [`SimLink`]s on
//! a virtual clock. It is the reference the scenarios' timings are held
//! against: the same link, the same seeds, the same 1 KB download.

use crate::common::{client_crypto, server_crypto};
use actix_quic::protocol::EcnCodepoint;
use actix_quic::testing::{LinkConfig, SimLink};
use bytes::BytesMut;
use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn_proto::{
    ClientConfig, Connection, ConnectionHandle, DatagramEvent, Dir, Endpoint, EndpointConfig,
    Event, ServerConfig, StreamId,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALPN: &[u8] = b"sim";

/// Towards the server (0) or the client (1).
const TO_SERVER: usize = 0;
const TO_CLIENT: usize = 1;

/// A datagram on its way: arrival time, order of sending, direction,
/// bytes, ECN bits.
type InFlight = Reverse<(Instant, u64, usize, Vec<u8>, u8)>;

/// A quinn client and server over a simulated link.
pub struct QuinnPair {
    now: Instant,
    endpoints: [Endpoint; 2],
    /// The server's connection (once accepted) and the client's.
    conns: [Option<(ConnectionHandle, Connection)>; 2],
    connected: [bool; 2],
    links: [SimLink; 2],
    queue: BinaryHeap<InFlight>,
    sent: u64,
    addrs: [SocketAddr; 2],
    buf: Vec<u8>,
}

impl QuinnPair {
    /// A pair whose both directions behave as `link`, seeded with `seed`.
    pub fn new(link: LinkConfig, seed: u64) -> Self {
        let now = Instant::now();
        let (server_tls, cert) = server_crypto(&[ALPN]);
        let server_config =
            ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(server_tls).unwrap()));
        let endpoint = |i: u8, server: Option<Arc<ServerConfig>>| {
            let mut config = EndpointConfig::default();
            config.rng_seed(Some([i; 32]));
            Endpoint::new(Arc::new(config), server, true, None)
        };
        let server_ep = endpoint(1, Some(Arc::new(server_config)));
        let mut client_ep = endpoint(2, None);
        let addrs: [SocketAddr; 2] = [
            "127.0.0.1:4433".parse().unwrap(),
            "127.0.0.1:5000".parse().unwrap(),
        ];
        let client_config = ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(client_crypto(&cert, &[ALPN])).unwrap(),
        ));
        let client = client_ep
            .connect(now, client_config, addrs[0], "localhost")
            .expect("connect");
        Self {
            now,
            endpoints: [server_ep, client_ep],
            conns: [None, Some(client)],
            connected: [false; 2],
            links: [
                SimLink::new(link.clone(), seed, now),
                SimLink::new(link, seed ^ 0x5eed, now),
            ],
            queue: BinaryHeap::new(),
            sent: 0,
            addrs,
            buf: Vec::new(),
        }
    }

    /// Datagrams the links dropped, both ways.
    pub fn dropped(&self) -> u64 {
        self.links.iter().map(|l| l.stats().dropped()).sum()
    }

    /// Puts a datagram on the link towards `dir`'s receiver.
    fn send(&mut self, dir: usize, data: Vec<u8>, ecn: Option<quinn_proto::EcnCodepoint>) {
        let ecn = ecn.and_then(|c| EcnCodepoint::from_bits(c as u8));
        if let Ok((first, copy)) = self.links[dir].send(self.now, data, ecn) {
            for d in std::iter::once(first).chain(copy) {
                self.sent += 1;
                let bits = d.ecn.map_or(0, EcnCodepoint::bits);
                self.queue
                    .push(Reverse((d.at, self.sent, dir, d.data, bits)));
            }
        }
    }

    /// Lets both connections send what they have, and serves their
    /// endpoint events and application events.
    fn flush(&mut self) {
        for side in [TO_SERVER, TO_CLIENT] {
            let now = self.now;
            let Some((ch, c)) = self.conns[side].as_mut() else {
                continue;
            };
            let mut out = Vec::new();
            loop {
                while let Some(ev) = c.poll_endpoint_events() {
                    if let Some(cev) = self.endpoints[side].handle_event(*ch, ev) {
                        c.handle_event(cev);
                    }
                }
                self.buf.clear();
                match c.poll_transmit(now, 1, &mut self.buf) {
                    Some(t) => out.push((self.buf[..t.size].to_vec(), t.ecn)),
                    None => break,
                }
            }
            while let Some(ev) = c.poll() {
                match ev {
                    Event::Connected => self.connected[side] = true,
                    Event::ConnectionLost { reason } => panic!("quinn connection lost: {reason}"),
                    _ => {}
                }
            }
            // The server's datagrams go towards the client, and back.
            for (d, ecn) in out {
                self.send(1 - side, d, ecn);
            }
        }
    }

    /// Delivers a datagram to the receiver of direction `dir`.
    fn deliver(&mut self, dir: usize, data: Vec<u8>, ecn: u8) {
        let from = self.addrs[1 - dir];
        let now = self.now;
        self.buf.clear();
        let ecn = quinn_proto::EcnCodepoint::from_bits(ecn);
        let data = BytesMut::from(&data[..]);
        let event = self.endpoints[dir].handle(now, from, None, ecn, data, &mut self.buf);
        match event {
            Some(DatagramEvent::ConnectionEvent(_, ev)) => {
                if let Some((_, c)) = self.conns[dir].as_mut() {
                    c.handle_event(ev);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                let mut buf = Vec::new();
                match self.endpoints[dir].accept(incoming, now, &mut buf, None) {
                    Ok(conn) => self.conns[TO_SERVER] = Some(conn),
                    Err(e) => {
                        if let Some(t) = e.response {
                            self.send(1 - dir, buf[..t.size].to_vec(), None);
                        }
                    }
                }
            }
            Some(DatagramEvent::Response(t)) => {
                let d = self.buf[..t.size].to_vec();
                self.send(1 - dir, d, None);
            }
            None => {}
        }
    }

    /// Advances to the next event (a delivery or a timer); false when
    /// nothing is left to happen.
    fn step(&mut self) -> bool {
        self.flush();
        let mut next = self.queue.peek().map(|Reverse((t, ..))| *t);
        for side in [TO_SERVER, TO_CLIENT] {
            if let Some(t) = self.conns[side]
                .as_mut()
                .and_then(|(_, c)| c.poll_timeout())
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        while self
            .queue
            .peek()
            .is_some_and(|Reverse((t, ..))| *t <= self.now)
        {
            let Reverse((_, _, dir, data, ecn)) = self.queue.pop().unwrap();
            self.deliver(dir, data, ecn);
        }
        let now = self.now;
        for side in [TO_SERVER, TO_CLIENT] {
            if let Some((_, c)) = self.conns[side].as_mut() {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
            }
        }
        true
    }

    /// Completes the handshake, then has the server send `size` bytes on
    /// a unidirectional stream that the client reads to its end; returns
    /// the virtual time it all took, or `None` past `limit`.
    pub fn download(&mut self, size: usize, limit: Duration) -> Option<Duration> {
        let t0 = self.now;
        let deadline = t0 + limit;
        while !(self.connected[TO_SERVER] && self.connected[TO_CLIENT]) {
            if self.now > deadline || !self.step() {
                return None;
            }
        }
        let id: StreamId = {
            let (_, s) = self.conns[TO_SERVER].as_mut().expect("connected");
            let id = s.streams().open(Dir::Uni).expect("stream credit");
            let written = s.send_stream(id).write(&vec![7u8; size]).expect("write");
            assert_eq!(written, size, "the stream window takes 1 KB");
            s.send_stream(id).finish().expect("finish");
            id
        };
        let mut accepted = false;
        let mut received = 0;
        loop {
            self.flush();
            let (_, c) = self.conns[TO_CLIENT].as_mut().expect("the client");
            if !accepted {
                accepted = c.streams().accept(Dir::Uni) == Some(id);
            }
            if accepted {
                let mut stream = c.recv_stream(id);
                let mut finished = false;
                if let Ok(mut chunks) = stream.read(true) {
                    while let Ok(next) = chunks.next(usize::MAX) {
                        match next {
                            Some(chunk) => received += chunk.bytes.len(),
                            None => {
                                finished = true;
                                break;
                            }
                        }
                    }
                    let _ = chunks.finalize();
                }
                if finished {
                    assert_eq!(received, size);
                    return Some(self.now - t0);
                }
            }
            if self.now > deadline || !self.step() {
                return None;
            }
        }
    }
}
