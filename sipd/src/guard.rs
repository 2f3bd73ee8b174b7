//! Source blocking, sans-IO: a source address that sends `failures` failed or forbidden
//! requests within `window` is ignored for `duration` (the "Comm Exclusive / No Response" of
//! reference 002): its messages are dropped without an answer, so a scanner or a password
//! cracker gets nothing back and sipd reflects nothing. Time (ms) and addresses go in; verdicts,
//! the next wake-up time and the list for `sipd status` come out. One log line when a block
//! starts and one when it ends, never one per packet.
//!
//! The table of watched sources has a fixed capacity: a flood from forged source addresses
//! evicts the oldest entries (unblocked ones first) instead of growing memory.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

/// Default capacity of the table of watched sources.
pub const CAPACITY: usize = 4096;

/// Blocking rules (`[sip.block]`), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRules {
    /// Failures within `window` that block a source; 0 = never block.
    pub failures: u32,
    /// Window the failures must fall in, ms.
    pub window: u64,
    /// How long a source stays blocked, ms.
    pub duration: u64,
    /// Most sources watched at once (at least 1).
    pub capacity: usize,
}

impl BlockRules {
    /// The rules of a validated `[sip.block]` table, with the default [`CAPACITY`].
    pub fn from_config(b: &mwi_core::config::Block) -> Self {
        Self {
            failures: b.failures,
            window: u64::from(b.window) * 1000,
            duration: u64::from(b.duration) * 1000,
            capacity: CAPACITY,
        }
    }
}

/// What to do with a message from a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Pass,
    /// The source is blocked: drop it silently.
    Drop,
}

/// One blocked source, as `sipd status` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockedSource {
    /// The source address (IPv4-mapped IPv6 shown as IPv4).
    pub source: String,
    /// Seconds until the block ends (rounded up).
    pub remaining: u64,
    /// The last failure that counted, e.g. `403 (source not allowed)`.
    pub reason: String,
    /// Messages dropped since the block started.
    pub dropped: u64,
}

struct Entry {
    /// Times of the recent failures, oldest first, at most `failures` of them.
    recent: VecDeque<u64>,
    /// When the last failure came (the eviction order of watched entries).
    touched: u64,
    /// End of the block, if blocked.
    until: Option<u64>,
    reason: String,
    dropped: u64,
}

/// The table of watched and blocked sources.
pub struct Blocklist {
    cfg: BlockRules,
    entries: HashMap<IpAddr, Entry>,
    /// Watched (not blocked) entries by `touched`.
    watched: BTreeSet<(u64, IpAddr)>,
    /// Blocked entries by the end of their block.
    ends: BTreeSet<(u64, IpAddr)>,
}

impl Blocklist {
    /// An empty table.
    pub fn new(cfg: BlockRules) -> Self {
        let mut g = Self {
            cfg,
            entries: HashMap::new(),
            watched: BTreeSet::new(),
            ends: BTreeSet::new(),
        };
        g.set_config(cfg);
        g
    }

    /// New rules (a reloaded `[sip.block]`): current blocks run to their end; failures count
    /// under the new rules from here on.
    pub fn set_config(&mut self, cfg: BlockRules) {
        self.cfg = BlockRules {
            capacity: cfg.capacity.max(1),
            ..cfg
        };
    }

    /// The verdict on a message from `ip` at `now`; counts it when dropped. A block that ended
    /// is lifted here too (its log line is written once).
    pub fn check(&mut self, now: u64, ip: IpAddr) -> Verdict {
        let ip = ip.to_canonical();
        let Some(e) = self.entries.get_mut(&ip) else {
            return Verdict::Pass;
        };
        match e.until {
            Some(until) if until > now => {
                e.dropped += 1;
                Verdict::Drop
            }
            Some(_) => {
                self.lift(ip, "block ended");
                Verdict::Pass
            }
            None => Verdict::Pass,
        }
    }

    /// Record a failed or forbidden request from `ip` (`why`: the answer, e.g.
    /// `403 (source not allowed)`); `true` when it starts a block.
    pub fn failure(&mut self, now: u64, ip: IpAddr, why: &str) -> bool {
        if self.cfg.failures == 0 {
            return false;
        }
        let ip = ip.to_canonical();
        if !self.entries.contains_key(&ip) {
            if self.entries.len() >= self.cfg.capacity {
                self.evict();
            }
            self.entries.insert(
                ip,
                Entry {
                    recent: VecDeque::new(),
                    touched: now,
                    until: None,
                    reason: String::new(),
                    dropped: 0,
                },
            );
            self.watched.insert((now, ip));
        }
        let Some(e) = self.entries.get_mut(&ip) else {
            return false;
        };
        if e.until.is_some() {
            return false;
        }
        self.watched.remove(&(e.touched, ip));
        e.touched = now;
        e.recent.push_back(now);
        let limit = self.cfg.failures as usize;
        while e.recent.len() > limit
            || e.recent
                .front()
                .is_some_and(|&t| t.saturating_add(self.cfg.window) <= now)
        {
            e.recent.pop_front();
        }
        e.reason = why.to_owned();
        if e.recent.len() < limit {
            self.watched.insert((now, ip));
            return false;
        }
        let until = now.saturating_add(self.cfg.duration);
        e.until = Some(until);
        e.recent.clear();
        self.ends.insert((until, ip));
        log::warn!(
            "blocking {ip} for {} s: {} failed requests within {} s (last: {why}); its \
             messages are dropped unanswered",
            self.cfg.duration / 1000,
            self.cfg.failures,
            self.cfg.window / 1000
        );
        true
    }

    /// Make room for one entry: the least recently failing watched source goes, else the block
    /// that ends first.
    fn evict(&mut self) {
        if let Some(&(_, ip)) = self.watched.first() {
            self.watched.pop_first();
            self.entries.remove(&ip);
        } else if let Some(&(_, ip)) = self.ends.first() {
            self.lift(ip, "block ended early: table of sources full");
        }
    }

    /// End the block of `ip` and forget it, with its one closing log line.
    fn lift(&mut self, ip: IpAddr, why: &str) {
        if let Some(e) = self.entries.remove(&ip) {
            if let Some(until) = e.until {
                self.ends.remove(&(until, ip));
                log::info!(
                    "unblocking {ip}: {why} ({} messages dropped while blocked)",
                    e.dropped
                );
            } else {
                self.watched.remove(&(e.touched, ip));
            }
        }
    }

    /// Lift the blocks that ended by `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some(&(until, ip)) = self.ends.first() {
            if until > now {
                break;
            }
            self.lift(ip, "block ended");
        }
    }

    /// When the next block ends.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.ends.first().map(|&(until, _)| until)
    }

    /// Sources watched (with failures) or blocked: never more than the capacity.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no source is watched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The blocked sources at `now`, the first to be lifted first.
    pub fn blocked(&self, now: u64) -> Vec<BlockedSource> {
        self.ends
            .iter()
            .filter(|&&(until, _)| until > now)
            .filter_map(|&(until, ip)| {
                let e = self.entries.get(&ip)?;
                Some(BlockedSource {
                    source: ip.to_string(),
                    remaining: (until - now).div_ceil(1000),
                    reason: e.reason.clone(),
                    dropped: e.dropped,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(capacity: usize) -> Blocklist {
        Blocklist::new(BlockRules {
            failures: 3,
            window: 10_000,
            duration: 60_000,
            capacity,
        })
    }

    const BAD: &str = "192.0.2.66";

    #[test]
    fn failures_within_the_window_block_until_the_duration_ends() {
        let mut g = guard(16);
        let ip: IpAddr = BAD.parse().unwrap();
        assert!(!g.failure(0, ip, "403"));
        // Outside the window: the first one no longer counts.
        assert!(!g.failure(10_000, ip, "403"));
        assert!(!g.failure(11_000, ip, "403"));
        assert_eq!(g.check(11_500, ip), Verdict::Pass);
        assert!(g.failure(12_000, ip, "400 (bad body)"));
        assert_eq!(g.check(12_001, ip), Verdict::Drop);
        assert_eq!(g.check(12_002, ip), Verdict::Drop);
        assert_eq!(g.poll_timeout(), Some(72_000));
        let listed = g.blocked(12_500);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].source, BAD);
        assert_eq!(listed[0].remaining, 60);
        assert_eq!(listed[0].dropped, 2);
        assert_eq!(listed[0].reason, "400 (bad body)");
        // Others pass meanwhile.
        assert_eq!(g.check(13_000, "192.0.2.1".parse().unwrap()), Verdict::Pass);
        g.handle_timeout(72_000);
        assert!(g.blocked(72_000).is_empty() && g.is_empty());
        assert_eq!(g.check(72_001, ip), Verdict::Pass);
        // Counting starts again from zero.
        assert!(!g.failure(72_002, ip, "403"));
    }

    #[test]
    fn ipv4_mapped_sources_are_one_source() {
        let mut g = guard(16);
        let mapped: IpAddr = format!("::ffff:{BAD}").parse().unwrap();
        let v4: IpAddr = BAD.parse().unwrap();
        g.failure(0, mapped, "403");
        g.failure(1, v4, "403");
        assert!(g.failure(2, mapped, "403"));
        assert_eq!(g.check(3, v4), Verdict::Drop);
        assert_eq!(g.blocked(3)[0].source, BAD);
    }

    #[test]
    fn new_rules_keep_running_blocks() {
        let mut g = guard(16);
        let ip: IpAddr = BAD.parse().unwrap();
        for t in 0..3 {
            g.failure(t, ip, "403");
        }
        g.set_config(BlockRules {
            failures: 0,
            ..BlockRules::from_config(&mwi_core::config::Block::default())
        });
        assert_eq!(g.check(10, ip), Verdict::Drop, "the block runs to its end");
        let other: IpAddr = "192.0.2.67".parse().unwrap();
        assert!(!g.failure(11, other, "403") && !g.failure(12, other, "403"));
        assert!(!g.failure(13, other, "403"), "blocking is off now");
    }

    #[test]
    fn zero_failures_never_blocks() {
        let mut g = Blocklist::new(BlockRules {
            failures: 0,
            ..BlockRules::from_config(&mwi_core::config::Block::default())
        });
        let ip: IpAddr = BAD.parse().unwrap();
        for t in 0..100 {
            assert!(!g.failure(t, ip, "403"));
        }
        assert_eq!(g.check(100, ip), Verdict::Pass);
        assert!(g.is_empty());
    }

    #[test]
    fn a_forged_source_flood_stays_within_capacity() {
        let mut g = guard(64);
        let blocked: IpAddr = BAD.parse().unwrap();
        for t in 0..3 {
            g.failure(t, blocked, "403");
        }
        for i in 0..100_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            g.failure(10 + u64::from(i) / 10, ip, "403");
            assert!(g.len() <= 64);
        }
        // Watched entries were evicted first: the blocked source is still blocked.
        assert_eq!(g.check(10_011, blocked), Verdict::Drop);
        // A table full of blocks gives up the block that ends first.
        let mut g = guard(2);
        for (n, ip) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
            let ip: IpAddr = ip.parse().unwrap();
            for t in 0..3 {
                g.failure(n as u64 * 10 + t, ip, "403");
            }
        }
        let listed: Vec<String> = g.blocked(100).into_iter().map(|b| b.source).collect();
        assert_eq!(listed, ["192.0.2.2", "192.0.2.3"]);
    }
}
