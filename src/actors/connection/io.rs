//! Socket I/O of a connection actor: draining the connection's transmits
//! into GSO batches, and parking a batch when the socket is full until it
//! drains.

use super::ConnectionActor;
use crate::messages::internal::Drive;
use actix::prelude::*;
use std::cell::RefCell;
use std::time::Instant;

/// Most transmits per drive before yielding to the mailbox.
const MAX_TRANSMITS_PER_DRIVE: usize = 32;

/// Most UDP payload bytes in one GSO send.
const MAX_GSO_BYTES: usize = 65_000;

thread_local! {
    /// The buffer transmits are built in, one per thread for all the
    /// connection actors it runs (they flush one at a time): no
    /// connection holds a send buffer, and no packet allocates one.
    static SEND_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl ConnectionActor {
    /// Sends what the connection has, in batches of equal-sized
    /// datagrams; yields to the mailbox after [`MAX_TRANSMITS_PER_DRIVE`]
    /// batches, and parks a batch the socket cannot take.
    pub(super) fn flush(&mut self, ctx: &mut Context<Self>, now: Instant) {
        if self.send_blocked {
            return;
        }
        let mut buf = SEND_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
        self.flush_with(ctx, now, &mut buf);
        // Empty if a parked batch took it: the next flush grows a new one.
        SEND_BUF.with(|b| *b.borrow_mut() = buf);
    }

    /// [`Self::flush`] with the thread's buffer.
    fn flush_with(&mut self, ctx: &mut Context<Self>, now: Instant, buf: &mut Vec<u8>) {
        // One GSO send carries at most 64 KiB of UDP payload: larger
        // batches fail with EMSGSIZE (and quinn-udp reports that as sent).
        let mtu = usize::from(self.conn.stats().mtu).max(1200);
        let segments = self
            .socket
            .max_gso_segments()
            .min(MAX_GSO_BYTES / mtu)
            .max(1);
        for _ in 0..MAX_TRANSMITS_PER_DRIVE {
            let Some(t) = self.conn.poll_transmit(now, segments, buf) else {
                return;
            };
            // What a peer can see (this batch) is in the handles'
            // snapshot before it leaves: a handle on another thread reads
            // `stats()` as soon as the peer has it.
            self.update_snapshot();
            match self.socket.try_send(
                t.destination,
                t.src_ip,
                t.ecn,
                &buf[..t.size],
                t.segment_size,
            ) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Keep the batch and send it once the socket drains.
                    self.send_blocked = true;
                    let socket = self.socket.clone();
                    let pending = std::mem::take(buf);
                    ctx.spawn(
                        async move {
                            loop {
                                if socket.writable().await.is_err() {
                                    return pending;
                                }
                                match socket.try_send(
                                    t.destination,
                                    t.src_ip,
                                    t.ecn,
                                    &pending[..t.size],
                                    t.segment_size,
                                ) {
                                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                        continue
                                    }
                                    _ => return pending,
                                }
                            }
                        }
                        .into_actor(self)
                        .map(|_, act: &mut Self, ctx| {
                            act.send_blocked = false;
                            act.drive(ctx);
                        }),
                    );
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "send failed"),
            }
        }
        // More may be ready: continue after the mailbox had a turn.
        ctx.notify(Drive);
    }
}
