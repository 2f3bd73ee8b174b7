//! Percentiles of a set of durations, and the load average, for bench-pri's lines.

use std::fmt;
use std::time::Duration;

/// p50, p99 and max of one measurement, in µs, over `n` samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// Samples.
    pub n: usize,
    /// Median, µs.
    pub p50: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// Largest, µs.
    pub max: f64,
}

impl Figures {
    /// The figures of `samples` (nearest rank: the sample at index round((n - 1) × p) of the
    /// sorted set, as bench-latency reports); `None` when there is none.
    pub fn of(samples: &[Duration]) -> Option<Figures> {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let last = us.len().checked_sub(1)?;
        let at = |p: f64| us[(last as f64 * p).round() as usize];
        Some(Figures {
            n: us.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: us[last],
        })
    }
}

impl fmt::Display for Figures {
    /// `n=500 p50=812 µs p99=1904 µs max=2210 µs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} p50={:.0} µs p99={:.0} µs max={:.0} µs",
            self.n, self.p50, self.p99, self.max
        )
    }
}

/// The three load averages of /proc/loadavg, e.g. `0.52 0.61 0.70`; empty if unreadable.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&x| Duration::from_micros(x)).collect()
    }

    #[test]
    fn no_sample_has_no_figures() {
        assert_eq!(Figures::of(&[]), None);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let f = Figures::of(&us(&[42])).unwrap();
        assert_eq!((f.n, f.p50, f.p99, f.max), (1, 42.0, 42.0, 42.0));
    }

    #[test]
    fn percentiles_are_nearest_rank_of_the_sorted_samples() {
        // 1..=100 in reverse: p50 at index round(49.5) = 50 → 51, p99 at round(98.01) = 98 → 99.
        let v: Vec<u64> = (1..=100).rev().collect();
        let f = Figures::of(&us(&v)).unwrap();
        assert_eq!((f.n, f.p50, f.p99, f.max), (100, 51.0, 99.0, 100.0));
        assert_eq!(
            f.to_string(),
            "n=100 p50=51 µs p99=99 µs max=100 µs",
            "the printed line"
        );
    }
}
