//! Connection IDs (RFC 9000 §5.1): the ones we issued, with their
//! stateless reset tokens (§10.3.2), the ones the peer issued to us, the
//! one we send to, and the NEW_CONNECTION_ID / RETIRE_CONNECTION_ID
//! frames that keep both sets in step.

use super::payload::Payload;
use super::sent::SentFrame;
use crate::protocol::cid::ConnectionId;
use crate::protocol::error::{TransportError, TransportErrorCode};
use crate::protocol::frame::Frame;
use std::sync::Arc;

/// Most RETIRE_CONNECTION_ID frames owed at once when the peer retires
/// many CIDs at a time.
const MAX_PENDING_RETIRES: usize = 64;

/// Most CIDs we keep issued, whatever the peer's limit.
const MAX_ISSUED: u64 = 8;

/// Computes the stateless reset token for `cid` (RFC 9000 §10.3.2).
pub(crate) fn reset_token(key: &crate::protocol::backend::hmac::Key, cid: &[u8]) -> [u8; 16] {
    let tag = crate::protocol::backend::hmac::sign(key, cid);
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag.as_ref()[..16]);
    out
}

/// A connection ID we issued.
#[derive(Debug, Clone, Copy)]
struct LocalCid {
    cid: ConnectionId,
    reset_token: [u8; 16],
}

/// A connection ID the peer issued to us.
#[derive(Debug, Clone, Copy)]
struct RemoteCid {
    cid: ConnectionId,
    reset_token: Option<[u8; 16]>,
}

/// Both sets of connection IDs of one connection.
pub(super) struct CidState {
    /// Ours, by sequence number.
    local: SeqMap<LocalCid>,
    next_local_seq: u64,
    /// The peer's, by sequence number.
    remote: SeqMap<RemoteCid>,
    /// Sequence number of the CID we send to.
    remote_seq: u64,
    /// The peer's largest Retire Prior To.
    retire_prior_to: u64,
    /// The CID we send to.
    dcid: ConnectionId,
    /// Makes each CID we issue and derives its stateless reset token.
    ids: Arc<crate::protocol::CidIssuer>,
    /// The peer's reset token last announced to the endpoint.
    announced_reset_token: Option<[u8; 16]>,
    /// NEW_CONNECTION_ID frames to send, by sequence number.
    new_frames: Vec<u64>,
    /// RETIRE_CONNECTION_ID frames to send, by sequence number.
    retire_frames: Vec<u64>,
}

impl CidState {
    /// Our first CID `scid` (sequence 0) and the peer's `dcid`.
    pub(super) fn new(
        scid: ConnectionId,
        dcid: ConnectionId,
        ids: Arc<crate::protocol::CidIssuer>,
    ) -> Self {
        let mut local = SeqMap::default();
        local.insert(
            0,
            LocalCid {
                cid: scid,
                reset_token: ids.reset_token(&scid),
            },
        );
        let mut remote = SeqMap::default();
        remote.insert(
            0,
            RemoteCid {
                cid: dcid,
                reset_token: None,
            },
        );
        Self {
            local,
            next_local_seq: 1,
            remote,
            remote_seq: 0,
            retire_prior_to: 0,
            dcid,
            ids,
            announced_reset_token: None,
            new_frames: Vec::new(),
            retire_frames: Vec::new(),
        }
    }

    /// The length of the CIDs we issue, which short headers sent to us
    /// carry.
    pub(super) fn local_cid_len(&self) -> usize {
        self.ids.cid_len()
    }

    /// The CID we send to.
    pub(super) fn dcid(&self) -> ConnectionId {
        self.dcid
    }

    #[cfg(test)]
    /// The stateless reset token of our CID `cid`, derived from the key.
    pub(super) fn reset_token_for(&self, cid: &ConnectionId) -> [u8; 16] {
        self.ids.reset_token(cid)
    }

    /// Client: the server chose its CID (its first Initial, RFC 9000
    /// §7.2, or a Retry, §17.2.5.2): send to it from now on.
    pub(super) fn adopt_server_cid(&mut self, cid: ConnectionId) {
        self.dcid = cid;
        self.remote.insert(
            0,
            RemoteCid {
                cid,
                reset_token: None,
            },
        );
    }

    /// The peer's stateless reset token for its first CID (its transport
    /// parameters, RFC 9000 §18.2).
    pub(super) fn set_first_reset_token(&mut self, token: [u8; 16]) {
        if let Some(c) = self.remote.get_mut(&0) {
            c.reset_token = Some(token);
        }
    }

    /// True when `cid` is one we issued.
    pub(super) fn is_local(&self, cid: &ConnectionId) -> bool {
        self.local.0.iter().any(|(_, c)| c.cid == *cid)
    }

    /// Issues CIDs up to the peer's `limit` (RFC 9000 §5.1.1), from
    /// `rng`; returns the new ones, for the endpoint to route.
    pub(super) fn issue(&mut self, limit: u64, rng: &mut impl rand::RngCore) -> Vec<ConnectionId> {
        let mut issued = Vec::new();
        while (self.local.len() as u64) < limit.min(MAX_ISSUED) {
            let cid = self.ids.new_cid(rng);
            let seq = self.next_local_seq;
            self.next_local_seq += 1;
            self.local.insert(
                seq,
                LocalCid {
                    cid,
                    reset_token: self.ids.reset_token(&cid),
                },
            );
            self.new_frames.push(seq);
            issued.push(cid);
        }
        issued
    }

    /// Handles NEW_CONNECTION_ID (RFC 9000 §19.15); `limit` is our
    /// active_connection_id_limit.
    pub(super) fn on_new_cid(
        &mut self,
        seq: u64,
        retire_prior_to: u64,
        cid: ConnectionId,
        reset_token: [u8; 16],
        limit: u64,
    ) -> Result<(), TransportError> {
        if self.dcid.is_empty() {
            return Err(TransportError::protocol_violation(
                "NEW_CONNECTION_ID with a zero-length CID in use",
            ));
        }
        if let Some(existing) = self.remote.get(&seq) {
            if existing.cid != cid {
                return Err(TransportError::protocol_violation(
                    "sequence number reused for another CID",
                ));
            }
            return Ok(());
        }
        if seq < self.retire_prior_to {
            // Already retired: retire this one straight away (§19.15).
            self.retire_frames.push(seq);
            return Ok(());
        }
        self.remote.insert(
            seq,
            RemoteCid {
                cid,
                reset_token: Some(reset_token),
            },
        );
        if retire_prior_to > self.retire_prior_to {
            self.retire_prior_to = retire_prior_to;
            for s in self.remote.remove_below(retire_prior_to) {
                if self.retire_frames.len() < MAX_PENDING_RETIRES {
                    self.retire_frames.push(s);
                }
            }
            if self.remote_seq < retire_prior_to {
                if let Some((s, c)) = self.remote.first_from(0) {
                    self.remote_seq = s;
                    self.dcid = c.cid;
                }
            }
        }
        // RFC 9000 §5.1.1: more than our limit is an error.
        if self.remote.len() as u64 > limit.max(2) {
            return Err(TransportError::new(
                TransportErrorCode::CONNECTION_ID_LIMIT_ERROR,
                "too many connection IDs",
            ));
        }
        Ok(())
    }

    /// Handles RETIRE_CONNECTION_ID (RFC 9000 §19.16): returns the CID
    /// retired, if it was still ours, for the endpoint to stop routing.
    pub(super) fn on_retire_cid(
        &mut self,
        seq: u64,
    ) -> Result<Option<ConnectionId>, TransportError> {
        if seq >= self.next_local_seq {
            return Err(TransportError::protocol_violation(
                "retiring a CID never issued",
            ));
        }
        Ok(self.local.remove(&seq).map(|c| c.cid))
    }

    /// Moves to the next CID the peer issued and retires the one in use
    /// (RFC 9000 §5.1.2); false when the peer issued no spare one.
    pub(super) fn rotate(&mut self) -> bool {
        if self.dcid.is_empty() {
            return false;
        }
        let Some((seq, next)) = self.remote.first_from(self.remote_seq + 1) else {
            return false;
        };
        let next = next.cid;
        let old = std::mem::replace(&mut self.remote_seq, seq);
        self.dcid = next;
        // RFC 9000 §10.3.1: a retired CID's reset token is no longer
        // checked; the peer issues a replacement on RETIRE_CONNECTION_ID.
        self.remote.remove(&old);
        self.retire_frames.push(old);
        true
    }

    /// The peer's reset token for the CID we send to, when it changed
    /// since last asked: the endpoint must route resets carrying it here
    /// (RFC 9000 §10.3.1).
    pub(super) fn reset_token_to_announce(&mut self) -> Option<[u8; 16]> {
        let t = self
            .remote
            .get(&self.remote_seq)
            .and_then(|c| c.reset_token)?;
        if self.announced_reset_token == Some(t) {
            return None;
        }
        self.announced_reset_token = Some(t);
        Some(t)
    }

    /// True when `tail` (the last 16 bytes of a datagram that failed to
    /// open) is the reset token of the CID we send to, compared in
    /// constant time (RFC 9000 §10.3.1); tokens of CIDs never used or
    /// retired are not checked.
    pub(super) fn is_stateless_reset(&self, tail: &[u8]) -> bool {
        self.remote
            .get(&self.remote_seq)
            .and_then(|c| c.reset_token)
            .is_some_and(|t| constant_time_eq(&t, tail))
    }

    /// A NEW_CONNECTION_ID frame was lost: send it again if the CID is
    /// still ours.
    pub(super) fn requeue_new(&mut self, seq: u64) {
        if self.local.contains_key(&seq) {
            self.new_frames.push(seq);
        }
    }

    /// A RETIRE_CONNECTION_ID frame was lost: send it again.
    pub(super) fn requeue_retire(&mut self, seq: u64) {
        self.retire_frames.push(seq);
    }

    /// True when CID frames wait to be sent.
    pub(super) fn wants_send(&self) -> bool {
        !self.new_frames.is_empty() || !self.retire_frames.is_empty()
    }

    /// Writes NEW_CONNECTION_ID then RETIRE_CONNECTION_ID frames while
    /// they fit.
    pub(super) fn write(&mut self, p: &mut Payload<'_>) {
        while p.has_control_room() {
            let Some(seq) = self.new_frames.pop() else {
                break;
            };
            let Some(c) = self.local.get(&seq) else {
                continue;
            };
            let f = Frame::NewConnectionId {
                seq,
                retire_prior_to: 0,
                cid: c.cid,
                reset_token: c.reset_token,
            };
            p.put(&f, Some(SentFrame::NewCid(seq)));
        }
        while p.has_control_room() {
            let Some(seq) = self.retire_frames.pop() else {
                break;
            };
            p.put(
                &Frame::RetireConnectionId { seq },
                Some(SentFrame::RetireCid(seq)),
            );
        }
    }
}

/// A few entries by sequence number, in order: the CIDs of one side are
/// bounded (`MAX_ISSUED`, the peer's limit), so a sorted vector costs
/// less memory than a tree and no more time.
struct SeqMap<V>(Vec<(u64, V)>);

impl<V> Default for SeqMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> SeqMap<V> {
    fn position(&self, seq: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&seq, |(s, _)| *s)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn contains_key(&self, seq: &u64) -> bool {
        self.position(*seq).is_ok()
    }

    fn get(&self, seq: &u64) -> Option<&V> {
        self.position(*seq).ok().map(|i| &self.0[i].1)
    }

    fn get_mut(&mut self, seq: &u64) -> Option<&mut V> {
        self.position(*seq).ok().map(|i| &mut self.0[i].1)
    }

    /// Inserts or replaces the entry of `seq`.
    fn insert(&mut self, seq: u64, value: V) {
        match self.position(seq) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (seq, value)),
        }
    }

    fn remove(&mut self, seq: &u64) -> Option<V> {
        self.position(*seq).ok().map(|i| self.0.remove(i).1)
    }

    /// Removes every entry below `seq`, returning their sequence numbers.
    fn remove_below(&mut self, seq: u64) -> Vec<u64> {
        let end = self.position(seq).unwrap_or_else(|i| i);
        self.0.drain(..end).map(|(s, _)| s).collect()
    }

    /// The first entry at or after `seq`.
    fn first_from(&self, seq: u64) -> Option<(u64, &V)> {
        let i = self.position(seq).unwrap_or_else(|i| i);
        self.0.get(i).map(|(s, v)| (*s, v))
    }
}

/// Compares two byte strings without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::connection::FrameStats;

    /// Writes `s`'s frames into a fresh packet.
    fn write(s: &mut CidState) -> (Vec<u8>, FrameStats) {
        let (mut buf, mut frames, mut count) = (Vec::new(), Vec::new(), FrameStats::default());
        s.write(&mut Payload {
            buf: &mut buf,
            limit: 1200,
            frames: &mut frames,
            count: &mut count,
        });
        (buf, count)
    }

    fn cid(b: u8) -> ConnectionId {
        ConnectionId::new(&[b; 8]).unwrap()
    }

    fn state() -> CidState {
        let ids = Arc::new(crate::protocol::CidIssuer::random_with_key(&[7; 32]));
        CidState::new(cid(0xaa), cid(0xbb), ids)
    }

    #[test]
    fn issue_up_to_the_peer_limit_with_derived_reset_tokens() {
        let mut s = state();
        let mut rng = rand::rngs::mock::StepRng::new(1, 1);
        let new = s.issue(4, &mut rng);
        assert_eq!(new.len(), 3, "sequence 0 counts against the limit");
        assert!(new.iter().all(|c| s.is_local(c)));
        assert!(s.issue(4, &mut rng).is_empty());
        assert!(s.wants_send());
        let (buf, count) = write(&mut s);
        assert_eq!(count.new_connection_id, 3);
        let tokens: Vec<[u8; 16]> = crate::protocol::frame::Frames::new(bytes::Bytes::from(buf))
            .map(|f| match f.unwrap() {
                Frame::NewConnectionId {
                    cid, reset_token, ..
                } => {
                    assert_eq!(reset_token, s.reset_token_for(&cid));
                    reset_token
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tokens.len(), 3);
    }

    #[test]
    fn more_cids_than_our_limit_is_an_error() {
        // RFC 9000 §5.1.1: CONNECTION_ID_LIMIT_ERROR.
        let mut s = state();
        s.on_new_cid(1, 0, cid(1), [1; 16], 2).unwrap();
        let e = s.on_new_cid(2, 0, cid(2), [2; 16], 2).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
    }

    #[test]
    fn a_sequence_number_reused_for_another_cid_is_a_violation() {
        let mut s = state();
        s.on_new_cid(1, 0, cid(1), [1; 16], 4).unwrap();
        s.on_new_cid(1, 0, cid(1), [1; 16], 4).unwrap();
        let e = s.on_new_cid(1, 0, cid(9), [1; 16], 4).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    }

    #[test]
    fn retire_prior_to_moves_us_to_a_newer_cid_and_retires_the_old() {
        let mut s = state();
        s.on_new_cid(1, 0, cid(1), [1; 16], 4).unwrap();
        s.on_new_cid(2, 2, cid(2), [2; 16], 4).unwrap();
        assert_eq!(s.dcid(), cid(2));
        let (_, count) = write(&mut s);
        assert_eq!(count.retire_connection_id, 2, "sequences 0 and 1");
        // A CID below Retire Prior To arriving late is retired at once.
        assert!(!s.wants_send());
        s.on_new_cid(1, 0, cid(1), [1; 16], 4).unwrap();
        assert!(s.wants_send());
        assert_eq!(s.dcid(), cid(2));
    }

    #[test]
    fn rotation_moves_on_and_checks_only_the_current_reset_token() {
        let mut s = state();
        assert!(!s.rotate(), "no spare CID yet");
        s.on_new_cid(1, 0, cid(1), [1; 16], 4).unwrap();
        assert!(!s.is_stateless_reset(&[1; 16]), "not in use yet");
        assert!(s.rotate());
        assert_eq!(s.dcid(), cid(1));
        assert!(s.is_stateless_reset(&[1; 16]));
        assert!(!s.is_stateless_reset(&[2; 16]));
        assert_eq!(s.reset_token_to_announce(), Some([1; 16]));
        assert_eq!(s.reset_token_to_announce(), None, "announced once");
    }

    #[test]
    fn retiring_a_cid_never_issued_is_a_violation() {
        let mut s = state();
        assert_eq!(s.on_retire_cid(0).unwrap(), Some(cid(0xaa)));
        assert_eq!(s.on_retire_cid(0).unwrap(), None, "already retired");
        let e = s.on_retire_cid(5).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    }
}
