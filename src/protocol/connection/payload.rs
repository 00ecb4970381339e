//! The payload of a packet being built: where frames go, how far they may
//! go, which of them to remember for retransmission, and the frame counts
//! for the statistics.

use super::sent::SentFrame;
use super::FrameStats;
use crate::protocol::frame::Frame;

/// Room a control frame needs before it is written: enough for any of
/// them but NEW_TOKEN, which is checked against its length.
const CONTROL_FRAME_ROOM: usize = 48;

/// Frames written into a packet.
pub(super) struct Payload<'a> {
    /// The datagram being built.
    pub(super) buf: &'a mut Vec<u8>,
    /// Where the payload must end (before the AEAD tag).
    pub(super) limit: usize,
    /// What to send again if the packet is lost.
    pub(super) frames: &'a mut Vec<SentFrame>,
    /// Frames written, by type.
    pub(super) count: &'a mut FrameStats,
}

impl Payload<'_> {
    /// Bytes left before the limit.
    pub(super) fn room(&self) -> usize {
        self.limit.saturating_sub(self.buf.len())
    }

    /// True while a control frame fits.
    pub(super) fn has_control_room(&self) -> bool {
        self.room() >= CONTROL_FRAME_ROOM
    }

    /// Writes `frame` if it fits, counting it and remembering `sent` (if
    /// any) for retransmission; false when it does not fit.
    pub(super) fn put(&mut self, frame: &Frame, sent: Option<SentFrame>) -> bool {
        if frame.encoded_len() > self.room() {
            return false;
        }
        frame.encode(self.buf);
        self.count.record(frame.ty());
        self.frames.extend(sent);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_goes_in_only_if_it_fits() {
        let (mut buf, mut frames, mut count) = (Vec::new(), Vec::new(), FrameStats::default());
        let mut p = Payload {
            buf: &mut buf,
            limit: 52,
            frames: &mut frames,
            count: &mut count,
        };
        assert!(p.has_control_room());
        assert!(p.put(&Frame::MaxData(1 << 20), Some(SentFrame::MaxData)));
        assert!(!p.has_control_room(), "{} bytes left", p.room());
        assert_eq!(p.room(), 47);
        let big = Frame::NewToken {
            token: bytes::Bytes::from(vec![0; 100]),
        };
        assert!(!p.put(&big, None));
        assert_eq!(count.max_data, 1);
        assert_eq!(count.total(), 1);
        assert_eq!(frames.len(), 1);
        assert_eq!(buf.len(), 5, "MAX_DATA with a 4-byte varint");
    }
}
