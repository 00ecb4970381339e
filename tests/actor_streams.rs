//! Actor-level tests over real UDP on 127.0.0.1.

mod common;

use actix_quic::{ConnectionError, ReadError};
use common::{endpoints, within};

#[actix::test]
async fn echo_on_one_bidi_stream() {
    common::trace();
    let (server, client, addr) = endpoints();
    let srv = actix::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let data = recv.read_to_end(1 << 20).await.unwrap();
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        conn.closed().await
    });
    let conn = within(10, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"hello actix-quic").await.unwrap();
    send.finish().unwrap();
    let echoed = within(10, recv.read_to_end(1 << 20)).await.unwrap();
    assert_eq!(echoed, b"hello actix-quic");
    conn.close(7, b"done");
    let reason = within(10, srv).await.unwrap();
    match reason {
        ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, 7);
            assert_eq!(&c.reason[..], b"done");
        }
        e => panic!("unexpected {e:?}"),
    }
    let _ = ReadError::ClosedStream;
}
