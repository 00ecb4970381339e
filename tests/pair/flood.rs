//! An Initial flood on the sans-IO endpoint: authentic-looking client
//! Initials from many spoofed addresses, as fast as they come. Past
//! `retry_above` attempts a second, or while unvalidated attempts hold
//! half of `max_incoming`, the endpoint answers with a stateless Retry:
//! the state it keeps stays bounded, it never sends a spoofed address
//! more than three times what came from it (RFC 9000 §8.1), and a real
//! client, which answers the Retry, still connects.

use actix_quic::protocol::{ClientConfig, Connection, DatagramEvent, Endpoint, EndpointConfig};
use bytes::BytesMut;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SERVER: &str = "127.0.0.1:4433";

/// The `i`th spoofed source: distinct addresses and ports.
fn spoofed(i: usize) -> SocketAddr {
    let ip = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    SocketAddr::from((ip, 1024 + (i % 50_000) as u16))
}

/// A client connection (its own DCID and keys) and its first datagram.
fn client(config: &ClientConfig, seed: u64, now: Instant) -> (Connection, Vec<u8>) {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    let (_, mut conn) = Endpoint::new(EndpointConfig::new(), None, s)
        .connect(now, config, SERVER.parse().unwrap(), "localhost")
        .unwrap();
    let mut buf = Vec::new();
    let t = conn.poll_transmit(now, 1, &mut buf).expect("an Initial");
    buf.truncate(t.size);
    (conn, buf)
}

/// What the server did for the flood, per spoofed address.
#[derive(Default)]
struct Ledger {
    received: HashMap<SocketAddr, usize>,
    sent: HashMap<SocketAddr, usize>,
    /// Server connections accepted for flood sources, with their source.
    accepted: Vec<(Box<Connection>, SocketAddr)>,
    retries: usize,
}

impl Ledger {
    /// Drains what `conn` sends now, counting it against `to`.
    fn drain(sent: &mut HashMap<SocketAddr, usize>, conn: &mut Connection, now: Instant) {
        let mut buf = Vec::new();
        while let Some(t) = conn.poll_transmit(now, 1, &mut buf) {
            *sent.entry(t.destination).or_default() += t.size;
        }
    }

    /// One flood Initial from `from` reaches the endpoint; what it
    /// offers is accepted, as an application's accept loop would.
    fn flood(&mut self, ep: &mut Endpoint, now: Instant, from: SocketAddr, initial: &[u8]) {
        *self.received.entry(from).or_default() += initial.len();
        match ep.handle_to(now, from, None, None, initial) {
            DatagramEvent::NewConnection(incoming) => {
                let (_, mut conn) = ep.accept(*incoming, now, None).expect("room");
                Self::drain(&mut self.sent, &mut conn, now);
                self.accepted.push((conn, from));
            }
            DatagramEvent::Respond(bytes) => {
                self.retries += 1;
                *self.sent.entry(from).or_default() += bytes.len();
            }
            e => panic!("{e:?}"),
        }
    }

    /// `n` flood Initials of clients seeded from `first_seed` on, each
    /// from a spoofed address of its own.
    fn flood_n(
        &mut self,
        ep: &mut Endpoint,
        config: &ClientConfig,
        now: Instant,
        first_seed: u64,
        n: usize,
    ) {
        for i in 0..n {
            let (_, initial) = client(config, first_seed + i as u64, now);
            self.flood(ep, now, spoofed(i), &initial);
        }
    }

    /// Runs the accepted flood connections' timers for `d` (their peers
    /// never answer), counting every byte they send.
    fn run_timers(&mut self, mut now: Instant, d: Duration) {
        let end = now + d;
        loop {
            let next = self
                .accepted
                .iter()
                .filter_map(|(c, _)| c.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => now = now.max(t),
                _ => return,
            }
            for (c, _) in &mut self.accepted {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
                Self::drain(&mut self.sent, c, now);
            }
        }
    }

    /// No spoofed address got more than three times what came from it.
    fn assert_within_three_times(&self) {
        for (addr, &sent) in &self.sent {
            let got = self.received[addr];
            assert!(sent <= 3 * got, "{addr}: sent {sent} for {got} received");
        }
    }
}

/// A real client connects through `ep` while the flood goes on: it
/// answers the Retry and completes its handshake.
fn real_client_connects(ep: &mut Endpoint, config: &ClientConfig, now: Instant) {
    let me: SocketAddr = "192.0.2.1:5555".parse().unwrap();
    let server_addr: SocketAddr = SERVER.parse().unwrap();
    let (mut client, first) = client(config, 0xc11e, now);
    let mut to_server = vec![first];
    let mut server: Option<(actix_quic::protocol::ConnectionHandle, Box<Connection>)> = None;
    let mut retried = false;
    for _ in 0..20 {
        for d in std::mem::take(&mut to_server) {
            match ep.handle_to(now, me, None, None, &d) {
                DatagramEvent::Respond(r) => {
                    retried = true;
                    client.handle_datagram(now, server_addr, BytesMut::from(&r[..]));
                }
                DatagramEvent::NewConnection(i) => {
                    server = Some(ep.accept(*i, now, None).expect("room for a real client"));
                }
                DatagramEvent::Route(h) => {
                    let (sh, s) = server.as_mut().expect("routed");
                    assert_eq!(*sh, h);
                    s.handle_datagram(now, me, BytesMut::from(&d[..]));
                }
                DatagramEvent::Forward(_) | DatagramEvent::Drop => {}
            }
        }
        if let Some((_, s)) = server.as_mut() {
            let mut buf = Vec::new();
            while let Some(t) = s.poll_transmit(now, 1, &mut buf) {
                client.handle_datagram(now, server_addr, BytesMut::from(&buf[..t.size]));
            }
            if client.is_handshake_complete() && s.is_handshake_complete() {
                assert!(retried, "the client went through a Retry");
                return;
            }
        }
        let mut buf = Vec::new();
        while let Some(t) = client.poll_transmit(now, 1, &mut buf) {
            to_server.push(buf[..t.size].to_vec());
        }
    }
    panic!("the real client did not connect: {:?}", client.error());
}

#[test]
fn past_the_rate_a_flood_gets_stateless_retries_and_real_clients_connect() {
    const FLOOD: usize = 1500;
    let (client_config, mut server_config) = crate::common::configs();
    server_config.retry_above(Some(100)).max_incoming(1000);
    let mut ep = Endpoint::new(EndpointConfig::new(), Some(server_config), [7; 32]);
    let now = Instant::now();
    let mut ledger = Ledger::default();
    for i in 0..FLOOD {
        let (_, initial) = client(&client_config, i as u64, now);
        ledger.flood(&mut ep, now, spoofed(i), &initial);
        if i == FLOOD / 2 {
            real_client_connects(&mut ep, &client_config, now);
        }
    }
    // The first 100 of the second got state; every later one a Retry.
    assert_eq!(ledger.accepted.len(), 100);
    assert_eq!(ledger.retries, FLOOD - 100);
    let stats = ep.stats();
    assert_eq!(stats.retried_handshakes as usize, FLOOD - 100 + 1);
    assert_eq!(
        ep.connection_count(),
        101,
        "the flood's 100 and the real client"
    );
    // Ten seconds of the half-open connections probing spoofed
    // addresses: never more than three times what each sent.
    ledger.run_timers(now, Duration::from_secs(10));
    ledger.assert_within_three_times();
    // The next second starts a new count.
    let later = now + Duration::from_secs(1);
    let (_, initial) = client(&client_config, 1 << 40, later);
    ledger.flood(&mut ep, later, spoofed(FLOOD), &initial);
    assert_eq!(ledger.accepted.len(), 101);
}

#[test]
fn unvalidated_attempts_take_at_most_half_of_max_incoming() {
    // A rate never reached: the load rule alone. With room for 40
    // attempts, 20 unvalidated ones get state; past that, Retry, and a
    // real client (validated by it) still finds room.
    let (client_config, mut server_config) = crate::common::configs();
    server_config.retry_above(Some(u32::MAX)).max_incoming(40);
    let mut ep = Endpoint::new(EndpointConfig::new(), Some(server_config), [9; 32]);
    let now = Instant::now();
    let mut ledger = Ledger::default();
    ledger.flood_n(&mut ep, &client_config, now, 5000, 200);
    assert_eq!(ledger.accepted.len(), 20);
    assert_eq!(ledger.retries, 180);
    real_client_connects(&mut ep, &client_config, now);
    ledger.assert_within_three_times();
}

#[test]
fn unvalidated_attempts_in_progress_are_capped_whatever_the_rate() {
    // Attempts from spoofed addresses never finish their handshakes:
    // past 1,024 of them in progress, Retry, at any rate.
    let (client_config, mut server_config) = crate::common::configs();
    server_config.retry_above(Some(u32::MAX));
    let mut ep = Endpoint::new(EndpointConfig::new(), Some(server_config), [11; 32]);
    let now = Instant::now();
    let mut ledger = Ledger::default();
    ledger.flood_n(&mut ep, &client_config, now, 90_000, 1200);
    assert_eq!(ledger.accepted.len(), 1024);
    assert_eq!(ledger.retries, 1200 - 1024);
    real_client_connects(&mut ep, &client_config, now);
}
