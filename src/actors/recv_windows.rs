//! The buffers an endpoint's socket receives into, and how what arrived
//! leaves them: a large GRO batch without a copy, anything else copied.
//!
//! `recvmmsg` fills up to [`WINDOWS`] windows of [`WINDOW_SIZE`] bytes,
//! each with one datagram or one GRO batch of equal-sized datagrams.
//! Copying each datagram out into a buffer of its own costs an allocation
//! and a copy per datagram, the largest costs of a bulk receiver after
//! decryption. So a batch of at least [`ZERO_COPY_MIN`] bytes leaves in
//! its window: the window is split into one `BytesMut` per datagram (all
//! sharing its allocation) and a fresh window takes its place.
//!
//! A datagram that a connection keeps (stream data waiting for the
//! application, say) keeps its whole window allocated. To bound what a
//! peer can pin that way, at most [`LENT_LIMIT`] windows are out at once
//! (4 MiB); past that, batches are copied out datagram by datagram as
//! small receives always are, so a kept datagram pins only itself.
//!
//! A window whose datagrams are all gone is reused as it is, up to
//! [`SPARE_LIMIT`] of them kept ready: zeroing 64 KiB afresh (as a new
//! window must be, to be received into) costs more than the copies a
//! bulk receiver saves by lending.

use bytes::BytesMut;
use std::collections::VecDeque;

/// Windows per `recvmmsg` call.
pub(super) const WINDOWS: usize = 8;

/// Size of each window: the largest GRO batch.
pub(super) const WINDOW_SIZE: usize = 64 * 1024;

/// Smallest receive that leaves in its window rather than copied: a
/// fresh window is zeroed whole (64 KiB), which costs about what copying
/// out half of it does, with its allocations.
const ZERO_COPY_MIN: usize = 32 * 1024;

/// Most windows handed over and still held by some datagram.
const LENT_LIMIT: usize = 64;

/// Most released windows kept ready for reuse (2 MiB). A bulk receiver
/// has a few dozen windows out; keeping fewer spares (8) freed windows a
/// moment before new ones had to be zeroed, 3 % of its CPU. Spares come
/// out of the lent ones, so lent and spare together stay within
/// `LENT_LIMIT`.
const SPARE_LIMIT: usize = 32;

/// True when `handle` (a lent window's emptied end) is the last handle on
/// its window; the window is then whole again in `handle`, `WINDOW_SIZE`
/// bytes long, holding whatever was last received into it.
fn released(handle: &mut BytesMut) -> bool {
    // Growing an empty handle to the window's size without allocating
    // succeeds only by reclaiming the whole window, which only the last
    // handle on it may do.
    if !handle.try_reclaim(WINDOW_SIZE) {
        return false;
    }
    // Every window is made by `BytesMut::zeroed(WINDOW_SIZE)`: one
    // allocation of exactly `WINDOW_SIZE` bytes (`vec![0; n]` has exactly
    // the capacity asked for), all initialized then, and nothing makes
    // them uninitialized again. Reclaiming that much room without
    // allocating can only have given back that whole allocation.
    debug_assert_eq!(handle.capacity(), WINDOW_SIZE);
    // SAFETY: the `WINDOW_SIZE` bytes now behind `handle` are that
    // allocation, all initialized (see above), and `handle` is its only
    // handle, so no one else reads or writes them.
    unsafe { handle.set_len(WINDOW_SIZE) };
    true
}

/// The receive windows and the ones handed over.
#[derive(Debug)]
pub(super) struct RecvWindows {
    /// What the next `recvmmsg` fills, each `WINDOW_SIZE` bytes long.
    windows: Vec<BytesMut>,
    /// A handle on each window handed over, oldest first: its allocation
    /// is free again once this is its last handle.
    lent: VecDeque<BytesMut>,
    /// Released windows, whole, ready to replace one handed over.
    spare: Vec<BytesMut>,
}

impl RecvWindows {
    /// `WINDOWS` empty windows.
    pub(super) fn new() -> Self {
        Self {
            windows: (0..WINDOWS)
                .map(|_| BytesMut::zeroed(WINDOW_SIZE))
                .collect(),
            lent: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    /// The windows to receive into.
    pub(super) fn windows(&mut self) -> &mut [BytesMut] {
        &mut self.windows
    }

    /// Hands out the `len` bytes received in window `i`, datagrams of
    /// `stride` bytes (the last may be shorter), to `out` with their
    /// size: all in one piece when the window goes as it is, else one by
    /// one, copied.
    pub(super) fn take(
        &mut self,
        i: usize,
        len: usize,
        stride: usize,
        mut out: impl FnMut(BytesMut, usize),
    ) {
        let stride = stride.max(1);
        let fresh = if len >= ZERO_COPY_MIN {
            self.fresh_window()
        } else {
            self.forget_released();
            None
        };
        if let Some(fresh) = fresh {
            let mut rest = std::mem::replace(&mut self.windows[i], fresh);
            let datagrams = rest.split_to(len);
            // `rest` (the window's unused end) is kept as the handle that
            // tells when every datagram is gone.
            rest.clear();
            self.lent.push_back(rest);
            out(datagrams, stride);
        } else {
            for d in self.windows[i][..len].chunks(stride) {
                out(BytesMut::from(d), d.len());
            }
        }
    }

    /// A window to replace one handed over: a spare one, or the oldest
    /// one out if all its datagrams are gone, else a new one while fewer
    /// than `LENT_LIMIT` are out.
    fn fresh_window(&mut self) -> Option<BytesMut> {
        if let Some(w) = self.spare.pop() {
            return Some(w);
        }
        if self.lent.front_mut().is_some_and(released) {
            return self.lent.pop_front();
        }
        (self.lent.len() < LENT_LIMIT).then(|| BytesMut::zeroed(WINDOW_SIZE))
    }

    /// Takes back the oldest windows out whose datagrams are all gone:
    /// kept as spares up to `SPARE_LIMIT`, freed past that.
    fn forget_released(&mut self) {
        while self.lent.front_mut().is_some_and(released) {
            let w = self.lent.pop_front();
            if self.spare.len() < SPARE_LIMIT {
                self.spare.extend(w);
            }
        }
    }

    #[cfg(test)]
    fn lent(&self) -> usize {
        self.lent.len()
    }

    #[cfg(test)]
    fn spare(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(w: &mut RecvWindows, i: usize, len: usize) {
        for (k, b) in w.windows()[i][..len].iter_mut().enumerate() {
            *b = (k % 251) as u8;
        }
    }

    /// The datagrams handed out, split at their size.
    fn take_all(w: &mut RecvWindows, i: usize, len: usize, stride: usize) -> Vec<BytesMut> {
        let mut out = Vec::new();
        w.take(i, len, stride, |mut d, size| {
            while !d.is_empty() {
                out.push(d.split_to(size.min(d.len())));
            }
        });
        out
    }

    #[test]
    fn a_large_batch_leaves_without_a_copy_and_the_datagrams_are_exact() {
        let mut w = RecvWindows::new();
        let len = 30 * 1452 + 700;
        fill(&mut w, 2, len);
        let before = w.windows()[2].as_ptr();
        let got = take_all(&mut w, 2, len, 1452);
        assert_eq!(got.len(), 31);
        assert_eq!(
            got[0].as_ptr(),
            before,
            "the first datagram is the window itself"
        );
        assert_eq!(got[30].len(), 700);
        let joined: Vec<u8> = got.iter().flat_map(|d| d.iter().copied()).collect();
        assert!(joined
            .iter()
            .enumerate()
            .all(|(k, &b)| b == (k % 251) as u8));
        assert_eq!(
            w.windows()[2].len(),
            WINDOW_SIZE,
            "a fresh window took its place"
        );
        assert_ne!(w.windows()[2].as_ptr(), before);
        assert_eq!(w.lent(), 1);
        drop(got);
        // Once its datagrams are gone the window is free again, and kept
        // whole, as received into, for the next batch to leave in.
        w.forget_released();
        assert_eq!((w.lent(), w.spare()), (0, 1));
        fill(&mut w, 2, len);
        let _next = take_all(&mut w, 2, len, 1452);
        assert_eq!(w.windows()[2].as_ptr(), before, "the spare is reused");
        assert_eq!(w.windows()[2].len(), WINDOW_SIZE);
        assert_eq!(w.windows()[2][..4], [0, 1, 2, 3], "and not zeroed again");
        assert_eq!((w.lent(), w.spare()), (1, 0));
    }

    #[test]
    fn spares_are_bounded() {
        let mut w = RecvWindows::new();
        let mut out = Vec::new();
        for _ in 0..SPARE_LIMIT + 3 {
            fill(&mut w, 0, 40 * 1024);
            out.push(take_all(&mut w, 0, 40 * 1024, 1024));
        }
        assert_eq!(w.lent(), SPARE_LIMIT + 3);
        drop(out);
        w.forget_released();
        assert_eq!((w.lent(), w.spare()), (0, SPARE_LIMIT));
    }

    #[test]
    fn small_receives_are_copied_and_the_window_stays() {
        let mut w = RecvWindows::new();
        fill(&mut w, 0, 1200);
        let before = w.windows()[0].as_ptr();
        let got = take_all(&mut w, 0, 1200, 1200);
        assert_eq!(got.len(), 1);
        assert_ne!(got[0].as_ptr(), before);
        assert_eq!(w.windows()[0].as_ptr(), before);
        assert_eq!(w.lent(), 0);
    }

    #[test]
    fn kept_datagrams_pin_at_most_the_limit_then_batches_are_copied() {
        let mut w = RecvWindows::new();
        let mut kept = Vec::new();
        for _ in 0..LENT_LIMIT {
            fill(&mut w, 0, 40 * 1024);
            // Only one datagram of each batch is kept: the worst case.
            kept.push(take_all(&mut w, 0, 40 * 1024, 1024).swap_remove(5));
        }
        assert_eq!(w.lent(), LENT_LIMIT);
        fill(&mut w, 0, 40 * 1024);
        let before = w.windows()[0].as_ptr();
        let got = take_all(&mut w, 0, 40 * 1024, 1024);
        assert_eq!(got.len(), 40);
        assert_eq!(w.windows()[0].as_ptr(), before, "copied: the window stays");
        assert_eq!(w.lent(), LENT_LIMIT);
        // Releasing the oldest lets the next batch go without a copy, into
        // the window released.
        let oldest = kept.remove(0).as_ptr();
        fill(&mut w, 0, 40 * 1024);
        let _got = take_all(&mut w, 0, 40 * 1024, 1024);
        assert_ne!(w.windows()[0].as_ptr(), before);
        assert_eq!(w.lent(), LENT_LIMIT);
        assert_eq!(
            w.windows()[0].as_ptr(),
            oldest.wrapping_sub(5 * 1024),
            "the released window is reused"
        );
    }
}
