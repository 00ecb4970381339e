//! Unreliable datagrams (RFC 9221): the bounded queues both ways. Both
//! drop the oldest datagram to make room, as datagrams are unreliable.

use super::FrameStats;
use crate::protocol::frame::{self, Frame};
use bytes::Bytes;
use std::collections::VecDeque;

/// Datagrams received and not yet read, and datagrams queued to send.
#[derive(Debug, Default)]
pub(super) struct Datagrams {
    incoming: VecDeque<Bytes>,
    incoming_bytes: usize,
    outgoing: VecDeque<Bytes>,
    outgoing_bytes: usize,
}

impl Datagrams {
    /// Queues `data` to send within `buffer` bytes in all, dropping the
    /// oldest queued datagrams to make room; returns how many were dropped.
    pub(super) fn queue(&mut self, data: Bytes, buffer: usize) -> u64 {
        let mut dropped = 0;
        while self.outgoing_bytes + data.len() > buffer {
            let Some(old) = self.outgoing.pop_front() else {
                break;
            };
            self.outgoing_bytes -= old.len();
            dropped += 1;
        }
        self.outgoing_bytes += data.len();
        self.outgoing.push_back(data);
        dropped
    }

    /// Keeps a received datagram within `buffer` bytes in all, dropping
    /// the oldest unread ones (or this one, when it alone is larger).
    /// Returns whether it was kept and how many were dropped.
    pub(super) fn receive(&mut self, data: Bytes, buffer: usize) -> (bool, u64) {
        let mut dropped = 0;
        while self.incoming_bytes + data.len() > buffer {
            dropped += 1;
            match self.incoming.pop_front() {
                Some(d) => self.incoming_bytes -= d.len(),
                None => return (false, dropped),
            }
        }
        self.incoming_bytes += data.len();
        self.incoming.push_back(data);
        (true, dropped)
    }

    /// The oldest received datagram.
    pub(super) fn read(&mut self) -> Option<Bytes> {
        let d = self.incoming.pop_front()?;
        self.incoming_bytes -= d.len();
        Some(d)
    }

    /// True when datagrams wait to be sent.
    pub(super) fn wants_send(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Writes queued datagrams as DATAGRAM frames while they fit before
    /// `limit`; true when any was written.
    pub(super) fn write(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        count: &mut FrameStats,
    ) -> bool {
        let mut wrote = false;
        while let Some(d) = self.outgoing.front() {
            let f = Frame::Datagram { data: d.clone() };
            if f.encoded_len() > limit.saturating_sub(buf.len()) {
                break;
            }
            f.encode(buf);
            self.outgoing_bytes -= d.len();
            self.outgoing.pop_front();
            count.record(frame::DATAGRAM_LEN);
            wrote = true;
        }
        wrote
    }

    /// Forgets what was queued to send (the connection closed).
    pub(super) fn clear_outgoing(&mut self) {
        self.outgoing.clear();
        self.outgoing_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: usize, byte: u8) -> Bytes {
        Bytes::from(vec![byte; n])
    }

    #[test]
    fn a_full_send_queue_drops_the_oldest() {
        let mut q = Datagrams::default();
        assert_eq!(q.queue(d(400, 1), 1000), 0);
        assert_eq!(q.queue(d(400, 2), 1000), 0);
        assert_eq!(q.queue(d(400, 3), 1000), 1);
        let mut buf = Vec::new();
        assert!(q.write(&mut buf, 2000, &mut FrameStats::default()));
        let sent: Vec<u8> = crate::protocol::frame::Frames::new(Bytes::from(buf))
            .map(|f| match f.unwrap() {
                Frame::Datagram { data } => data[0],
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sent, [2, 3]);
        assert!(!q.wants_send());
    }

    #[test]
    fn only_whole_datagrams_are_written() {
        let mut q = Datagrams::default();
        q.queue(d(100, 1), 1000);
        q.queue(d(100, 2), 1000);
        let mut buf = Vec::new();
        let mut count = FrameStats::default();
        assert!(q.write(&mut buf, 150, &mut count));
        assert_eq!(count.datagram, 1);
        assert!(q.wants_send(), "the second waits for the next packet");
    }

    #[test]
    fn a_full_receive_buffer_drops_the_oldest_and_a_huge_one_itself() {
        let mut q = Datagrams::default();
        assert_eq!(q.receive(d(600, 1), 1000), (true, 0));
        assert_eq!(q.receive(d(600, 2), 1000), (true, 1));
        assert_eq!(q.read().unwrap()[0], 2);
        assert_eq!(q.receive(d(1500, 3), 1000), (false, 1));
        assert_eq!(q.read(), None);
    }
}
