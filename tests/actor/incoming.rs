//! `Incoming` through the endpoint actor, as quinn's: `accept()` yields
//! each client's attempt before any TLS work; awaiting it accepts, and
//! `refuse`, `retry`, `ignore` and dropping it do what they say. A policy
//! actor can decide instead. Attempts waiting for `accept()` are bounded
//! by `max_incoming`, past which clients are refused before any TLS work.

use crate::common::{configs, within};
use actix::prelude::*;
use actix_quic::messages::{IncomingDecision, NewIncoming};
use actix_quic::IdleTimeout;
use actix_quic::{
    ClientConfig, ConnectionError, Endpoint, Incoming, ServerConfig, TransportConfig,
    TransportErrorCode,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A server endpoint configured by `configure`, a client endpoint
/// trusting it, the server's address, and the client's configuration
/// (for more clients).
fn server(
    configure: impl FnOnce(&mut ServerConfig),
) -> (Endpoint, Endpoint, SocketAddr, ClientConfig) {
    let (client_cfg, mut server_cfg) = configs();
    configure(&mut server_cfg);
    let server = Endpoint::server(server_cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg.clone());
    let addr = server.local_addr().unwrap();
    (server, client, addr, client_cfg)
}

fn refused(e: &ConnectionError) -> bool {
    matches!(e, ConnectionError::ConnectionClosed(c)
        if c.error_code == TransportErrorCode::CONNECTION_REFUSED)
}

async fn next(server: &Endpoint) -> Incoming {
    within(5, server.accept()).await.expect("endpoint open")
}

#[actix::test]
async fn accept_refuse_and_drop() {
    crate::common::trace();
    let (server, client, addr, _) = server(|_| {});
    // Accepted: the `Connecting` knows its peer and, on a server, the
    // handshake's parameters from the client's first flight.
    let connecting = client.connect(addr, "localhost").unwrap();
    assert_eq!(connecting.remote_address(), addr);
    let incoming = next(&server).await;
    assert_eq!(incoming.remote_address(), client.local_addr().unwrap());
    assert!(!incoming.remote_address_validated());
    let accepted = incoming.accept().unwrap();
    assert_eq!(accepted.remote_address(), client.local_addr().unwrap());
    let data = within(5, accepted.handshake_data()).await.unwrap();
    assert_eq!(data.server_name.as_deref(), Some("localhost"));
    let (c, s) = futures::join!(within(5, connecting), within(5, accepted));
    assert!(c.is_ok() && s.is_ok());

    // Refused.
    let connecting = client.connect(addr, "localhost").unwrap();
    next(&server).await.refuse();
    let e = within(5, connecting).await.unwrap_err();
    assert!(refused(&e), "{e:?}");

    // Dropped undecided: refused too.
    let connecting = client.connect(addr, "localhost").unwrap();
    drop(next(&server).await);
    let e = within(5, connecting).await.unwrap_err();
    assert!(refused(&e), "{e:?}");
}

#[actix::test]
async fn retry_validates_the_address_once() {
    crate::common::trace();
    let (server, client, addr, _) = server(|_| {});
    let connecting = client.connect(addr, "localhost").unwrap();
    let first = next(&server).await;
    assert!(first.may_retry());
    let original = first.orig_dst_cid();
    first.retry().unwrap();
    let again = next(&server).await;
    assert!(again.remote_address_validated());
    assert!(!again.may_retry());
    // The client's first DCID, not our Retry's.
    assert_eq!(again.orig_dst_cid(), original);
    let again = again.retry().unwrap_err().into_incoming();
    let (c, s) = futures::join!(within(5, connecting), within(5, again));
    assert!(c.is_ok() && s.is_ok());
}

#[actix::test]
async fn ignore_leaves_the_client_unanswered() {
    crate::common::trace();
    let (server, client, addr, _) = server(|_| {});
    let (mut short, _) = configs();
    short.transport_config(Arc::new({
        let mut config = TransportConfig::default();
        config.max_idle_timeout(Some(
            IdleTimeout::try_from(Duration::from_millis(300)).unwrap(),
        ));
        config
    }));
    let connecting = client.connect_with(short, addr, "localhost").unwrap();
    next(&server).await.ignore();
    // No answer at all: the client gives up on its own.
    assert_eq!(
        within(5, connecting).await.unwrap_err(),
        ConnectionError::TimedOut
    );
}

/// Attempts nobody accepts yet wait, up to `max_incoming`; the next is
/// refused with CONNECTION_REFUSED before any TLS work, and those waiting
/// are still there to accept.
#[actix::test]
async fn past_max_incoming_attempts_are_refused_before_tls() {
    crate::common::trace();
    let (server, client, addr, _) = server(|s| {
        s.max_incoming(3);
    });
    let waiting: Vec<_> = (0..3)
        .map(|_| client.connect(addr, "localhost").unwrap())
        .collect();
    let mut attempts = Vec::new();
    for _ in 0..3 {
        attempts.push(next(&server).await);
    }
    let e = within(5, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap_err();
    assert!(refused(&e), "{e:?}");
    // Refused before any TLS work: the endpoint counts it.
    assert_eq!(server.stats().refused_handshakes, 1);
    // Accepted in any order, every waiting client connects.
    let accepted: Vec<_> = attempts.into_iter().map(|i| i.accept().unwrap()).collect();
    for connecting in waiting {
        within(5, connecting).await.unwrap();
    }
    for connecting in accepted {
        within(5, connecting).await.unwrap();
    }
}

/// More than 1024 attempts may wait for `accept()` (there used to be a
/// hidden queue of 1024 past which clients were closed with "server
/// busy" after their TLS handshake had started).
#[actix::test]
async fn more_than_1024_attempts_wait_for_accept() {
    crate::common::trace();
    const N: usize = 1100;
    let (server, client, addr, _) = server(|_| {});
    let mut waiting: Vec<_> = (0..N)
        .map(|_| client.connect(addr, "localhost").unwrap())
        .collect();
    let mut attempts = Vec::new();
    for _ in 0..N {
        attempts.push(within(20, server.accept()).await.unwrap());
    }
    // The last to arrive comes through; the others are refused. Which
    // client arrived last is up to the network, so count.
    let last = attempts.pop().unwrap();
    for incoming in attempts {
        incoming.refuse();
    }
    let accepted = actix::spawn(within(10, last));
    let results = futures::future::join_all(waiting.drain(..).map(|c| within(10, c))).await;
    let connected = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(connected, 1);
    for e in results.into_iter().filter_map(Result::err) {
        assert!(refused(&e), "{e:?}");
    }
    accepted.await.unwrap().unwrap();
}

/// A policy actor: refuses clients on a blocked port, asks the others
/// for a Retry first, and counts what it saw.
struct Policy {
    blocked: u16,
    seen: Vec<(SocketAddr, bool)>,
}

impl Actor for Policy {
    type Context = Context<Self>;
}

impl Handler<NewIncoming> for Policy {
    type Result = IncomingDecision;
    fn handle(&mut self, msg: NewIncoming, _: &mut Context<Self>) -> IncomingDecision {
        self.seen.push((msg.remote, msg.remote_address_validated));
        if msg.remote.port() == self.blocked {
            IncomingDecision::Refuse
        } else if msg.may_retry {
            IncomingDecision::Retry
        } else {
            IncomingDecision::Accept
        }
    }
}

#[derive(Message)]
#[rtype(result = "Vec<(SocketAddr, bool)>")]
struct Seen;

impl Handler<Seen> for Policy {
    type Result = MessageResult<Seen>;
    fn handle(&mut self, _: Seen, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.seen.clone())
    }
}

#[actix::test]
async fn a_policy_actor_decides_before_accept() {
    crate::common::trace();
    let (server, good, addr, mut client_cfg) = server(|_| {});
    let bad = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    // Its own token store: no NEW_TOKEN from the good client's connection.
    client_cfg.token_store(None);
    bad.set_default_client_config(client_cfg);
    let policy = Policy {
        blocked: bad.local_addr().unwrap().port(),
        seen: Vec::new(),
    }
    .start();
    server.set_incoming_policy(Some(policy.clone().recipient()));

    let e = within(5, bad.connect(addr, "localhost").unwrap())
        .await
        .unwrap_err();
    assert!(refused(&e), "{e:?}");
    let connecting = good.connect(addr, "localhost").unwrap();
    let incoming = next(&server).await;
    // Only what the policy let through, after its Retry.
    assert!(incoming.remote_address_validated());
    assert_eq!(incoming.remote_address(), good.local_addr().unwrap());
    let (c, s) = futures::join!(within(5, connecting), within(5, incoming));
    assert!(c.is_ok() && s.is_ok());
    let good_addr = good.local_addr().unwrap();
    assert_eq!(
        policy.send(Seen).await.unwrap(),
        vec![
            (bad.local_addr().unwrap(), false),
            (good_addr, false),
            (good_addr, true)
        ]
    );
    // Without a policy, attempts go straight to accept() again.
    server.set_incoming_policy(None);
    let connecting = bad.connect(addr, "localhost").unwrap();
    let incoming = next(&server).await;
    assert_eq!(incoming.remote_address(), bad.local_addr().unwrap());
    assert!(
        !incoming.remote_address_validated(),
        "no Retry without the policy"
    );
    let (c, s) = futures::join!(within(5, connecting), within(5, incoming));
    assert!(c.is_ok() && s.is_ok());
}

/// `accept()` answers at once with a `Connecting` (quinn's is sync, and
/// so is `into_0rtt` on it); when the endpoint then cannot take the
/// connection (here: full), the `Connecting` fails with the reason and
/// the client is refused.
#[actix::test]
async fn an_accept_the_endpoint_cannot_take_fails_its_connecting() {
    crate::common::trace();
    let (server, client, addr, _) = server(|s| {
        s.max_connections(1);
    });
    let first = client.connect(addr, "localhost").unwrap();
    let second = client.connect(addr, "localhost").unwrap();
    let a = next(&server).await;
    let b = next(&server).await;
    let (ca, _) = a.accept().unwrap().into_0rtt().unwrap();
    let cb = b.accept().unwrap();
    // The endpoint holds one connection: the second accept fails.
    let e = within(5, cb).await.unwrap_err();
    assert!(
        matches!(&e, ConnectionError::TransportError(t) if t.code == TransportErrorCode::CONNECTION_REFUSED),
        "{e:?}"
    );
    // One client connects, the other is refused.
    let (r1, r2) = futures::join!(within(5, first), within(5, second));
    assert_eq!(r1.is_ok() as u8 + r2.is_ok() as u8, 1, "{r1:?} {r2:?}");
    let refused_one = r1.err().or(r2.err()).unwrap();
    assert!(refused(&refused_one), "{refused_one:?}");
    assert!(ca.close_reason().is_none());
}

/// `Endpoint::stats()` counts what became of each attempt, as quinn's.
#[actix::test]
async fn endpoint_stats_count_each_decision() {
    crate::common::trace();
    let (server, client, addr, _) = server(|_| {});
    let a = client.connect(addr, "localhost").unwrap();
    next(&server).await.refuse();
    assert!(refused(&within(5, a).await.unwrap_err()));
    let b = client.connect(addr, "localhost").unwrap();
    let incoming = next(&server).await;
    let (c, s) = futures::join!(within(5, b), within(5, incoming));
    assert!(c.is_ok() && s.is_ok());
    let _ignored = client.connect(addr, "localhost").unwrap();
    next(&server).await.ignore();
    // The ignore is counted when the endpoint actor handled it.
    server
        .addr()
        .send(actix_quic::messages::SetIncomingPolicy(None))
        .await
        .unwrap();
    let stats = server.stats();
    assert_eq!(
        (
            stats.accepted_handshakes,
            stats.refused_handshakes,
            stats.ignored_handshakes
        ),
        (1, 1, 1)
    );
    assert_eq!(client.stats().outgoing_handshakes, 3);
}
