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
//!
//! For the full model of [`super::link`] (bandwidth, a bounded queue,
//! loss in bursts, reordering, outages), give each direction a
//! [`LinkConfig`]: [`Link::symmetric`], [`Link::asymmetric`], or
//! [`Link::interop`] for the quic-interop-runner's default link. Each
//! direction is a [`SimLink`] with its own queue and generator.
//!
//! ```
//! # fn configs() -> (actix_quic::ClientConfig, actix_quic::ServerConfig) { unimplemented!() }
//! use actix_quic::testing::{Link, LinkConfig, Loss, Pair};
//! # fn run() {
//! let (client, server) = configs();
//! let link = Link::symmetric(LinkConfig {
//!     loss: Loss::bursts(0.02, 3),
//!     ..LinkConfig::interop()
//! });
//! let mut pair = Pair::new(client, server, "localhost", link.with_seed(7));
//! let download = pair.download(2_000_000, std::time::Duration::from_secs(60)).unwrap();
//! println!("{:.2} Mbit/s", download.goodput_mbps());
//! # }
//! ```

use super::link::{LinkConfig, LinkStats, Loss, SimLink, SplitMix};
use crate::protocol::PartialHeader;
use crate::protocol::{
    ClientConfig, ConnectionHandle, DatagramEvent, Endpoint, EndpointConfig, ServerConfig,
};
use crate::protocol::{Connection, EcnCodepoint, Event, DEFAULT_CID_LEN};
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
    /// The full model for datagrams to the server. When set, it replaces
    /// the simple knobs above (`delay`, `loss`, `jitter`, `duplicate`,
    /// `corrupt`, `max_datagram`) for that direction; `drop` and `seed`
    /// still apply.
    pub to_server: Option<LinkConfig>,
    /// The full model for datagrams to the client, as `to_server`.
    pub to_client: Option<LinkConfig>,
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
            to_server: None,
            to_client: None,
        }
    }
}

impl From<LinkConfig> for Link {
    fn from(config: LinkConfig) -> Self {
        Self::symmetric(config)
    }
}

impl Link {
    /// The same model in both directions (each direction keeps its own
    /// queue and random state).
    pub fn symmetric(config: LinkConfig) -> Self {
        Self::asymmetric(config.clone(), config)
    }

    /// A model per direction.
    pub fn asymmetric(to_server: LinkConfig, to_client: LinkConfig) -> Self {
        Self {
            delay: to_server.delay,
            to_server: Some(to_server),
            to_client: Some(to_client),
            ..Self::default()
        }
    }

    /// The quic-interop-runner's default link both ways: 15 ms one-way
    /// delay, 10 Mbit/s, a 25-datagram queue ([`LinkConfig::interop`]).
    pub fn interop() -> Self {
        Self::symmetric(LinkConfig::interop())
    }

    /// This link with another seed for its random impairments.
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// The model datagrams in direction `dir` go through: the per-direction
    /// configuration when set, otherwise one built from the simple knobs.
    pub fn config(&self, dir: Direction) -> LinkConfig {
        let mut c = LinkConfig::default();
        self.write_config(dir, &mut c);
        c
    }

    /// Writes the effective model of `dir` into `c`, reusing its storage.
    fn write_config(&self, dir: Direction, c: &mut LinkConfig) {
        let full = match dir {
            Direction::ToServer => self.to_server.as_ref(),
            Direction::ToClient => self.to_client.as_ref(),
        };
        if let Some(full) = full {
            c.clone_from(full);
            return;
        }
        c.delay = self.delay;
        c.jitter = self.jitter;
        c.bandwidth = None;
        c.overhead = 0;
        c.queue = None;
        c.loss = if self.loss > 0.0 {
            Loss::random(self.loss)
        } else {
            Loss::None
        };
        c.reorder = 0.0;
        c.duplicate = self.duplicate;
        c.corrupt = self.corrupt;
        c.max_datagram = self.max_datagram;
        c.outages.clear();
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
            .field("to_server", &self.to_server)
            .field("to_client", &self.to_client)
            .finish()
    }
}

/// A datagram on the wire: arrival time, sending order, direction, bytes,
/// and the bit the link flipped, if any.
/// A datagram on the wire: arrival, sending order, direction, bytes,
/// the bit the link flipped, and its ECN bits (0: Not-ECT).
type InFlight = Reverse<(Instant, u64, Direction, Vec<u8>, Option<usize>, u8)>;

/// Seed of the generator of the direction to the client, derived from
/// the link's seed so the two directions draw independent numbers.
fn client_seed(seed: u64) -> u64 {
    seed ^ 0xd1b5_4a32_d192_ed03
}

/// The seed of an endpoint's random source, from the link's seed and the
/// endpoint's role: a run is the same for the same link seed.
pub(super) fn endpoint_seed(seed: u64, server: bool) -> [u8; 32] {
    let mut g = SplitMix::new(seed ^ if server { 0x5e7e_5e7e } else { 0xc11e_c11e });
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&g.next_u64().to_le_bytes());
    }
    out
}

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
    misdirected: u64,
    /// Datagrams on the wire, ordered by arrival time, then sending order.
    in_flight: BinaryHeap<InFlight>,
    seq: u64,
    /// The two directions, indexed by `Direction as usize`.
    sims: [SimLink; 2],
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
    /// Datagrams the link corrupted that reached each side.
    pub corrupted_delivered: [u64; 2],
    /// Of those, how many made the receiver accept more packets than the
    /// datagram held intact ones: a corrupted packet got through packet
    /// protection. Must stay zero.
    pub corrupted_accepted: [u64; 2],
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
        let mut client_endpoint =
            Endpoint::new(EndpointConfig::new(), None, endpoint_seed(link.seed, false));
        let (_, conn) = client_endpoint
            .connect(now, &client, server_addr, server_name)
            .expect("client config valid");
        let server_endpoint = Endpoint::new(
            EndpointConfig::new(),
            Some(server),
            endpoint_seed(link.seed, true),
        );
        let sims = [
            SimLink::new(link.config(Direction::ToServer), link.seed, now),
            SimLink::new(
                link.config(Direction::ToClient),
                client_seed(link.seed),
                now,
            ),
        ];
        Self {
            now,
            link,
            client: conn,
            server: None,
            server_endpoint,
            server_handle: None,
            client_addr,
            server_addr,
            misdirected: 0,
            in_flight: BinaryHeap::new(),
            seq: 0,
            sims,
            client_events: Vec::new(),
            server_events: Vec::new(),
            datagrams: [0; 2],
            dropped: [0; 2],
            endpoint_responses: 0,
            corrupted_delivered: [0; 2],
            corrupted_accepted: [0; 2],
            buf: Vec::new(),
            stalled_steps: 0,
        }
    }

    /// The server connection; panics before it exists.
    pub fn server(&mut self) -> &mut Connection {
        self.server.as_mut().expect("server connection exists")
    }

    /// Moves the client to `addr`: from now on the server sees every
    /// datagram of the client, also those already on the wire, coming from
    /// there (as after a NAT rebinding or a client's new socket), and what
    /// the server sends elsewhere is lost.
    pub fn set_client_addr(&mut self, addr: SocketAddr) {
        self.client_addr = addr;
    }

    /// The client's address as the server sees it.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// Datagrams the server sent to an address the client had left.
    pub fn misdirected(&self) -> u64 {
        self.misdirected
    }

    /// The server's endpoint (routing table).
    pub fn server_endpoint(&mut self) -> &mut Endpoint {
        &mut self.server_endpoint
    }

    /// The virtual clock's time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Datagrams on the wire right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Loses every datagram on the wire in `dir` (for instance towards an
    /// address the client has just left, whose socket is closed); returns
    /// how many.
    pub fn lose_in_flight(&mut self, dir: Direction) -> usize {
        let before = self.in_flight.len();
        self.in_flight.retain(|std::cmp::Reverse(d)| d.2 != dir);
        before - self.in_flight.len()
    }

    /// Puts everything both sides want to send on the wire and collects
    /// their events, without moving the clock.
    pub fn send_ready(&mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(t) = self.client.poll_transmit(self.now, 16, &mut self.buf) {
            self.enqueue(Direction::ToServer, t.size, t.segment_size, t.ecn);
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
                if t.destination != self.client_addr {
                    // The client is no longer there (it moved).
                    self.misdirected += 1;
                    continue;
                }
                self.enqueue(Direction::ToClient, t.size, t.segment_size, t.ecn);
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

    fn enqueue(
        &mut self,
        dir: Direction,
        size: usize,
        segment: Option<usize>,
        ecn: Option<EcnCodepoint>,
    ) {
        let buf = std::mem::take(&mut self.buf);
        let seg = segment.unwrap_or(size).max(1);
        for d in buf[..size].chunks(seg) {
            self.send(dir, d.to_vec(), ecn);
        }
        self.buf = buf;
    }

    /// Puts one datagram on the link, through the link's impairments.
    fn send(&mut self, dir: Direction, d: Vec<u8>, ecn: Option<EcnCodepoint>) {
        self.datagrams[dir as usize] += 1;
        if let Some(f) = self.link.drop.as_mut() {
            if f(dir, &d) {
                self.dropped[dir as usize] += 1;
                return;
            }
        }
        self.through_link(dir, d, ecn);
    }

    /// Hands `d` to the simulated link of `dir`, reading the link's
    /// current settings, and schedules what comes out.
    fn through_link(&mut self, dir: Direction, d: Vec<u8>, ecn: Option<EcnCodepoint>) {
        let sim = &mut self.sims[dir as usize];
        self.link.write_config(dir, &mut sim.config);
        match sim.send(self.now, d, ecn) {
            Ok((first, copy)) => {
                for d in std::iter::once(first).chain(copy) {
                    self.seq += 1;
                    let bits = d.ecn.map_or(0, EcnCodepoint::bits);
                    self.in_flight.push(Reverse((
                        d.at,
                        self.seq,
                        dir,
                        d.data,
                        d.corrupted_bit,
                        bits,
                    )));
                }
            }
            Err(_) => self.dropped[dir as usize] += 1,
        }
    }

    fn push(&mut self, at: Instant, dir: Direction, d: Vec<u8>) {
        self.seq += 1;
        self.in_flight
            .push(Reverse((at, self.seq, dir, d, None, 0)));
    }

    /// What the link of `dir` did so far.
    pub fn link_stats(&self, dir: Direction) -> &LinkStats {
        self.sims[dir as usize].stats()
    }

    /// The simulated link of `dir` (its state and current settings).
    pub fn sim_link(&self, dir: Direction) -> &SimLink {
        &self.sims[dir as usize]
    }

    /// When the pair (and its links) started: outages count from here.
    pub fn start(&self) -> Instant {
        self.sims[0].start()
    }

    /// Puts raw bytes on the wire as if sent now (after the link delay),
    /// bypassing the impairments: for hostile-input tests.
    pub fn inject(&mut self, dir: Direction, data: Vec<u8>) {
        let delay = self.link.config(dir).delay;
        self.push(self.now + delay, dir, data);
    }

    /// Packets the receiving side of `dir` authenticated so far.
    fn packets_received(&self, dir: Direction) -> u64 {
        match dir {
            Direction::ToServer => self
                .server
                .as_ref()
                .map_or(0, |s| s.stats().packets_received),
            Direction::ToClient => self.client.stats().packets_received,
        }
    }

    /// Delivers a datagram; for one the link corrupted, checks that the
    /// receiver authenticated no more packets than the datagram carried
    /// intact (a corrupted packet must fail packet protection).
    fn deliver_checked(
        &mut self,
        dir: Direction,
        data: Vec<u8>,
        corrupted_bit: Option<usize>,
        ecn: Option<EcnCodepoint>,
    ) {
        let Some(bit) = corrupted_bit else {
            self.deliver(dir, data, ecn);
            return;
        };
        let mut original = data.clone();
        original[bit / 8] ^= 1 << (bit % 8);
        let intact = intact_packets(&original, bit / 8);
        let server = self.server_handle;
        let before = self.packets_received(dir);
        self.deliver(dir, data, ecn);
        // A new server connection started from zero.
        let before = if self.server_handle == server {
            before
        } else {
            0
        };
        let accepted = self.packets_received(dir).saturating_sub(before);
        self.corrupted_delivered[dir as usize] += 1;
        if accepted > intact {
            self.corrupted_accepted[dir as usize] += 1;
        }
    }

    fn deliver(&mut self, dir: Direction, data: Vec<u8>, ecn: Option<EcnCodepoint>) {
        match dir {
            Direction::ToServer => {
                match self
                    .server_endpoint
                    .handle_to(self.now, self.client_addr, None, ecn, &data)
                {
                    DatagramEvent::Route(h) => {
                        if self.server_handle == Some(h) {
                            if let Some(s) = self.server.as_mut() {
                                s.handle_datagram_to(
                                    self.now,
                                    self.client_addr,
                                    None,
                                    ecn,
                                    BytesMut::from(&data[..]),
                                );
                            }
                        }
                    }
                    DatagramEvent::NewConnection(incoming) => {
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
                        if self.server.is_some() {
                            // Only one server connection is simulated.
                            self.server_endpoint.ignore(*incoming);
                            return;
                        }
                        match self.server_endpoint.accept(*incoming, self.now, None) {
                            Ok((h, conn)) => {
                                self.server = Some(*conn);
                                self.server_handle = Some(h);
                            }
                            Err(e) => {
                                if let Some(bytes) = e.response {
                                    self.endpoint_responses += 1;
                                    self.through_link(Direction::ToClient, bytes, None);
                                }
                            }
                        }
                    }
                    DatagramEvent::Respond(bytes) => {
                        self.endpoint_responses += 1;
                        self.through_link(Direction::ToClient, bytes, None);
                    }
                    // The pair's endpoint is one worker: nothing to pass on.
                    DatagramEvent::Forward(_) | DatagramEvent::Drop => {}
                }
            }
            Direction::ToClient => {
                let data = BytesMut::from(&data[..]);
                self.client
                    .handle_datagram_to(self.now, self.server_addr, None, ecn, data);
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
            let Reverse((_, _, dir, data, bit, ecn)) = self.in_flight.pop().expect("checked");
            self.deliver_checked(dir, data, bit, EcnCodepoint::from_bits(ecn));
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

/// How many of the packets coalesced in `datagram` do not contain byte
/// `byte`: the most a receiver can rightly accept when that byte is
/// corrupted.
fn intact_packets(datagram: &[u8], byte: usize) -> u64 {
    let mut intact = 0;
    let mut at = 0;
    while at < datagram.len() {
        let Ok(h) = PartialHeader::parse(&datagram[at..], DEFAULT_CID_LEN) else {
            break;
        };
        let end = at + h.len.clamp(1, datagram.len() - at);
        if !(at..end).contains(&byte) {
            intact += 1;
        }
        at = end;
    }
    intact
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long-header Initial of `len` bytes in all (no token).
    fn initial(len: usize) -> Vec<u8> {
        let mut d = vec![0xc0, 0, 0, 0, 1, 8];
        d.extend_from_slice(&[1; 8]);
        d.push(8);
        d.extend_from_slice(&[2; 8]);
        d.push(0); // token length
        let rest = len - d.len() - 2;
        d.extend_from_slice(&(0x4000 | rest as u16).to_be_bytes());
        d.resize(len, 0);
        d
    }

    #[test]
    fn intact_packets_counts_the_packets_around_a_byte() {
        let mut d = initial(100);
        d.extend(initial(200));
        let mut short = vec![0x40];
        short.extend_from_slice(&[3; 30]);
        d.extend(short);
        assert_eq!(intact_packets(&d, 0), 2);
        assert_eq!(intact_packets(&d, 99), 2);
        assert_eq!(intact_packets(&d, 100), 2);
        assert_eq!(intact_packets(&d, 299), 2);
        assert_eq!(intact_packets(&d, 300), 2);
        assert_eq!(intact_packets(&d, 330), 2);
        assert_eq!(intact_packets(&d, 331), 3);
    }
}
