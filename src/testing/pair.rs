//! Two sans-IO endpoints joined by a simulated link with a virtual clock.
//!
//! No sockets and no real time: [`Pair::step`] delivers what is due and
//! jumps the clock to the next deadline, so a whole transfer with delays
//! and losses runs in milliseconds and the same way every time.
//!
//! The link can drop chosen datagrams ([`Link::drop`]) and, from a seed,
//! drop, delay (and so reorder), duplicate and corrupt datagrams at random
//! ([`Link::loss`], [`Link::jitter`], [`Link::duplicate`],
//! [`Link::corrupt`]). Construct it with `..Link::default()` so new knobs
//! keep old tests compiling.

use crate::protocol::connection::{Connection, Event};
use crate::protocol::endpoint::{
    ClientConfig, ConnectionHandle, DatagramEvent, Endpoint, ServerConfig,
};
use bytes::BytesMut;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

/// A filter deciding, per datagram, whether the link drops it.
pub type DropFn = Box<dyn FnMut(Direction, &[u8]) -> bool>;

/// Link properties.
pub struct Link {
    /// One-way delay.
    pub delay: Duration,
    /// Returns true to drop a datagram. Sees every datagram once, in
    /// sending order, before the random impairments below.
    pub drop: Option<DropFn>,
    /// Seed of the random impairments; the same seed gives the same run.
    pub seed: u64,
    /// Probability of dropping each datagram.
    pub loss: f64,
    /// Each datagram is delayed by a further random amount up to this,
    /// which reorders datagrams sent closer together than `jitter`.
    pub jitter: Duration,
    /// Probability of delivering a datagram twice.
    pub duplicate: f64,
    /// Probability of flipping one random bit of a datagram.
    pub corrupt: f64,
    /// Datagrams larger than this are dropped (a path MTU).
    pub max_datagram: usize,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            drop: None,
            seed: 0x5eed,
            loss: 0.0,
            jitter: Duration::ZERO,
            duplicate: 0.0,
            corrupt: 0.0,
            max_datagram: usize::MAX,
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("delay", &self.delay)
            .field("seed", &self.seed)
            .field("loss", &self.loss)
            .field("jitter", &self.jitter)
            .field("duplicate", &self.duplicate)
            .field("corrupt", &self.corrupt)
            .field("max_datagram", &self.max_datagram)
            .finish()
    }
}

/// A small deterministic generator (SplitMix64), so runs do not depend
/// on any other crate's algorithm choices.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }

    /// An integer in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// A datagram on the wire: arrival time, sending order, direction, bytes.
type InFlight = Reverse<(Instant, u64, Direction, Vec<u8>)>;

/// Steps in a row without the clock moving before [`Pair::step`] decides
/// a timer is stuck in the past (a busy loop in a real event loop).
const MAX_STEPS_WITHOUT_PROGRESS: u32 = 10_000;

/// A client and a server connection on a simulated link.
pub struct Pair {
    /// The virtual clock.
    pub now: Instant,
    /// The link.
    pub link: Link,
    /// The client connection.
    pub client: Connection,
    /// The server connection, once the first Initial arrived.
    pub server: Option<Connection>,
    server_endpoint: Endpoint,
    server_handle: Option<ConnectionHandle>,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    /// Datagrams on the wire, ordered by arrival time, then sending order.
    in_flight: BinaryHeap<InFlight>,
    seq: u64,
    rng: SplitMix,
    /// Events the client produced, in order.
    pub client_events: Vec<Event>,
    /// Events the server produced, in order.
    pub server_events: Vec<Event>,
    /// Datagrams sent each way (indexed by `Direction as usize`).
    pub datagrams: [u64; 2],
    /// Datagrams the link dropped each way.
    pub dropped: [u64; 2],
    /// Datagrams the server endpoint answered without a connection.
    pub endpoint_responses: u64,
    buf: Vec<u8>,
    stalled_steps: u32,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("client", &self.client)
            .field("server", &self.server)
            .field("link", &self.link)
            .finish()
    }
}

impl Pair {
    /// Starts a client connecting to a server with these configurations.
    pub fn new(client: ClientConfig, server: ServerConfig, server_name: &str, link: Link) -> Self {
        let now = Instant::now();
        let client_addr: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let server_addr: SocketAddr = "127.0.0.1:4433".parse().expect("addr");
        let mut client_endpoint = Endpoint::new(None);
        let (_, conn) = client_endpoint
            .connect(now, &client, server_addr, server_name)
            .expect("client config valid");
        let rng = SplitMix::new(link.seed);
        Self {
            now,
            link,
            client: conn,
            server: None,
            server_endpoint: Endpoint::new(Some(server)),
            server_handle: None,
            client_addr,
            server_addr,
            in_flight: BinaryHeap::new(),
            seq: 0,
            rng,
            client_events: Vec::new(),
            server_events: Vec::new(),
            datagrams: [0; 2],
            dropped: [0; 2],
            endpoint_responses: 0,
            buf: Vec::new(),
            stalled_steps: 0,
        }
    }

    /// The server connection; panics before it exists.
    pub fn server(&mut self) -> &mut Connection {
        self.server.as_mut().expect("server connection exists")
    }

    /// The server's endpoint (routing table).
    pub fn server_endpoint(&mut self) -> &mut Endpoint {
        &mut self.server_endpoint
    }

    /// Datagrams on the wire right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Puts everything both sides want to send on the wire and collects
    /// their events, without moving the clock.
    pub fn send_ready(&mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(t) = self.client.poll_transmit(self.now, 16, &mut self.buf) {
            self.enqueue(Direction::ToServer, t.size, t.segment_size);
        }
        while self.client.poll_endpoint_event().is_some() {}
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        if self.server.is_some() {
            loop {
                let now = self.now;
                let server = self.server.as_mut().expect("checked");
                let Some(t) = server.poll_transmit(now, 16, &mut self.buf) else {
                    break;
                };
                self.enqueue(Direction::ToClient, t.size, t.segment_size);
            }
            let server = self.server.as_mut().expect("checked");
            while let Some(e) = server.poll_endpoint_event() {
                if let Some(h) = self.server_handle {
                    self.server_endpoint.handle_event(h, e);
                }
            }
            while let Some(e) = server.poll_event() {
                self.server_events.push(e);
            }
        }
    }

    fn enqueue(&mut self, dir: Direction, size: usize, segment: Option<usize>) {
        let buf = std::mem::take(&mut self.buf);
        let seg = segment.unwrap_or(size).max(1);
        for d in buf[..size].chunks(seg) {
            self.send(dir, d.to_vec());
        }
        self.buf = buf;
    }

    /// Puts one datagram on the link, through the link's impairments.
    fn send(&mut self, dir: Direction, mut d: Vec<u8>) {
        self.datagrams[dir as usize] += 1;
        if let Some(f) = self.link.drop.as_mut() {
            if f(dir, &d) {
                self.dropped[dir as usize] += 1;
                return;
            }
        }
        if d.len() > self.link.max_datagram || self.rng.chance(self.link.loss) {
            self.dropped[dir as usize] += 1;
            return;
        }
        if !d.is_empty() && self.rng.chance(self.link.corrupt) {
            let bit = self.rng.below(d.len() as u64 * 8);
            d[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        let copies = if self.rng.chance(self.link.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.link.jitter.as_nanos() as u64;
            let extra = Duration::from_nanos(self.rng.below(jitter + 1));
            self.push(self.now + self.link.delay + extra, dir, d.clone());
        }
    }

    fn push(&mut self, at: Instant, dir: Direction, d: Vec<u8>) {
        self.seq += 1;
        self.in_flight.push(Reverse((at, self.seq, dir, d)));
    }

    /// Puts raw bytes on the wire as if sent now (after the link delay),
    /// bypassing the impairments: for hostile-input tests.
    pub fn inject(&mut self, dir: Direction, data: Vec<u8>) {
        self.push(self.now + self.link.delay, dir, data);
    }

    fn deliver(&mut self, dir: Direction, data: Vec<u8>) {
        match dir {
            Direction::ToServer => {
                match self
                    .server_endpoint
                    .handle(self.now, self.client_addr, &data)
                {
                    DatagramEvent::Route(h) => {
                        if self.server_handle == Some(h) {
                            if let Some(s) = self.server.as_mut() {
                                s.handle_datagram(
                                    self.now,
                                    self.client_addr,
                                    BytesMut::from(&data[..]),
                                );
                            }
                        }
                    }
                    DatagramEvent::NewConnection(h, mut conn) => {
                        // A corrupted first Initial (a flipped DCID bit)
                        // makes a connection that never authenticates
                        // anything; a real endpoint keeps both, this one
                        // simulates one server connection, so it replaces
                        // such a dud.
                        let dud = self
                            .server
                            .as_ref()
                            .is_some_and(|s| s.stats().packets_received == 0);
                        if dud {
                            if let Some(old) = self.server_handle.take() {
                                self.server_endpoint.forget(old);
                            }
                            self.server = None;
                        }
                        if self.server.is_none() {
                            conn.handle_datagram(
                                self.now,
                                self.client_addr,
                                BytesMut::from(&data[..]),
                            );
                            self.server = Some(*conn);
                            self.server_handle = Some(h);
                        } else {
                            // Only one server connection is simulated.
                            self.server_endpoint.forget(h);
                        }
                    }
                    DatagramEvent::Respond(bytes) => {
                        self.endpoint_responses += 1;
                        self.push(self.now + self.link.delay, Direction::ToClient, bytes);
                    }
                    DatagramEvent::Drop => {}
                }
            }
            Direction::ToClient => {
                self.client
                    .handle_datagram(self.now, self.server_addr, BytesMut::from(&data[..]));
            }
        }
    }

    /// The earliest time something happens: a delivery or a timer.
    pub fn next_event_time(&self) -> Option<Instant> {
        [
            self.in_flight.peek().map(|Reverse((t, ..))| *t),
            self.client.poll_timeout(),
            self.server.as_ref().and_then(|s| s.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends what is ready, then advances the clock to the next event and
    /// handles it. Returns false when nothing is left to happen.
    ///
    /// Panics if the clock stops moving for many steps in a row: a timer
    /// that stays in the past after `handle_timeout` would make a real
    /// event loop spin.
    pub fn step(&mut self) -> bool {
        self.step_until(None)
    }

    /// [`Pair::step`], but never moves the clock past `limit`: when the
    /// next event is later, the clock stops at `limit` and nothing is
    /// handled.
    fn step_until(&mut self, limit: Option<Instant>) -> bool {
        self.flush();
        let Some(next) = self.next_event_time() else {
            if let Some(l) = limit {
                self.now = self.now.max(l);
            }
            return false;
        };
        if let Some(l) = limit.filter(|l| next > *l) {
            self.now = self.now.max(l);
            return false;
        }
        if next > self.now {
            self.now = next;
            self.stalled_steps = 0;
        } else {
            self.stalled_steps += 1;
            assert!(
                self.stalled_steps < MAX_STEPS_WITHOUT_PROGRESS,
                "virtual clock stuck at a timer in the past: client {:?} server {:?}",
                self.client.poll_timeout().map(|t| self.now - t),
                self.server
                    .as_ref()
                    .and_then(|s| s.poll_timeout())
                    .map(|t| self.now - t),
            );
        }
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse((t, ..))| *t <= self.now)
        {
            let Reverse((_, _, dir, data)) = self.in_flight.pop().expect("checked");
            self.deliver(dir, data);
        }
        if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
            self.client.handle_timeout(self.now);
        }
        if let Some(s) = self.server.as_mut() {
            if s.poll_timeout().is_some_and(|t| t <= self.now) {
                s.handle_timeout(self.now);
            }
        }
        self.flush();
        true
    }

    /// Steps until `cond` holds or `max_time` of virtual time passes.
    /// Returns whether `cond` held. The clock never passes the deadline,
    /// so `run_until(d, |_| false)` lets exactly `d` of time go by.
    pub fn run_until(
        &mut self,
        max_time: Duration,
        mut cond: impl FnMut(&mut Pair) -> bool,
    ) -> bool {
        let deadline = self.now + max_time;
        loop {
            if cond(self) {
                return true;
            }
            if !self.step_until(Some(deadline)) {
                return cond(self);
            }
        }
    }

    /// Lets `d` of virtual time pass, handling everything due.
    pub fn advance(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Steps until both sides completed the handshake.
    pub fn handshake(&mut self) -> bool {
        self.run_until(Duration::from_secs(30), |p| {
            p.client.is_handshake_complete()
                && p.server.as_ref().is_some_and(|s| s.is_handshake_complete())
        })
    }

    /// Steps until both sides completed the handshake, then lets 200 ms
    /// pass so HANDSHAKE_DONE and the delayed acknowledgements of the
    /// first 1-RTT packets have arrived: the connection is confirmed and
    /// quiet on both sides.
    pub fn handshake_and_settle(&mut self) -> bool {
        if !self.handshake() {
            return false;
        }
        self.advance(Duration::from_millis(200));
        true
    }
}
