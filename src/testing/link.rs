//! A model of one direction of a network path: delay, bandwidth, a
//! bounded queue, loss (random or in bursts), reordering, duplication,
//! bit corruption and scheduled outages, all decided by a seeded
//! generator.
//!
//! The model has no clock of its own. [`SimLink::send`] is told the time a
//! datagram enters the link and answers when (and in what state) it comes
//! out at the far end, or why it never does. The same model therefore
//! drives the virtual clock of [`Pair`](super::Pair) and the real clock of
//! the UDP [`Relay`](super::Relay): with the same seed, configuration and
//! sending times, it makes the same decisions.
//!
//! What happens to a datagram, in order:
//!
//! 1. larger than [`LinkConfig::max_datagram`]: dropped
//!    ([`DropReason::TooLarge`]);
//! 2. with a [`LinkConfig::bandwidth`], it waits for the datagrams ahead
//!    of it to be serialised, then takes `(len + overhead) * 8 /
//!    bandwidth` itself; if [`LinkConfig::queue`] datagrams are already
//!    waiting it is dropped at the tail ([`DropReason::QueueFull`]);
//! 3. once on the wire, it may be lost ([`LinkConfig::loss`],
//!    [`DropReason::Lost`]) or have one bit flipped
//!    ([`LinkConfig::corrupt`]);
//! 4. it arrives after the propagation [`LinkConfig::delay`], plus a
//!    random [`LinkConfig::jitter`], plus [`LinkConfig::reorder_delay`]
//!    for the fraction [`LinkConfig::reorder`] held back;
//! 5. if the link is down at that moment ([`LinkConfig::outages`]) it is
//!    lost ([`DropReason::Outage`]), as in the interop runner's blackhole,
//!    where the receiving side of the cut drops everything;
//! 6. a fraction [`LinkConfig::duplicate`] arrives twice.
//!
//! ECN (RFC 3168): a datagram sent ECN-capable that finds at least
//! [`LinkConfig::ecn_threshold`] datagrams queued is marked CE instead
//! (an AQM marking rather than dropping; tail drop still applies), and
//! [`LinkConfig::ecn_bleach`] clears every datagram's ECN field.
//!
//! Random numbers are drawn only for impairments that are switched on,
//! so adding a knob with probability zero does not change a seeded run.

use crate::protocol::EcnCodepoint;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A small deterministic generator (SplitMix64), so runs do not depend
/// on any other crate's algorithm choices.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`; draws nothing when `p` is zero or less.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }

    /// An integer in [0, n); 0 (drawing nothing) when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// How datagrams on the wire are lost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Each datagram is lost with probability `rate`, independently of the
    /// others, except that never more than `max_burst` are lost in a row.
    /// This is the quic-network-simulator's `drop-rate` model (the
    /// interop runner's handshakeloss is `rate` 0.3, `max_burst` 3); with
    /// `max_burst` at `u32::MAX` it is plain Bernoulli loss. Capping the
    /// bursts makes the measured rate a little lower than `rate`.
    Random {
        /// Probability of losing each datagram, 0 to 1.
        rate: f64,
        /// Most datagrams lost in a row.
        max_burst: u32,
    },
    /// The Gilbert-Elliott model: the link is in a good or a bad state,
    /// changes state before each datagram with the given probabilities,
    /// and loses datagrams at the rate of its current state. Losses come
    /// in bursts of mean length about `1 / bad_to_good` when
    /// `loss_in_bad` is 1. It starts in the good state.
    GilbertElliott {
        /// Probability of moving from good to bad, per datagram.
        good_to_bad: f64,
        /// Probability of moving from bad to good, per datagram.
        bad_to_good: f64,
        /// Loss rate in the good state (often 0).
        loss_in_good: f64,
        /// Loss rate in the bad state (often 1).
        loss_in_bad: f64,
    },
}

impl Loss {
    /// Independent loss at `rate`, with no limit on bursts.
    pub fn random(rate: f64) -> Self {
        Self::Random {
            rate,
            max_burst: u32::MAX,
        }
    }

    /// Independent loss at `rate`, but never more than `max_burst`
    /// datagrams in a row (the interop runner's model).
    pub fn bursts(rate: f64, max_burst: u32) -> Self {
        Self::Random { rate, max_burst }
    }

    /// A Gilbert-Elliott channel losing nothing in the good state and
    /// everything in the bad one, with long-run loss `rate` and bursts of
    /// `mean_burst` datagrams on average (`mean_burst` at least 1).
    pub fn gilbert_elliott(rate: f64, mean_burst: f64) -> Self {
        let rate = rate.clamp(0.0, 0.999);
        let bad_to_good = 1.0 / mean_burst.max(1.0);
        // Stationary share of the bad state: g / (g + b) = rate.
        let good_to_bad = rate * bad_to_good / (1.0 - rate);
        Self::GilbertElliott {
            good_to_bad,
            bad_to_good,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        }
    }

    /// The long-run share of datagrams lost, ignoring the burst cap of
    /// [`Loss::Random`].
    pub fn mean_rate(&self) -> f64 {
        match *self {
            Self::None => 0.0,
            Self::Random { rate, .. } => rate,
            Self::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => {
                let sum = good_to_bad + bad_to_good;
                if sum <= 0.0 {
                    return loss_in_good;
                }
                let bad = good_to_bad / sum;
                (1.0 - bad) * loss_in_good + bad * loss_in_bad
            }
        }
    }
}

/// When the link is down. Times count from the link's start (the
/// creation of the [`Pair`](super::Pair) or the [`Relay`](super::Relay)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Down from `from` until `to`.
    Once {
        /// Start of the outage.
        from: Duration,
        /// End of the outage (exclusive).
        to: Duration,
    },
    /// Down during `[offset + k * period, offset + k * period + down)` for
    /// every k >= 0.
    Periodic {
        /// Start of the first outage.
        offset: Duration,
        /// Time from the start of one outage to the start of the next.
        period: Duration,
        /// Length of each outage.
        down: Duration,
    },
}

impl Outage {
    /// A blackhole from `from` until `to`.
    pub fn between(from: Duration, to: Duration) -> Self {
        Self::Once { from, to }
    }

    /// Up for `up`, then down for `down`, over and over: the interop
    /// runner's blackhole with `--on=up --off=down`. "Cut for 2 s every
    /// 5 s" is `Outage::cycle(3 s, 2 s)`.
    pub fn cycle(up: Duration, down: Duration) -> Self {
        Self::Periodic {
            offset: up,
            period: up + down,
            down,
        }
    }

    /// Whether the link is down `since_start` after its start.
    pub fn is_down(&self, since_start: Duration) -> bool {
        match *self {
            Self::Once { from, to } => since_start >= from && since_start < to,
            Self::Periodic {
                offset,
                period,
                down,
            } => {
                if since_start < offset || period.is_zero() {
                    return since_start >= offset && since_start < offset + down;
                }
                let into = (since_start - offset).as_nanos() % period.as_nanos();
                into < down.as_nanos()
            }
        }
    }
}

/// The properties of one direction of a link. Every knob defaults to
/// "perfect": 10 ms of delay and nothing else. Build variations with
/// struct update syntax, e.g.
/// `LinkConfig { loss: Loss::bursts(0.02, 3), ..LinkConfig::interop() }`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Each datagram is delayed by a further uniform random amount in
    /// `[0, jitter]`. Datagrams sent closer together than this may be
    /// reordered.
    pub jitter: Duration,
    /// Link rate in bits per second; `None` is infinitely fast (no
    /// serialisation delay and no queue).
    pub bandwidth: Option<u64>,
    /// Bytes counted per datagram on top of the UDP payload when
    /// computing its serialisation time: 28 models IPv4 and UDP headers,
    /// 48 IPv6 and UDP. Default 0.
    pub overhead: usize,
    /// Most datagrams waiting for the link (not counting the one being
    /// serialised); more are dropped at the tail. `None` is unbounded.
    /// Only meaningful with a `bandwidth`.
    pub queue: Option<usize>,
    /// How datagrams on the wire are lost.
    pub loss: Loss,
    /// Probability that a datagram is held back by [`Self::reorder_delay`],
    /// so that datagrams sent after it overtake it.
    pub reorder: f64,
    /// The extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a datagram is flipped.
    pub corrupt: f64,
    /// Datagrams larger than this (UDP payload bytes) are dropped: a path
    /// MTU.
    pub max_datagram: usize,
    /// When the link is down: datagrams that would arrive then are lost.
    pub outages: Vec<Outage>,
    /// Queue length from which ECN-capable datagrams are marked CE
    /// (needs a `bandwidth`); `None` never marks.
    pub ecn_threshold: Option<usize>,
    /// Clear the ECN field of every datagram (a bleaching middlebox).
    pub ecn_bleach: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            bandwidth: None,
            overhead: 0,
            queue: None,
            loss: Loss::None,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            duplicate: 0.0,
            corrupt: 0.0,
            max_datagram: usize::MAX,
            outages: Vec::new(),
            ecn_threshold: None,
            ecn_bleach: false,
        }
    }
}

impl LinkConfig {
    /// The quic-interop-runner's default link: 15 ms one-way delay,
    /// 10 Mbit/s, 25 datagrams of queue, IPv4 and UDP headers counted.
    pub fn interop() -> Self {
        Self {
            delay: Duration::from_millis(15),
            bandwidth: Some(10_000_000),
            overhead: 28,
            queue: Some(25),
            ..Self::default()
        }
    }

    /// A perfect link with this one-way delay.
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// The time the link takes to serialise a datagram of `len` bytes.
    pub fn serialisation(&self, len: usize) -> Duration {
        match self.bandwidth {
            Some(bps) if bps > 0 => {
                let bits = (len + self.overhead) as u128 * 8;
                Duration::from_nanos((bits * 1_000_000_000 / bps as u128) as u64)
            }
            _ => Duration::ZERO,
        }
    }

    /// Whether the link is down `since_start` after its start.
    pub fn is_down(&self, since_start: Duration) -> bool {
        self.outages.iter().any(|o| o.is_down(since_start))
    }
}

/// Why a datagram never arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Larger than [`LinkConfig::max_datagram`].
    TooLarge,
    /// The queue was full (tail drop).
    QueueFull,
    /// Lost on the wire ([`LinkConfig::loss`]).
    Lost,
    /// It would have arrived while the link was down.
    Outage,
}

/// A datagram coming out at the far end of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it arrives.
    pub at: Instant,
    /// Its bytes, possibly corrupted.
    pub data: Vec<u8>,
    /// The index of the bit flipped (`byte * 8 + bit`, bit 0 the least
    /// significant), when the link corrupted it.
    pub corrupted_bit: Option<usize>,
    /// Its ECN codepoint on arrival.
    pub ecn: Option<EcnCodepoint>,
}

/// What a link did, counted in datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams handed to the link.
    pub sent: u64,
    /// Bytes handed to the link.
    pub sent_bytes: u64,
    /// Datagrams that arrived (duplicates counted twice).
    pub delivered: u64,
    /// Bytes that arrived.
    pub delivered_bytes: u64,
    /// Dropped for being larger than the path MTU.
    pub too_large: u64,
    /// Dropped at the tail of a full queue.
    pub queue_full: u64,
    /// Lost on the wire.
    pub lost: u64,
    /// Lost to an outage.
    pub outage: u64,
    /// Delivered with a flipped bit.
    pub corrupted: u64,
    /// Delivered twice (counted once).
    pub duplicated: u64,
    /// Held back by the reorder delay.
    pub reordered: u64,
    /// Most datagrams ever waiting in the queue at once.
    pub max_queue: u64,
    /// Marked CE at the queue threshold.
    pub ce_marked: u64,
}

impl LinkStats {
    /// Datagrams that never arrived, for any reason.
    pub fn dropped(&self) -> u64 {
        self.too_large + self.queue_full + self.lost + self.outage
    }
}

/// One direction of a simulated link: a [`LinkConfig`] and the state its
/// impairments need (the queue, the loss model's state, the generator).
#[derive(Debug, Clone)]
pub struct SimLink {
    /// The link's properties; may be changed between datagrams.
    pub config: LinkConfig,
    rng: SplitMix,
    start: Instant,
    /// When the datagram last accepted is fully serialised.
    busy_until: Option<Instant>,
    /// Start of serialisation of each datagram still waiting, in order.
    waiting: VecDeque<Instant>,
    lost_in_row: u32,
    bad_state: bool,
    stats: LinkStats,
}

impl SimLink {
    /// A link with `config`, started at `start` (outages count from
    /// there), whose random impairments follow `seed`.
    pub fn new(config: LinkConfig, seed: u64, start: Instant) -> Self {
        Self {
            config,
            rng: SplitMix::new(seed),
            start,
            busy_until: None,
            waiting: VecDeque::new(),
            lost_in_row: 0,
            bad_state: false,
            stats: LinkStats::default(),
        }
    }

    /// When the link started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// What the link did so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Whether the link is down at `at`.
    pub fn is_down(&self, at: Instant) -> bool {
        self.config
            .is_down(at.saturating_duration_since(self.start))
    }

    /// Datagrams waiting in the queue at `now`.
    pub fn queued(&self, now: Instant) -> usize {
        self.waiting.iter().filter(|t| **t > now).count()
    }

    /// A datagram with ECN codepoint `ecn` enters the link at `now`
    /// (times must not go backwards between calls). Returns when and how
    /// it arrives, and a second delivery when it is duplicated, or why it
    /// is lost.
    pub fn send(
        &mut self,
        now: Instant,
        mut data: Vec<u8>,
        mut ecn: Option<EcnCodepoint>,
    ) -> Result<(Delivery, Option<Delivery>), DropReason> {
        self.stats.sent += 1;
        self.stats.sent_bytes += data.len() as u64;
        if data.len() > self.config.max_datagram {
            self.stats.too_large += 1;
            return Err(DropReason::TooLarge);
        }
        let departs = self.serialise(now, data.len())?;
        if ecn.is_some()
            && self
                .config
                .ecn_threshold
                .is_some_and(|t| self.waiting.len() > t)
        {
            ecn = Some(EcnCodepoint::Ce);
            self.stats.ce_marked += 1;
        }
        if self.config.ecn_bleach {
            ecn = None;
        }
        if self.lose() {
            self.stats.lost += 1;
            return Err(DropReason::Lost);
        }
        let mut corrupted_bit = None;
        if !data.is_empty() && self.rng.chance(self.config.corrupt) {
            let bit = self.rng.below(data.len() as u64 * 8) as usize;
            data[bit / 8] ^= 1 << (bit % 8);
            corrupted_bit = Some(bit);
        }
        let mut at = departs + self.config.delay + self.jitter();
        if self.rng.chance(self.config.reorder) {
            at += self.config.reorder_delay;
            self.stats.reordered += 1;
        }
        if self.is_down(at) {
            self.stats.outage += 1;
            return Err(DropReason::Outage);
        }
        if corrupted_bit.is_some() {
            self.stats.corrupted += 1;
        }
        let copy = if self.rng.chance(self.config.duplicate) {
            let at = at + self.jitter();
            self.stats.duplicated += 1;
            self.stats.delivered += 1;
            self.stats.delivered_bytes += data.len() as u64;
            Some(Delivery {
                at,
                data: data.clone(),
                corrupted_bit,
                ecn,
            })
        } else {
            None
        };
        self.stats.delivered += 1;
        self.stats.delivered_bytes += data.len() as u64;
        let first = Delivery {
            at,
            data,
            corrupted_bit,
            ecn,
        };
        Ok((first, copy))
    }

    /// Queues a datagram of `len` bytes for the transmitter; returns when
    /// it has left the sending side.
    fn serialise(&mut self, now: Instant, len: usize) -> Result<Instant, DropReason> {
        let tx = self.config.serialisation(len);
        if tx.is_zero() {
            return Ok(now);
        }
        while self.waiting.front().is_some_and(|t| *t <= now) {
            self.waiting.pop_front();
        }
        let starts = self.busy_until.map_or(now, |b| b.max(now));
        if starts > now {
            if self.config.queue.is_some_and(|q| self.waiting.len() >= q) {
                self.stats.queue_full += 1;
                return Err(DropReason::QueueFull);
            }
            self.waiting.push_back(starts);
            self.stats.max_queue = self.stats.max_queue.max(self.waiting.len() as u64);
        }
        let done = starts + tx;
        self.busy_until = Some(done);
        Ok(done)
    }

    /// Whether the loss model loses the next datagram.
    fn lose(&mut self) -> bool {
        let lost = match self.config.loss {
            Loss::None => false,
            Loss::Random { rate, max_burst } => {
                self.rng.chance(rate) && self.lost_in_row < max_burst
            }
            Loss::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => {
                let flip = if self.bad_state {
                    bad_to_good
                } else {
                    good_to_bad
                };
                if self.rng.chance(flip) {
                    self.bad_state = !self.bad_state;
                }
                let rate = if self.bad_state {
                    loss_in_bad
                } else {
                    loss_in_good
                };
                self.rng.chance(rate)
            }
        };
        self.lost_in_row = if lost { self.lost_in_row + 1 } else { 0 };
        lost
    }

    fn jitter(&mut self) -> Duration {
        let j = self.config.jitter.as_nanos() as u64;
        if j == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.below(j + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delay_and_serialisation() {
        let t0 = Instant::now();
        let cfg = LinkConfig {
            delay: ms(15),
            bandwidth: Some(8_000_000),
            ..LinkConfig::default()
        };
        // 1000 bytes at 8 Mbit/s: 1 ms each.
        let mut l = SimLink::new(cfg, 1, t0);
        let (a, _) = l.send(t0, vec![0; 1000], None).unwrap();
        let (b, _) = l.send(t0, vec![0; 1000], None).unwrap();
        assert_eq!(a.at, t0 + ms(16));
        assert_eq!(b.at, t0 + ms(17));
        let (c, _) = l.send(t0 + ms(10), vec![0; 1000], None).unwrap();
        assert_eq!(c.at, t0 + ms(26));
    }

    #[test]
    fn tail_drop() {
        let t0 = Instant::now();
        let cfg = LinkConfig {
            bandwidth: Some(8_000_000),
            queue: Some(3),
            ..LinkConfig::default()
        };
        let mut l = SimLink::new(cfg, 1, t0);
        let fates: Vec<_> = (0..6)
            .map(|_| l.send(t0, vec![0; 1000], None).is_ok())
            .collect();
        // One on the wire, three waiting, the rest dropped.
        assert_eq!(fates, [true, true, true, true, false, false]);
        assert_eq!(l.stats().queue_full, 2);
        // After 2 ms two have left the queue.
        assert!(l.send(t0 + ms(2), vec![0; 1000], None).is_ok());
        assert!(l.send(t0 + ms(2), vec![0; 1000], None).is_ok());
        assert_eq!(
            l.send(t0 + ms(2), vec![0; 1000], None),
            Err(DropReason::QueueFull)
        );
    }

    #[test]
    fn bursts_are_capped() {
        let t0 = Instant::now();
        let cfg = LinkConfig {
            loss: Loss::bursts(0.9, 3),
            ..LinkConfig::default()
        };
        let mut l = SimLink::new(cfg, 7, t0);
        let mut run = 0;
        for _ in 0..10_000 {
            if l.send(t0, vec![1], None).is_err() {
                run += 1;
                assert!(run <= 3);
            } else {
                run = 0;
            }
        }
        assert!(l.stats().lost > 6000);
    }

    #[test]
    fn gilbert_elliott_rate() {
        let t0 = Instant::now();
        let loss = Loss::gilbert_elliott(0.05, 4.0);
        assert!((loss.mean_rate() - 0.05).abs() < 1e-9);
        let mut l = SimLink::new(
            LinkConfig {
                loss,
                ..LinkConfig::default()
            },
            3,
            t0,
        );
        for _ in 0..100_000 {
            let _ = l.send(t0, vec![1], None);
        }
        let rate = l.stats().lost as f64 / 100_000.0;
        assert!((0.04..0.06).contains(&rate), "{rate}");
    }

    #[test]
    fn outages() {
        let o = Outage::cycle(Duration::from_secs(3), Duration::from_secs(2));
        assert!(!o.is_down(Duration::from_millis(2999)));
        assert!(o.is_down(Duration::from_secs(3)));
        assert!(o.is_down(Duration::from_millis(4999)));
        assert!(!o.is_down(Duration::from_secs(5)));
        assert!(o.is_down(Duration::from_secs(8)));
        let once = Outage::between(ms(100), ms(200));
        assert!(!once.is_down(ms(99)) && once.is_down(ms(100)) && !once.is_down(ms(200)));
        let t0 = Instant::now();
        let mut l = SimLink::new(
            LinkConfig {
                delay: ms(10),
                outages: vec![once],
                ..LinkConfig::default()
            },
            1,
            t0,
        );
        // Sent at 85 ms, would arrive at 95 ms: fine; at 95 ms, arrives
        // at 105 ms: lost.
        assert!(l.send(t0 + ms(85), vec![1], None).is_ok());
        assert_eq!(l.send(t0 + ms(95), vec![1], None), Err(DropReason::Outage));
        assert!(l.send(t0 + ms(190), vec![1], None).is_ok());
    }

    #[test]
    fn corruption_flips_one_bit_and_same_seed_same_run() {
        let t0 = Instant::now();
        let cfg = LinkConfig {
            corrupt: 0.5,
            duplicate: 0.2,
            reorder: 0.2,
            jitter: ms(3),
            loss: Loss::random(0.1),
            ..LinkConfig::default()
        };
        let run = |seed| {
            let mut l = SimLink::new(cfg.clone(), seed, t0);
            (0..200)
                .map(|i| l.send(t0 + ms(i), vec![0xaa; 100], None))
                .collect::<Vec<_>>()
        };
        let a = run(9);
        assert_eq!(a, run(9));
        assert_ne!(a, run(10));
        for (d, _) in a.iter().flatten() {
            let flipped: u32 = d.data.iter().map(|b| (b ^ 0xaa).count_ones()).sum();
            assert_eq!(flipped, u32::from(d.corrupted_bit.is_some()));
        }
    }
}
