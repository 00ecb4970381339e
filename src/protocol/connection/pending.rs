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

    /// Writes what fits: the path frames first (see
    /// [`write_path_frames`](Self::write_path_frames)), then
    /// HANDSHAKE_DONE and NEW_TOKEN.
    pub(super) fn write(&mut self, p: &mut Payload<'_>) {
        self.write_path_frames(p);
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
    }

    /// Writes the PATH_CHALLENGE, then the PATH_RESPONSEs (never
    /// retransmitted: a new challenge gets a new response), as far as
    /// they fit. They go first, and also when congestion control holds
    /// everything else back (RFC 9000 §9.4 allows probes that
    /// exception): on a path still limited to three times what arrived
    /// (§8.1), the first packet must be the one the peer answers.
    pub(super) fn write_path_frames(&mut self, p: &mut Payload<'_>) {
        if let Some(data) = self.path_challenge {
            if p.put(
                &Frame::PathChallenge(data),
                Some(SentFrame::PathChallenge(data)),
            ) {
                self.path_challenge = None;
            }
        }
        while let Some(&data) = self.path_responses.front() {
            if !p.put(&Frame::PathResponse(data), None) {
                break;
            }
            self.path_responses.pop_front();
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
                frame::PATH_RESPONSE,
                frame::HANDSHAKE_DONE,
                frame::NEW_TOKEN
            ],
            "path frames first"
        );
        assert_eq!(frames.len(), 2, "PATH_RESPONSE is never retransmitted");
        assert!(!p.wants_send());
    }

    /// A PATH_CHALLENGE that does not fit stays for the next packet.
    #[test]
    fn a_challenge_that_does_not_fit_waits() {
        let mut p = PendingFrames {
            path_challenge: Some([2; 8]),
            ..PendingFrames::default()
        };
        let (buf, _) = write(&mut p, 5);
        assert!(buf.is_empty());
        assert!(p.path_probe());
        let (buf, frames) = write(&mut p, 9);
        assert_eq!(buf.len(), 9);
        assert_eq!(frames.len(), 1);
        assert!(!p.path_probe());
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
