//! The commands of `mwi-table` (see main.rs).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mwi_core::{MessageClass, MwiState};
use mwi_table::{Reader, TableConfig, Writer};

use crate::clock::{now_ns, spin_for};
use crate::text::format_state;

/// The number whose state marks the end of a `write --sentinel` stream.
const SENTINEL: &str = "999999";

/// State of number index `i` in round `r` of a `write` stream.
fn stream_state(i: u32, r: u32) -> MwiState {
    MwiState {
        waiting: (i + r) % 2 == 0,
        class: MessageClass::Voice,
        new: r,
        old: i,
        urgent_new: r % 3,
        urgent_old: 0,
    }
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {k:?}"))?;
            if key == "sentinel" {
                map.insert(key.to_string(), String::new());
                continue;
            }
            let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key.to_string(), v.clone());
        }
        Ok(Self(map))
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: Option<T>) -> Result<T, String> {
        match self.0.get(key) {
            Some(v) => v.parse().map_err(|_| format!("--{key}: bad value {v:?}")),
            None => default.ok_or_else(|| format!("--{key} is required")),
        }
    }

    fn table(&self) -> Result<TableConfig, String> {
        let d = TableConfig::default();
        Ok(TableConfig {
            path: self.0.get("path").map_or(d.path, PathBuf::from),
            capacity: self.num("capacity", Some(d.capacity))?,
            ring_capacity: self.num("ring", Some(d.ring_capacity))?,
            group: None,
            snapshot: self.0.get("snapshot").map(PathBuf::from),
        })
    }
}

fn dump(a: &Args) -> Result<(), String> {
    let r = Reader::open(&a.table()?).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for e in r.entries() {
        writeln!(
            out,
            "{} {} v{}",
            e.number,
            format_state(&e.state),
            e.version
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn write_stream(a: &Args) -> Result<(), String> {
    let mut w = Writer::open(&a.table()?).map_err(|e| e.to_string())?;
    let numbers: u32 = a.num("numbers", None)?;
    let from: u32 = a.num("from", Some(0))?;
    let rounds: u32 = a.num("rounds", None)?;
    println!("writing");
    for r in from..from.saturating_add(rounds) {
        for i in 0..numbers {
            w.publish(&(1000 + i).to_string(), stream_state(i, r))
                .map_err(|e| e.to_string())?;
        }
    }
    if a.0.contains_key("sentinel") {
        let last = from.saturating_add(rounds).saturating_sub(1);
        w.publish(SENTINEL, MwiState::voice(true, last, 0))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn follow(a: &Args) -> Result<(), String> {
    let mut r = Reader::open(&a.table()?).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_millis(a.num("timeout-ms", Some(20_000))?);
    let mut view = BTreeMap::new();
    let (mut polls, mut rescans, mut overflows, mut delivered) = (0u64, 0u64, 0u64, 0u64);
    let mut out = Vec::new();
    println!("following");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    loop {
        let s = r.poll(&mut out);
        polls += 1;
        rescans += u64::from(s.rescanned);
        overflows += u64::from(s.overflowed);
        delivered += s.delivered as u64;
        for e in &out {
            view.insert(e.number.to_string(), e.state);
        }
        // A rescan may read the sentinel's slot after slots it read before their last write;
        // those writes are announced on the ring, so stop only once the ring is drained.
        if view.contains_key(SENTINEL) && s.busy == 0 && !r.has_news() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no sentinel after the timeout ({} numbers seen)",
                view.len()
            ));
        }
        // Busy slots are retried on a short timer; otherwise sleep until the writer wakes us.
        let timeout = if s.busy > 0 {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(200)
        };
        r.wait(Duration::from_micros(50), Some(timeout));
    }
    let mut stdout = std::io::stdout().lock();
    for (n, s) in &view {
        writeln!(stdout, "{n} {}", format_state(s)).map_err(|e| e.to_string())?;
    }
    writeln!(
        stdout,
        "# stats polls={polls} rescans={rescans} overflows={overflows} delivered={delivered}"
    )
    .map_err(|e| e.to_string())
}

/// Publish `count` updates over `numbers` numbers, each carrying the send time (ns) in
/// `new`/`old` and its index in `urgent_new`, `gap-us` apart (spinning, so the gap is exact).
fn bench_write(a: &Args) -> Result<(), String> {
    let mut w = Writer::open(&a.table()?).map_err(|e| e.to_string())?;
    let count: u32 = a.num("count", None)?;
    let numbers: u32 = a.num("numbers", Some(1))?;
    let gap = Duration::from_micros(a.num("gap-us", Some(0))?);
    let names: Vec<String> = (0..numbers).map(|i| (1000 + i).to_string()).collect();
    let start = Instant::now();
    for k in 0..count {
        let t = now_ns();
        let s = MwiState {
            waiting: true,
            class: MessageClass::Voice,
            new: t as u32,
            old: (t >> 32) as u32,
            urgent_new: k,
            urgent_old: 0,
        };
        w.publish(&names[(k % numbers) as usize], s)
            .map_err(|e| e.to_string())?;
        if !gap.is_zero() {
            spin_for(gap);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "bench-write: {count} updates in {secs:.3} s = {:.0}/s",
        f64::from(count) / secs
    );
    Ok(())
}

/// Send `count` datagrams of 16 octets (send time ns, index) to `socket`, `gap-us` apart.
fn bench_dgram(a: &Args) -> Result<(), String> {
    let path: String = a.num("socket", None)?;
    let count: u64 = a.num("count", None)?;
    let gap = Duration::from_micros(a.num("gap-us", Some(0))?);
    let sock = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    for k in 0..count {
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&now_ns().to_le_bytes());
        buf[8..].copy_from_slice(&k.to_le_bytes());
        sock.send_to(&buf, &path)
            .map_err(|e| format!("send to {path}: {e}"))?;
        if !gap.is_zero() {
            spin_for(gap);
        }
    }
    Ok(())
}

pub(crate) fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let Some(cmd) = argv.get(1) else {
        eprintln!("usage: mwi-table dump|write|follow|bench-write|bench-dgram [--option value]...");
        return ExitCode::from(2);
    };
    let result = Args::parse(&argv[2..]).and_then(|a| match cmd.as_str() {
        "dump" => dump(&a),
        "write" => write_stream(&a),
        "follow" => follow(&a),
        "bench-write" => bench_write(&a),
        "bench-dgram" => bench_dgram(&a),
        _ => Err(format!("unknown command {cmd:?}")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mwi-table {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
