//! The connection actor's handlers, one per message: each does its
//! operation on the connection (or parks it) and ends in `drive`.

use super::waiters::{
    map_read, map_write, prune_stream, read_many, write_chunks, ParkedRead, ParkedWrite, ReadReply,
};
use super::{open_next, ConnectionActor};
use super::{ConnectionParts, Subscription};
use crate::actors::reply::{park, prune, Answer, Reply};
use crate::errors::{
    ClosedStream, ReadError, SendDatagramError, StoppedError, WriteError, Written,
};
use crate::messages::internal::{
    AllHandlesDropped, Datagrams, Drive, EndpointClose, Flush, HandleParts, OpenAt, Pull,
    SetSocket, StartKeyUpdate,
};
use crate::messages::*;
use crate::protocol::{
    Connection as ProtoConnection, ConnectionError, Dir, ReadFailure, SendStatus, WriteFailure,
};
use crate::protocol::{HandshakeData, VarInt};
use actix::prelude::*;
use bytes::Bytes;
use std::time::Instant;

impl Handler<Drive> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, _: Drive, ctx: &mut Context<Self>) {
        self.drive(ctx);
    }
}

impl Handler<Datagrams> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Datagrams, ctx: &mut Context<Self>) {
        let now = Instant::now();
        for r in msg.0 {
            let (remote, local_ip, ecn) = (r.remote, r.local_ip, r.ecn);
            for data in r.into_datagrams() {
                self.conn
                    .handle_datagram_to(now, remote, local_ip, ecn, data);
            }
        }
        self.drive(ctx);
    }
}

impl Handler<Subscribe> for ConnectionActor {
    type Result = Result<Subscription, ConnectionError>;
    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.lost() {
            return Err(e);
        }
        let parts = self
            .handle_parts(ctx)
            .ok_or(ConnectionError::LocallyClosed)?;
        let id = self.subscribers.add(msg.sink, msg.streams, msg.datagrams);
        // What arrived before the subscription goes to it now.
        if msg.streams {
            self.deliver_streams(Dir::Bi, ctx);
            self.deliver_streams(Dir::Uni, ctx);
        }
        if msg.datagrams {
            self.deliver_datagrams();
        }
        Ok(Subscription::new(id, parts.token))
    }
}

impl Handler<Unsubscribe> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _ctx: &mut Context<Self>) {
        self.subscribers.remove(msg.0);
    }
}

impl Handler<AllHandlesDropped> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, _: AllHandlesDropped, ctx: &mut Context<Self>) {
        if self.token.upgrade().is_some() {
            // A new handle was made after the last one went away.
            return;
        }
        self.handles_dropped = true;
        self.conn
            .close(Instant::now(), VarInt::from_u32(0), Bytes::new());
        self.drive(ctx);
    }
}

impl Handler<SetSocket> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: SetSocket, ctx: &mut Context<Self>) {
        self.socket = msg.0;
        self.conn.local_address_changed();
        self.drive(ctx);
    }
}

impl Handler<EndpointClose> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: EndpointClose, ctx: &mut Context<Self>) {
        self.conn.close(Instant::now(), msg.code, msg.reason);
        self.drive(ctx);
    }
}

impl Handler<HandleParts> for ConnectionActor {
    type Result = Option<ConnectionParts>;
    fn handle(&mut self, _: HandleParts, ctx: &mut Context<Self>) -> Self::Result {
        self.handle_parts(ctx)
    }
}

impl Handler<OpenBi> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: OpenBi, ctx: &mut Context<Self>) -> Self::Result {
        self.open(Dir::Bi, ctx)
    }
}

impl Handler<OpenUni> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: OpenUni, ctx: &mut Context<Self>) -> Self::Result {
        self.open(Dir::Uni, ctx)
    }
}

impl ConnectionActor {
    fn open(
        &mut self,
        d: Dir,
        ctx: &mut Context<Self>,
    ) -> Answer<Result<StreamId, ConnectionError>> {
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        prune(&mut self.waiters.open[d.index()]);
        if self.waiters.open[d.index()].is_empty() {
            if let Some(id) = open_next(&mut self.conn, &self.shared, d) {
                self.drive(ctx);
                return Answer::now(Ok(id));
            }
        }
        let (tx, answer) = park();
        self.waiters.open[d.index()].push_back(tx);
        answer
    }

    fn accept(
        &mut self,
        d: Dir,
        ctx: &mut Context<Self>,
    ) -> Answer<Result<StreamId, ConnectionError>> {
        prune(&mut self.waiters.accept[d.index()]);
        if self.waiters.accept[d.index()].is_empty() {
            if let Some(id) = self.conn.accept(d) {
                self.drive(ctx);
                return Answer::now(Ok(id));
            }
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        let (tx, answer) = park();
        self.waiters.accept[d.index()].push_back(tx);
        answer
    }
}

impl Handler<AcceptBi> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: AcceptBi, ctx: &mut Context<Self>) -> Self::Result {
        self.accept(Dir::Bi, ctx)
    }
}

impl Handler<AcceptUni> for ConnectionActor {
    type Result = Answer<Result<StreamId, ConnectionError>>;
    fn handle(&mut self, _: AcceptUni, ctx: &mut Context<Self>) -> Self::Result {
        self.accept(Dir::Uni, ctx)
    }
}

impl Handler<Close> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) {
        self.conn.close(Instant::now(), msg.code, msg.reason);
        self.drive(ctx);
    }
}

impl ConnectionActor {
    /// Writes at once what flow control takes of `data`, or parks the
    /// write until it takes some (behind writes already parked on the
    /// stream).
    fn write_or_park<D, T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        stream: StreamId,
        mut data: D,
        write: fn(&mut ProtoConnection, StreamId, &mut D) -> Result<T, WriteFailure>,
        parked: fn(D, Reply<Result<T, WriteError>>) -> ParkedWrite,
    ) -> Answer<Result<T, WriteError>> {
        if let Some(e) = self.lost() {
            return Answer::now(Err(WriteError::ConnectionLost(e)));
        }
        if !prune_stream(&mut self.waiters.writers, stream) {
            match write(&mut self.conn, stream, &mut data) {
                Err(WriteFailure::Blocked) => {}
                r => {
                    self.drive(ctx);
                    return Answer::now(map_write(r));
                }
            }
        }
        let (tx, answer) = park();
        self.waiters
            .writers
            .entry(stream)
            .or_default()
            .push_back(parked(data, tx));
        answer
    }
}

impl Handler<Write> for ConnectionActor {
    type Result = Answer<Result<usize, WriteError>>;
    fn handle(&mut self, msg: Write, ctx: &mut Context<Self>) -> Self::Result {
        self.write_or_park(
            ctx,
            msg.stream,
            msg.data,
            |c, id, data| c.write(id, data),
            ParkedWrite::One,
        )
    }
}

impl Handler<WriteChunks> for ConnectionActor {
    type Result = Answer<Result<Written, WriteError>>;
    fn handle(&mut self, msg: WriteChunks, ctx: &mut Context<Self>) -> Self::Result {
        self.write_or_park(
            ctx,
            msg.stream,
            msg.data,
            |c, id, data| write_chunks(c, id, data),
            ParkedWrite::Many,
        )
    }
}

impl Handler<OpenAt> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: OpenAt, _: &mut Context<Self>) {
        // Nothing goes out until the stream is written to.
        self.conn.open_at(msg.0);
    }
}

impl Handler<Flush> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, mut msg: Flush, ctx: &mut Context<Self>) {
        if let Some(outbox) = msg.0.take() {
            self.waiters.flush(&mut self.conn, outbox);
            self.drive(ctx);
        }
    }
}

impl Handler<Pull> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, mut msg: Pull, ctx: &mut Context<Self>) {
        if let Some(inbox) = msg.0.take() {
            if self.waiters.pull(&mut self.conn, inbox) {
                // Reading may have opened flow-control credit.
                self.drive(ctx);
            }
        }
    }
}

impl Handler<Finish> for ConnectionActor {
    type Result = Result<(), ClosedStream>;
    fn handle(&mut self, msg: Finish, ctx: &mut Context<Self>) -> Self::Result {
        let r = self.conn.finish(msg.stream).map_err(|_| ClosedStream);
        self.drive(ctx);
        r
    }
}

impl Handler<Reset> for ConnectionActor {
    type Result = Result<(), ClosedStream>;
    fn handle(&mut self, msg: Reset, ctx: &mut Context<Self>) -> Self::Result {
        let ok = self.conn.reset(msg.stream, msg.code);
        self.waiters
            .fail_writers(msg.stream, WriteError::ClosedStream);
        self.drive(ctx);
        if ok {
            Ok(())
        } else {
            Err(ClosedStream)
        }
    }
}

impl Handler<Stopped> for ConnectionActor {
    type Result = Answer<Result<Option<VarInt>, StoppedError>>;
    fn handle(&mut self, msg: Stopped, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.lost() {
            return Answer::now(Err(StoppedError::ConnectionLost(e)));
        }
        match self.conn.send_status(msg.stream) {
            Some(SendStatus {
                stopped: Some(code),
                ..
            }) => return Answer::now(Ok(Some(code))),
            Some(SendStatus {
                acknowledged: true,
                ..
            })
            // Forgotten: everything was acknowledged.
            | None => return Answer::now(Ok(None)),
            Some(_) => {}
        }
        let (tx, answer) = park();
        self.waiters.stopped.entry(msg.stream).or_default().push(tx);
        answer
    }
}

impl ConnectionActor {
    /// Reads now, or parks the read until data, FIN or a reset arrives.
    fn read<T>(
        &mut self,
        ctx: &mut Context<Self>,
        stream: StreamId,
        max: usize,
        wrap: impl FnOnce(Reply<Result<Option<T>, ReadError>>) -> ReadReply,
        read: impl FnOnce(&mut ProtoConnection) -> Result<Option<T>, ReadFailure>,
    ) -> Answer<Result<Option<T>, ReadError>> {
        if !prune_stream(&mut self.waiters.readers, stream) {
            match read(&mut self.conn) {
                Err(ReadFailure::Blocked) => {}
                r => {
                    // Reading may have opened flow-control credit.
                    self.drive(ctx);
                    return Answer::now(map_read(r));
                }
            }
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(ReadError::ConnectionLost(e)));
        }
        let (tx, answer) = park();
        self.waiters
            .readers
            .entry(stream)
            .or_default()
            .push_back(ParkedRead {
                max,
                reply: wrap(tx),
            });
        answer
    }
}

impl Handler<Read> for ConnectionActor {
    type Result = Answer<Result<Option<Bytes>, ReadError>>;
    fn handle(&mut self, msg: Read, ctx: &mut Context<Self>) -> Self::Result {
        let max = msg.max.max(1);
        self.read(ctx, msg.stream, max, ReadReply::One, |c| {
            c.read(msg.stream, max)
        })
    }
}

impl Handler<ReadChunks> for ConnectionActor {
    type Result = Answer<Result<Option<Chunks>, ReadError>>;
    fn handle(&mut self, msg: ReadChunks, ctx: &mut Context<Self>) -> Self::Result {
        let max = msg.max.max(1);
        self.read(ctx, msg.stream, max, ReadReply::Many, |c| {
            read_many(c, msg.stream, max)
        })
    }
}

impl Handler<Stop> for ConnectionActor {
    type Result = Result<(), ClosedStream>;
    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) -> Self::Result {
        let ok = self.conn.stop(msg.stream, msg.code);
        self.waiters
            .fail_readers(msg.stream, ReadError::ClosedStream);
        self.drive(ctx);
        if ok {
            Ok(())
        } else {
            Err(ClosedStream)
        }
    }
}

impl Handler<SendDatagram> for ConnectionActor {
    type Result = Result<(), SendDatagramError>;
    fn handle(&mut self, msg: SendDatagram, ctx: &mut Context<Self>) -> Self::Result {
        let r = self.conn.send_datagram(msg.0);
        self.drive(ctx);
        r
    }
}

impl Handler<ReadDatagram> for ConnectionActor {
    type Result = Answer<Result<Bytes, ConnectionError>>;
    fn handle(&mut self, _: ReadDatagram, _ctx: &mut Context<Self>) -> Self::Result {
        prune(&mut self.waiters.datagrams);
        if self.waiters.datagrams.is_empty() {
            if let Some(d) = self.conn.read_datagram() {
                return Answer::now(Ok(d));
            }
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        let (tx, answer) = park();
        self.waiters.datagrams.push_back(tx);
        answer
    }
}

impl Handler<SetMaxConcurrentStreams> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: SetMaxConcurrentStreams, ctx: &mut Context<Self>) {
        self.conn.set_max_concurrent_streams(msg.dir, msg.count);
        self.drive(ctx);
    }
}

impl Handler<ForceKeyUpdate> for ConnectionActor {
    type Result = bool;
    fn handle(&mut self, _: ForceKeyUpdate, ctx: &mut Context<Self>) -> bool {
        let started = self.conn.force_key_update();
        self.drive(ctx);
        started
    }
}

impl Handler<StartKeyUpdate> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: StartKeyUpdate, ctx: &mut Context<Self>) {
        // The ForceKeyUpdate message's work, answered on the handle's channel.
        let started = Handler::<ForceKeyUpdate>::handle(self, ForceKeyUpdate, ctx);
        let _ = msg.0.send(started);
    }
}

impl Handler<Stats> for ConnectionActor {
    type Result = MessageResult<Stats>;
    fn handle(&mut self, _: Stats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.conn.stats())
    }
}

impl Handler<WaitConnected> for ConnectionActor {
    type Result = Answer<Result<(), ConnectionError>>;
    fn handle(&mut self, _: WaitConnected, _ctx: &mut Context<Self>) -> Self::Result {
        if self.conn.is_handshake_complete() {
            return Answer::now(Ok(()));
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        let (tx, answer) = park();
        self.waiters.connected.push(tx);
        answer
    }
}

impl Handler<WaitHandshakeData> for ConnectionActor {
    type Result = Answer<Result<HandshakeData, ConnectionError>>;
    fn handle(&mut self, _: WaitHandshakeData, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(data) = self.conn.handshake_data() {
            return Answer::now(Ok(data));
        }
        if let Some(e) = self.lost() {
            return Answer::now(Err(e));
        }
        let (tx, answer) = park();
        self.waiters.handshake_data.push(tx);
        answer
    }
}

impl Handler<ZeroRttStatus> for ConnectionActor {
    type Result = MessageResult<ZeroRttStatus>;
    fn handle(&mut self, _: ZeroRttStatus, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.conn.zero_rtt_state())
    }
}

impl Handler<WaitClosed> for ConnectionActor {
    type Result = Answer<ConnectionError>;
    fn handle(&mut self, _: WaitClosed, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.lost() {
            return Answer::now(e);
        }
        let (tx, answer) = park();
        self.waiters.closed.push(tx);
        answer
    }
}

impl Handler<ExportKeyingMaterial> for ConnectionActor {
    type Result = Result<Vec<u8>, ExportKeyingMaterialError>;
    fn handle(&mut self, msg: ExportKeyingMaterial, _ctx: &mut Context<Self>) -> Self::Result {
        let mut out = vec![0u8; msg.len];
        self.conn
            .export_keying_material(&mut out, &msg.label, &msg.context)
            .map_err(|_| ExportKeyingMaterialError)?;
        Ok(out)
    }
}

#[cfg(feature = "test-hooks")]
impl Handler<crate::messages::TableSizes> for ConnectionActor {
    type Result = actix::MessageResult<crate::messages::TableSizes>;
    fn handle(&mut self, _: crate::messages::TableSizes, _: &mut Context<Self>) -> Self::Result {
        let (send_streams, recv_streams) = self.conn.stream_tables_for_test();
        actix::MessageResult(crate::messages::Tables {
            send_streams,
            recv_streams,
            stream_waiters: self.waiters.stream_entries(),
        })
    }
}
