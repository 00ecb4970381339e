//! Control frames of the connection itself (not of streams or CIDs)
//! waiting to be sent in the Data space: HANDSHAKE_DONE, NEW_TOKEN,
//! PATH_CHALLENGE, PATH_RESPONSE and PING.

use super::payload::Payload;
use super::sent::SentFrame;
use crate::protocol::frame::Frame;
use bytes::Bytes;
use std::collections::VecDeque;

/// Most PATH_RESPONSE frames owed at once; more challenges are ignored
/// (a peer gains nothing by flooding them).
const MAX_PATH_RESPONSES: usize = 16;

/// Connection control frames waiting to be sent.
#[derive(Debug, Default)]
pub(super) struct PendingFrames {
    /// Server: HANDSHAKE_DONE (RFC 9000 §19.20).
    pub(super) handshake_done: bool,
    /// PATH_RESPONSE data owed, oldest first (RFC 9000 §8.2.2).
    path_responses: VecDeque<[u8; 8]>,
    /// A PATH_CHALLENGE to send on the path being validated.
    pub(super) path_challenge: Option<[u8; 8]>,
    /// A PING (keep-alive, or telling the peer we moved).
    pub(super) ping: bool,
    /// Server: a NEW_TOKEN frame to send (RFC 9000 §8.1.3).
    pub(super) new_token: Option<Bytes>,
}

impl PendingFrames {
    /// True when something here waits to be sent.
    pub(super) fn wants_send(&self) -> bool {
        self.handshake_done
            || self.new_token.is_some()
            || !self.path_responses.is_empty()
            || self.path_challenge.is_some()
            || self.ping
    }

    /// True when the datagram must be padded to 1200 bytes: a
    /// PATH_CHALLENGE or PATH_RESPONSE goes in it (RFC 9000 §8.2.1, §8.2.2).
    pub(super) fn path_probe(&self) -> bool {
        self.path_challenge.is_some() || !self.path_responses.is_empty()
    }

    /// A PATH_CHALLENGE arrived: answer it.
    pub(super) fn on_path_challenge(&mut self, data: [u8; 8]) {
        if self.path_responses.len() < MAX_PATH_RESPONSES {
            self.path_responses.push_back(data);
        }
    }

    /// Writes what fits: HANDSHAKE_DONE, NEW_TOKEN, PATH_CHALLENGE, then
    /// PATH_RESPONSEs (never retransmitted: a new challenge gets a new
    /// response).
    pub(super) fn write(&mut self, p: &mut Payload<'_>) {
        if self.handshake_done && p.has_control_room() {
            self.handshake_done = !p.put(&Frame::HandshakeDone, Some(SentFrame::HandshakeDone));
        }
        if let Some(token) = self.new_token.take() {
            let f = Frame::NewToken {
                token: token.clone(),
            };
            if !p.put(&f, Some(SentFrame::NewToken(token.clone()))) {
                self.new_token = Some(token);
            }
        }
        if p.has_control_room() {
            if let Some(data) = self.path_challenge.take() {
                p.put(
                    &Frame::PathChallenge(data),
                    Some(SentFrame::PathChallenge(data)),
                );
            }
        }
        while p.has_control_room() {
            let Some(data) = self.path_responses.pop_front() else {
                break;
            };
            p.put(&Frame::PathResponse(data), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::connection::FrameStats;
    use crate::protocol::frame;

    /// Writes `p`'s frames into a fresh packet of `limit` bytes.
    fn write(p: &mut PendingFrames, limit: usize) -> (Vec<u8>, Vec<SentFrame>) {
        let (mut buf, mut frames, mut count) = (Vec::new(), Vec::new(), FrameStats::default());
        p.write(&mut Payload {
            buf: &mut buf,
            limit,
            frames: &mut frames,
            count: &mut count,
        });
        (buf, frames)
    }

    #[test]
    fn nothing_pending_wants_nothing_and_writes_nothing() {
        let mut p = PendingFrames::default();
        assert!(!p.wants_send());
        let (buf, frames) = write(&mut p, 1200);
        assert!(buf.is_empty() && frames.is_empty());
    }

    #[test]
    fn frames_go_out_once_and_in_order() {
        let mut p = PendingFrames {
            handshake_done: true,
            new_token: Some(Bytes::from_static(b"token")),
            ..PendingFrames::default()
        };
        p.on_path_challenge([1; 8]);
        assert!(p.wants_send() && p.path_probe());
        let (buf, frames) = write(&mut p, 1200);
        let types: Vec<u64> = crate::protocol::frame::Frames::new(Bytes::from(buf))
            .map(|f| f.unwrap().ty())
            .collect();
        assert_eq!(
            types,
            [
                frame::HANDSHAKE_DONE,
                frame::NEW_TOKEN,
                frame::PATH_RESPONSE
            ]
        );
        assert_eq!(frames.len(), 2, "PATH_RESPONSE is never retransmitted");
        assert!(!p.wants_send());
    }

    #[test]
    fn a_token_that_does_not_fit_waits() {
        let mut p = PendingFrames {
            new_token: Some(Bytes::from(vec![0; 100])),
            ..PendingFrames::default()
        };
        let (buf, frames) = write(&mut p, 50);
        assert!(buf.is_empty() && frames.is_empty());
        assert!(p.new_token.is_some());
    }

    #[test]
    fn path_responses_are_bounded() {
        let mut p = PendingFrames::default();
        for i in 0..100u8 {
            p.on_path_challenge([i; 8]);
        }
        assert_eq!(p.path_responses.len(), MAX_PATH_RESPONSES);
    }
}
