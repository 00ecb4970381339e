//! Hostile input to a server endpoint over real UDP on 127.0.0.1: random
//! datagrams, mutated copies of a real client Initial, and correctly
//! encrypted Initials with mutated contents. Afterwards the server must
//! still serve a normal connection, and nothing may have panicked.
//!
//! This file holds a single test because it counts panics with a
//! process-wide panic hook.

use crate::common::{endpoints, long_header, pattern, version_negotiation_barrier, within};
use actix_quic::protocol::crypto::{
    initial_keys, open_payload, remove_header_protection, seal, TAG_LEN,
};
use actix_quic::protocol::packet::{write_long_header, HeaderKind, LongType, PartialHeader};
use actix_quic::protocol::ConnectionId;
use actix_quic::protocol::Side;
use actix_quic::Connection;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::UdpSocket;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
}

/// Length of the connection IDs our endpoints issue.
const CID_LEN: usize = 8;

/// A plain UDP socket firing datagrams at the server. Every `BATCH`
/// datagrams it waits for a Version Negotiation answer to a probe sent
/// last: the socket is FIFO, so the answer proves the server read (and
/// survived) everything before it, and the batches never overflow the
/// server's receive buffer.
struct Attacker {
    socket: UdpSocket,
    target: SocketAddr,
    rng: StdRng,
    sent: usize,
    probes: u64,
}

const BATCH: usize = 32;

impl Attacker {
    async fn send(&mut self, datagram: &[u8]) {
        self.socket.send_to(datagram, self.target).await.unwrap();
        self.sent += 1;
        if self.sent % BATCH == 0 {
            self.barrier().await;
        }
    }

    /// Waits until the server answered a probe sent after everything
    /// before it.
    async fn barrier(&mut self) {
        self.probes += 1;
        version_negotiation_barrier(&self.socket, self.target, &self.probes.to_be_bytes()).await;
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.rng.fill_bytes(&mut v);
        v
    }
}

/// A client Initial with its protection removed.
struct OpenedInitial {
    dcid: ConnectionId,
    scid: ConnectionId,
    pn: u64,
    header_len: usize,
    payload: Vec<u8>,
}

fn open_initial(datagram: &[u8]) -> OpenedInitial {
    let hdr = PartialHeader::parse(datagram, CID_LEN).expect("captured Initial parses");
    let HeaderKind::Long {
        ty: LongType::Initial,
        scid,
        ..
    } = hdr.kind
    else {
        panic!("captured datagram is not an Initial: {:?}", hdr.kind);
    };
    let keys = initial_keys(&hdr.dcid, Side::Client);
    let mut pkt = datagram[..hdr.len].to_vec();
    let (pn_len, pn) =
        remove_header_protection(&mut pkt, hdr.pn_offset, None, keys.local.header.as_ref())
            .expect("header protection");
    let header_len = hdr.pn_offset + pn_len;
    let n = open_payload(&mut pkt, header_len, pn, keys.local.packet.as_ref())
        .expect("captured Initial decrypts");
    OpenedInitial {
        dcid: hdr.dcid,
        scid,
        pn,
        header_len,
        payload: pkt[header_len..header_len + n].to_vec(),
    }
}

/// A client Initial for `dcid` carrying `payload` (padded to 1200 bytes),
/// protected with the Initial keys as a real client would.
fn seal_initial(dcid: &ConnectionId, scid: &ConnectionId, pn: u64, payload: &[u8]) -> Vec<u8> {
    const PN_LEN: usize = 4;
    let keys = initial_keys(dcid, Side::Client);
    let mut buf = Vec::with_capacity(1500);
    let len_at = write_long_header(
        &mut buf,
        actix_quic::protocol::packet::VERSION_1,
        LongType::Initial,
        dcid,
        scid,
        &[],
        pn,
        PN_LEN,
    );
    let header_len = len_at + 2 + PN_LEN;
    let mut payload = payload.to_vec();
    let min = 1200 - header_len - TAG_LEN;
    if payload.len() < min {
        payload.resize(min, 0);
    }
    let length = PN_LEN + payload.len() + TAG_LEN;
    assert!(length < 1 << 14);
    buf[len_at] = 0x40 | (length >> 8) as u8;
    buf[len_at + 1] = length as u8;
    buf.extend_from_slice(&payload);
    seal(
        &mut buf,
        0,
        len_at + 2,
        PN_LEN,
        pn,
        keys.local.packet.as_ref(),
        keys.local.header.as_ref(),
    );
    buf
}

/// An 8-byte varint (RFC 9000 §16) of `v`.
fn varint8(v: u64) -> [u8; 8] {
    (v | 0xc0 << 56).to_be_bytes()
}

#[actix::test]
async fn hostile_datagrams_neither_panic_nor_wedge_the_server() {
    crate::common::trace();
    count_panics();
    let (server, client, addr) = endpoints();

    // The server accepts everything and hands over what completes a
    // handshake, as a real server loop would.
    let (tx, mut established) = futures::channel::mpsc::unbounded::<Connection>();
    let _acceptor = actix::spawn(async move {
        while let Some(connecting) = server.accept().await {
            let tx = tx.clone();
            actix::spawn(async move {
                if let Ok(c) = connecting.await {
                    let _ = tx.unbounded_send(c);
                }
            });
        }
    });

    // Capture a real client Initial with a fake server.
    let fake = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let probe = actix::spawn(
        client
            .connect(fake.local_addr().unwrap(), "localhost")
            .unwrap(),
    );
    let mut buf = vec![0u8; 65536];
    let (n, _) = within(5, fake.recv_from(&mut buf)).await.unwrap();
    let initial = buf[..n].to_vec();
    probe.abort();
    assert!(
        initial.len() >= 1200,
        "Initial datagram of {}",
        initial.len()
    );
    assert_eq!(initial[0] & 0xf0, 0xc0, "not a long-header Initial");
    let opened = open_initial(&initial);
    // The meaningful frames, without the trailing PADDING.
    let frames_len = opened
        .payload
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    assert!(frames_len > 0);
    let frames = opened.payload[..frames_len].to_vec();

    let mut a = Attacker {
        socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        target: addr,
        rng: StdRng::seed_from_u64(0x00ba_d1d0u64),
        sent: 0,
        probes: 0,
    };
    a.barrier().await;

    // The re-sealing harness is sound: an unmodified re-sealed Initial
    // with a fresh DCID gets an answer from the server.
    let fresh = ConnectionId::new(&a.bytes(8)).unwrap();
    let reply_to = opened.scid;
    a.send(&seal_initial(&fresh, &opened.scid, opened.pn, &frames))
        .await;
    within(5, async {
        loop {
            let (n, _) = a.socket.recv_from(&mut buf).await.unwrap();
            let d = &buf[..n];
            let dcid_len = reply_to.len();
            if n > 6 + dcid_len
                && d[0] & 0xf0 == 0xc0
                && d[1..5] == [0, 0, 0, 1]
                && usize::from(d[5]) == dcid_len
                && d[6..6 + dcid_len] == reply_to[..]
            {
                return;
            }
        }
    })
    .await;

    // 1. Random datagrams of random lengths.
    for _ in 0..300 {
        let len = a.rng.gen_range(0..=1500);
        let d = a.bytes(len);
        a.send(&d).await;
    }
    // 2. Random long headers of version 1, big enough to be Initials.
    for _ in 0..200 {
        let len = a.rng.gen_range(1200..=1500);
        let mut d = a.bytes(len);
        d[0] = 0xc0 | (d[0] & 0x3f);
        d[1..5].copy_from_slice(&1u32.to_be_bytes());
        d[5] = a.rng.gen_range(0..=21);
        a.send(&d).await;
    }
    // 3. Random short headers.
    for _ in 0..100 {
        let len = a.rng.gen_range(1..=1500);
        let mut d = a.bytes(len);
        d[0] = 0x40 | (d[0] & 0x3f);
        a.send(&d).await;
    }
    // 4. Hand-made edge cases.
    let dcid = a.bytes(8);
    let scid = a.bytes(8);
    let mut edge: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xc0],
        vec![0xc0, 0, 0, 0, 1],
        vec![0xc0, 0, 0, 0, 1, 21],
        vec![0x40],
    ];
    for (first, version, dcid_len, scid_len) in [
        (0xc0u8, 1u32, 21usize, 8usize), // DCID too long for v1
        (0xc0, 1, 8, 21),                // SCID too long for v1
        (0xc0, 1, 255, 255),
        (0xc0, 1, 0, 0), // DCID too short for a client Initial
        (0xc0, 1, 7, 0),
        (0x80, 1, 8, 8),           // fixed bit clear
        (0xd0, 1, 8, 8),           // 0-RTT for no connection
        (0xe0, 1, 8, 8),           // Handshake for no connection
        (0xf0, 1, 8, 8),           // Retry sent to a server
        (0xc0, 0, 8, 8),           // Version Negotiation sent to a server
        (0xc0, 0x0a0a_0a0a, 8, 8), // reserved version
        (0xc0, 0x6b33_43cf, 8, 8), // QUIC v2, unsupported here
    ] {
        let mut d = vec![first];
        d.extend_from_slice(&version.to_be_bytes());
        d.push(dcid_len as u8);
        d.extend(a.bytes(dcid_len));
        d.push(scid_len as u8);
        d.extend(a.bytes(scid_len));
        let mut pad = a.bytes(1300);
        d.append(&mut pad);
        edge.push(d);
    }
    // Token length and Length fields that overrun the datagram or overflow.
    for (token_len, length) in [
        (varint8((1 << 62) - 1).to_vec(), vec![0x40, 0x10]),
        (vec![0x80, 0, 0x10, 0], vec![0x40, 0x10]),
        (vec![0], varint8((1 << 62) - 1).to_vec()),
        (vec![0], vec![0x40, 0x00]),
        (vec![0], vec![0x44, 0xb0]),
        (vec![0], vec![0x40, 0x01]),
    ] {
        let mut d = long_header(0xc0, 1, &dcid, &scid);
        d.extend(token_len);
        d.extend(length);
        let mut pad = a.bytes(1250);
        d.append(&mut pad);
        edge.push(d);
    }
    // An Initial one byte too small to be accepted.
    edge.push(initial[..1199].to_vec());
    for d in &edge {
        a.send(d).await;
    }
    // 5. The Initial with a few random bit flips anywhere.
    for _ in 0..300 {
        let mut d = initial.clone();
        for _ in 0..a.rng.gen_range(1..=8) {
            let i = a.rng.gen_range(0..d.len());
            d[i] ^= 1 << a.rng.gen_range(0..8);
        }
        a.send(&d).await;
    }
    // 6. The Initial with one header byte replaced.
    for _ in 0..200 {
        let mut d = initial.clone();
        let i = a.rng.gen_range(0..opened.header_len + 4);
        d[i] = a.rng.gen();
        a.send(&d).await;
    }
    // 7. Truncated and extended copies.
    for _ in 0..100 {
        let len = a.rng.gen_range(0..initial.len());
        a.send(&initial[..len]).await;
    }
    for _ in 0..50 {
        let mut d = initial.clone();
        let extra = a.rng.gen_range(1..=300);
        d.extend(a.bytes(extra));
        a.send(&d).await;
    }
    a.send(&[&initial[..], &initial[..]].concat()).await;
    // 8. The Initial itself, then copies with the same DCID (so they reach
    //    the connection it created) and a corrupted payload.
    a.send(&initial).await;
    for _ in 0..200 {
        let mut d = initial.clone();
        for _ in 0..a.rng.gen_range(1..=4) {
            let i = a.rng.gen_range(opened.header_len..d.len());
            d[i] = a.rng.gen();
        }
        a.send(&d).await;
    }
    // 9. Correctly protected Initials, each for a fresh DCID (so a fresh
    //    server connection), whose frames are corrupted.
    let frame_types: Vec<u8> = (0x00..=0x1e).chain([0x30, 0x31, 0x3f]).collect();
    for round in 0..600 {
        let mut p = frames.clone();
        match round % 8 {
            0 => {
                for _ in 0..a.rng.gen_range(1..=4) {
                    let i = a.rng.gen_range(0..p.len());
                    p[i] ^= 1 << a.rng.gen_range(0..8);
                }
            }
            1 => {
                let i = a.rng.gen_range(0..p.len().min(16));
                p[i] = a.rng.gen();
            }
            2 => p.truncate(a.rng.gen_range(0..p.len())),
            3 => {
                let n = a.rng.gen_range(1..=32);
                let mut pre = a.bytes(n);
                pre.append(&mut p);
                p = pre;
            }
            4 => {
                let ty = frame_types[a.rng.gen_range(0..frame_types.len())];
                let n = a.rng.gen_range(0..=64);
                let mut pre = vec![ty];
                pre.extend(a.bytes(n));
                if a.rng.gen_bool(0.5) {
                    pre.append(&mut p);
                    p = pre;
                } else {
                    p.append(&mut pre);
                }
            }
            5 => {
                let n = a.rng.gen_range(1..=200);
                p.extend(a.bytes(n));
            }
            6 => p = [&frames[..], &frames[..]].concat(),
            _ => {
                // CRYPTO frames at extreme offsets: overflow and buffer
                // limits.
                let offset = match a.rng.gen_range(0..3) {
                    0 => (1u64 << 62) - 1,
                    1 => (1u64 << 62) - 50,
                    _ => 70_000,
                };
                let mut f = vec![0x06];
                f.extend(varint8(offset));
                f.extend([0x40, 100]);
                f.extend(a.bytes(100));
                f.append(&mut p);
                p = f;
            }
        }
        p.truncate(1100);
        let len = a.rng.gen_range(8..=20);
        let dcid = ConnectionId::new(&a.bytes(len)).unwrap();
        let d = seal_initial(&dcid, &opened.scid, opened.pn, &p);
        a.send(&d).await;
    }
    a.barrier().await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
    assert_eq!(opened.dcid.len(), initial[5] as usize);

    // The server still serves a normal connection.
    let conn = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .expect("handshake after the attack");
    let sconn = within(10, async {
        loop {
            let c = established.next().await.expect("acceptor ended");
            if c.remote_address() == client.local_addr().unwrap() {
                return c;
            }
        }
    })
    .await;
    let echo = actix::spawn(async move {
        let (mut send, mut recv) = sconn.accept_bi().await.unwrap();
        let data = recv.read_to_end(1 << 20).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        sconn
    });
    let data = pattern(9, 100 * 1024);
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&data).await.unwrap();
    send.finish().unwrap();
    let echoed = within(10, recv.read_to_end(1 << 20)).await.unwrap();
    assert!(echoed == data, "echo differs");
    let _sconn = within(10, echo).await.unwrap();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}
