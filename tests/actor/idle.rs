//! The idle timeout through the actors: the connection actor's timer
//! closes both sides of a silent connection with `TimedOut`, and later
//! operations fail with it. The rules themselves are tested on the core
//! (`tests/pair/idle.rs`).

use crate::common::{connect, endpoints_with, within};
use actix_quic::IdleTimeout;
use actix_quic::{ConnectionError, TransportConfig};
use std::time::{Duration, Instant};

fn idle(ms: u64) -> TransportConfig {
    {
        let mut config = TransportConfig::default();
        config.max_idle_timeout(Some(
            IdleTimeout::try_from(Duration::from_millis(ms)).unwrap(),
        ));
        config
    }
}

/// With a 300 ms idle timeout on both sides and nothing sent (no
/// keep-alive by default), both sides time out.
#[actix::test]
async fn idle_timeout_closes_both_sides_with_timed_out() {
    crate::common::trace();
    let (server, client, addr) = endpoints_with(idle(300), idle(300));
    let (conn, sconn) = connect(&server, &client, addr).await;
    let start = Instant::now();
    let (c, s) = within(5, futures::future::join(conn.closed(), sconn.closed())).await;
    assert_eq!(c, ConnectionError::TimedOut);
    assert_eq!(s, ConnectionError::TimedOut);
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "timed out after only {:?}",
        start.elapsed()
    );
    // Operations after the timeout fail with the reason.
    assert_eq!(
        conn.open_uni().await.unwrap_err(),
        ConnectionError::TimedOut
    );
}
