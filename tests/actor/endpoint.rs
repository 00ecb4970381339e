//! Actor-level tests of the endpoint over real UDP on 127.0.0.1: closing
//! an endpoint, and what `accept()` offers.

use crate::common::{connect, endpoints, long_header, version_negotiation_barrier, within};
use actix_quic::VarInt;
use actix_quic::{ApplicationClose, ConnectError, ConnectionError};
use bytes::Bytes;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// `Endpoint::close` closes every connection with its code and reason,
/// `accept()` then returns `None`, and `wait_idle()` completes once the
/// connections are drained.
#[actix::test]
async fn endpoint_close_closes_every_connection() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let (c1, s1) = connect(&server, &client, addr).await;
    let (c2, s2) = connect(&server, &client, addr).await;
    server.close(VarInt::from_u32(0x11), b"shutting down");
    let expected = ConnectionError::ApplicationClosed(ApplicationClose {
        error_code: VarInt::from_u32(0x11),
        reason: Bytes::from_static(b"shutting down"),
    });
    assert_eq!(within(5, c1.closed()).await, expected);
    assert_eq!(within(5, c2.closed()).await, expected);
    assert_eq!(within(5, s1.closed()).await, ConnectionError::LocallyClosed);
    assert_eq!(within(5, s2.closed()).await, ConnectionError::LocallyClosed);
    assert!(within(5, server.accept()).await.is_none());
    within(5, server.wait_idle()).await;
    within(5, client.wait_idle()).await;
}

/// A datagram that looks like an Initial but cannot be decrypted is not
/// a connection attempt: `accept()` must offer the next real client, not
/// a connection that will never complete its handshake.
#[actix::test]
async fn undecryptable_initial_is_not_offered_to_accept() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A version-1 Initial header (8-byte DCID, empty token, Length 1200)
    // followed by bytes that are not a protected packet.
    let mut garbage = long_header(0xc0, 1, b"garbage!", b"attacker");
    garbage.extend_from_slice(&[0x00, 0x44, 0xb0]);
    garbage.extend((0..1250u32).map(|i| (i * 7 + 3) as u8));
    attacker.send_to(&garbage, addr).await.unwrap();
    version_negotiation_barrier(&attacker, addr, b"after garbage").await;

    let connecting = actix::spawn(client.connect(addr, "localhost").unwrap());
    let first = within(5, server.accept()).await.expect("endpoint open");
    let sconn = within(5, first)
        .await
        .expect("the first connection offered is the real client");
    let conn = within(5, connecting).await.unwrap().unwrap();
    assert_eq!(sconn.remote_address(), client.local_addr().unwrap());
    drop(conn);
}

/// `connect` answers every problem it can know of at once, with quinn's
/// `ConnectError` variants, not later from the `Connecting` future.
#[actix::test]
async fn connect_refuses_at_once_what_cannot_work() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    let (config, _) = crate::common::configs();
    let bare = actix_quic::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(
        bare.connect(addr, "localhost").err(),
        Some(ConnectError::NoDefaultClientConfig)
    );
    // `set_default_client_config` is seen by the very next `connect`.
    bare.set_default_client_config(config.clone());
    assert!(bare.connect(addr, "localhost").is_ok());

    assert_eq!(
        client.connect(addr, "not a name!").err(),
        Some(ConnectError::InvalidServerName("not a name!".into()))
    );
    for remote in ["127.0.0.1:0", "0.0.0.0:4433", "[::1]:4433"] {
        let remote: SocketAddr = remote.parse().unwrap();
        assert_eq!(
            client.connect(remote, "localhost").err(),
            Some(ConnectError::InvalidRemoteAddress(remote)),
            "{remote} from an IPv4 socket"
        );
    }
    let mut unknown_version = config.clone();
    unknown_version.version(0x0a0a_0a0a);
    assert_eq!(
        client
            .connect_with(unknown_version, addr, "localhost")
            .err(),
        Some(ConnectError::UnsupportedVersion)
    );

    client.close(VarInt::from_u32(0), b"");
    assert_eq!(
        client.connect(addr, "localhost").err(),
        Some(ConnectError::EndpointStopping)
    );
    drop(server);
}

/// `open_connections()` counts the connections an endpoint holds, as
/// quinn's: one per side once connected, none once they drained.
#[actix::test]
async fn open_connections_counts_until_drained() {
    crate::common::trace();
    let (server, client, addr) = endpoints();
    assert_eq!(
        (server.open_connections(), client.open_connections()),
        (0, 0)
    );
    let (c, s) = connect(&server, &client, addr).await;
    assert_eq!(
        (server.open_connections(), client.open_connections()),
        (1, 1)
    );
    c.close(VarInt::from_u32(0), b"done");
    within(5, s.closed()).await;
    drop((c, s));
    within(10, client.wait_idle()).await;
    within(10, server.wait_idle()).await;
    assert_eq!(
        (server.open_connections(), client.open_connections()),
        (0, 0)
    );
}
