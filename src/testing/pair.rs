//! Two sans-IO endpoints joined by a simulated link with a virtual clock.
//!
//! No sockets and no real time: [`Pair::step`] delivers what is due and
//! jumps the clock to the next deadline, so a whole transfer with delays
//! and losses runs in milliseconds and the same way every time.

use crate::protocol::connection::{Connection, Event};
use crate::protocol::endpoint::{ClientConfig, DatagramEvent, Endpoint, ServerConfig};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Returns true to drop a datagram.
    pub drop: Option<DropFn>,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            drop: None,
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("delay", &self.delay).finish()
    }
}

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
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    in_flight: VecDeque<(Instant, Direction, Vec<u8>)>,
    /// Events the client produced, in order.
    pub client_events: Vec<Event>,
    /// Events the server produced, in order.
    pub server_events: Vec<Event>,
    /// Datagrams sent each way.
    pub datagrams: [u64; 2],
    buf: Vec<u8>,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("client", &self.client)
            .field("server", &self.server)
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
        Self {
            now,
            link,
            client: conn,
            server: None,
            server_endpoint: Endpoint::new(Some(server)),
            client_addr,
            server_addr,
            in_flight: VecDeque::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            datagrams: [0; 2],
            buf: Vec::new(),
        }
    }

    /// The server connection; panics before it exists.
    pub fn server(&mut self) -> &mut Connection {
        self.server.as_mut().expect("server connection exists")
    }

    fn flush(&mut self) {
        loop {
            let Some(t) = self.client.poll_transmit(self.now, 16, &mut self.buf) else {
                break;
            };
            self.enqueue(Direction::ToServer, t.size, t.segment_size);
        }
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
            while let Some(e) = self.server.as_mut().expect("some").poll_event() {
                self.server_events.push(e);
            }
        }
    }

    fn enqueue(&mut self, dir: Direction, size: usize, segment: Option<usize>) {
        let buf = std::mem::take(&mut self.buf);
        self.enqueue_buf(dir, &buf, size, segment);
        self.buf = buf;
    }

    fn enqueue_buf(&mut self, dir: Direction, buf: &[u8], size: usize, segment: Option<usize>) {
        let seg = segment.unwrap_or(size);
        for d in buf[..size].chunks(seg) {
            self.datagrams[dir as usize] += 1;
            if let Some(f) = self.link.drop.as_mut() {
                if f(dir, d) {
                    continue;
                }
            }
            self.in_flight
                .push_back((self.now + self.link.delay, dir, d.to_vec()));
        }
    }

    fn deliver(&mut self, dir: Direction, data: Vec<u8>) {
        match dir {
            Direction::ToServer => {
                match self
                    .server_endpoint
                    .handle(self.now, self.client_addr, &data)
                {
                    DatagramEvent::Route(_) => {
                        if let Some(s) = self.server.as_mut() {
                            s.handle_datagram(
                                self.now,
                                self.client_addr,
                                BytesMut::from(&data[..]),
                            );
                        }
                    }
                    DatagramEvent::NewConnection(_, mut conn) => {
                        if self.server.is_none() {
                            conn.handle_datagram(
                                self.now,
                                self.client_addr,
                                BytesMut::from(&data[..]),
                            );
                            self.server = Some(*conn);
                        }
                    }
                    DatagramEvent::Respond(bytes) => {
                        self.in_flight.push_back((
                            self.now + self.link.delay,
                            Direction::ToClient,
                            bytes,
                        ));
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

    /// Sends what is ready, then advances the clock to the next event and
    /// handles it. Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.flush();
        let mut next = self.in_flight.front().map(|(t, _, _)| *t);
        for t in [
            self.client.poll_timeout(),
            self.server.as_ref().and_then(|s| s.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        while self
            .in_flight
            .front()
            .is_some_and(|(t, _, _)| *t <= self.now)
        {
            let (_, dir, data) = self.in_flight.pop_front().expect("checked");
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
    /// Returns whether `cond` held.
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
            if self.now > deadline || !self.step() {
                return cond(self);
            }
        }
    }

    /// Steps until both sides completed the handshake.
    pub fn handshake(&mut self) -> bool {
        self.run_until(Duration::from_secs(30), |p| {
            p.client.is_handshake_complete()
                && p.server.as_ref().is_some_and(|s| s.is_handshake_complete())
        })
    }
}
