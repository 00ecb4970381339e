//! Actor-native events: an actor subscribed to a connection receives its
//! incoming streams, datagrams and close as messages, in order, over real
//! UDP on 127.0.0.1.

use crate::common::{connected, within};
use actix::prelude::*;
use actix_quic::ConnectionEvent;
use actix_quic::VarInt;
use actix_quic::{ConnectionError, Subscription};
use bytes::Bytes;
use futures::channel::oneshot;

/// What the counting actor saw, reported when the connection closes.
#[derive(Debug, Default)]
struct Seen {
    /// Contents of each incoming stream, in arrival order ("bi"/"uni"
    /// prefixed).
    streams: Vec<String>,
    datagrams: Vec<Bytes>,
    closed: Option<ConnectionError>,
    /// Events after the close (there must be none).
    after_close: usize,
}

/// Counts what a connection sends it; echoes bidirectional streams.
struct Counter {
    seen: Seen,
    subscription: Option<Subscription>,
    done: Option<oneshot::Sender<Seen>>,
    reading: usize,
}

impl Actor for Counter {
    type Context = Context<Self>;
}

/// Hands the counter its subscription guard.
#[derive(Message)]
#[rtype(result = "()")]
struct Keep(Subscription);

impl Handler<Keep> for Counter {
    type Result = ();
    fn handle(&mut self, msg: Keep, _: &mut Context<Self>) {
        self.subscription = Some(msg.0);
    }
}

/// A stream read to its end by the counter.
#[derive(Message)]
#[rtype(result = "()")]
struct StreamRead(usize, String);

impl Handler<StreamRead> for Counter {
    type Result = ();
    fn handle(&mut self, msg: StreamRead, _: &mut Context<Self>) {
        self.seen.streams[msg.0] = msg.1;
        self.reading -= 1;
        self.maybe_done();
    }
}

impl Counter {
    fn maybe_done(&mut self) {
        if self.seen.closed.is_some() && self.reading == 0 {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(std::mem::take(&mut self.seen));
            }
        }
    }
}

impl Handler<ConnectionEvent> for Counter {
    type Result = ();
    fn handle(&mut self, ev: ConnectionEvent, ctx: &mut Context<Self>) {
        if self.seen.closed.is_some() {
            self.seen.after_close += 1;
            return;
        }
        let (send, mut recv) = match ev {
            ConnectionEvent::IncomingBi(send, recv) => (Some(send), recv),
            ConnectionEvent::IncomingUni(recv) => (None, recv),
            ConnectionEvent::Datagram(d) => return self.seen.datagrams.push(d),
            ConnectionEvent::Closed(e) => {
                self.seen.closed = Some(e);
                self.subscription = None;
                return self.maybe_done();
            }
        };
        // Read the stream to its end (echoing a bidirectional one) and
        // record it in its arrival slot.
        let slot = self.seen.streams.len();
        self.seen.streams.push(String::new());
        self.reading += 1;
        let me = ctx.address();
        actix::spawn(async move {
            let data = recv.read_to_end(1024).await.unwrap();
            if let Some(mut send) = send {
                send.write_all(&data).await.unwrap();
                send.finish().unwrap();
            }
            me.do_send(StreamRead(slot, String::from_utf8(data).unwrap()));
        });
    }
}

fn counter() -> (Addr<Counter>, oneshot::Receiver<Seen>) {
    let (tx, rx) = oneshot::channel();
    let addr = Counter {
        seen: Seen::default(),
        subscription: None,
        done: Some(tx),
        reading: 0,
    }
    .start();
    (addr, rx)
}

/// A counter subscribed to `conn`, holding its own subscription guard.
async fn subscribed_counter(
    conn: &actix_quic::Connection,
    streams: bool,
    datagrams: bool,
) -> (Addr<Counter>, oneshot::Receiver<Seen>) {
    let (addr, done) = counter();
    let sub = conn
        .subscribe_to(addr.clone().recipient(), streams, datagrams)
        .await
        .unwrap();
    addr.do_send(Keep(sub));
    (addr, done)
}

#[actix::test]
async fn subscribed_actor_receives_streams_datagrams_and_close_in_order() {
    crate::common::trace();
    let (_se, _ce, client, server) = connected().await;
    let (_addr, done) = subscribed_counter(&server, true, true).await;
    // Three bidirectional streams (echoed by the counter), two
    // unidirectional ones, five datagrams.
    for i in 0..3 {
        let (mut s, mut r) = client.open_bi().await.unwrap();
        s.write_all(format!("bi {i}").as_bytes()).await.unwrap();
        s.finish().unwrap();
        let echo = within(5, r.read_to_end(64)).await.unwrap();
        assert_eq!(echo, format!("bi {i}").into_bytes());
    }
    for i in 0..2 {
        let mut s = client.open_uni().await.unwrap();
        s.write_all(format!("uni {i}").as_bytes()).await.unwrap();
        s.finish().unwrap();
        // Sequenced, so the order of arrival is known.
        within(5, s.stopped()).await.unwrap();
    }
    for i in 0..5u8 {
        client.send_datagram(Bytes::from(vec![i; 10])).unwrap();
    }
    // The server's own handle sees none of it: the subscriber took it.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), server.accept_bi())
            .await
            .is_err()
    );
    // The close leaves after the datagrams; loopback keeps the order.
    client.close(VarInt::from_u32(7), b"done");
    let seen = within(10, done).await.unwrap();
    assert_eq!(seen.streams, ["bi 0", "bi 1", "bi 2", "uni 0", "uni 1"]);
    assert_eq!(
        seen.datagrams,
        (0..5u8)
            .map(|i| Bytes::from(vec![i; 10]))
            .collect::<Vec<_>>()
    );
    match seen.closed {
        Some(ConnectionError::ApplicationClosed(c)) => {
            assert_eq!(c.error_code, VarInt::from_u32(7));
            assert_eq!(&c.reason[..], b"done");
        }
        e => panic!("closed with {e:?}"),
    }
    assert_eq!(seen.after_close, 0);
}

#[actix::test]
async fn subscription_keeps_the_connection_open_and_dropping_it_closes() {
    crate::common::trace();
    let (_se, _ce, client, server) = connected().await;
    let (addr, done) = subscribed_counter(&server, true, true).await;
    // Every handle of the server's connection goes; the subscriber stays.
    drop(server);
    let mut s = client.open_uni().await.unwrap();
    s.write_all(b"still here").await.unwrap();
    s.finish().unwrap();
    within(5, s.stopped()).await.unwrap();
    // The subscribing actor stops: its guard drops, the last handle, so
    // the connection closes with code 0 and an empty reason.
    drop(done);
    addr.do_send(Stop);
    match within(10, client.closed()).await {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, VarInt::from_u32(0));
            assert!(c.reason.is_empty());
        }
        e => panic!("closed with {e:?}"),
    }
}

/// Stops the counter.
#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<Stop> for Counter {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[actix::test]
async fn only_the_chosen_events_are_taken() {
    crate::common::trace();
    let (_se, _ce, client, server) = connected().await;
    // Datagrams only: streams still come through accept_uni.
    let (_addr, _done) = subscribed_counter(&server, false, true).await;
    let mut s = client.open_uni().await.unwrap();
    s.write_all(b"to accept").await.unwrap();
    s.finish().unwrap();
    let mut r = within(5, server.accept_uni()).await.unwrap();
    assert_eq!(within(5, r.read_to_end(64)).await.unwrap(), b"to accept");
}

#[actix::test]
async fn subscribing_to_a_closed_connection_says_why() {
    crate::common::trace();
    let (_se, _ce, client, server) = connected().await;
    client.close(VarInt::from_u32(3), b"");
    within(5, server.closed()).await;
    let (addr, _done) = counter();
    match server.subscribe(addr.recipient()).await {
        Err(ConnectionError::ApplicationClosed(c)) => assert_eq!(c.error_code, VarInt::from_u32(3)),
        r => panic!("{r:?}"),
    }
}
