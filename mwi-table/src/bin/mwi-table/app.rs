//! The commands of `mwi-table` (see main.rs).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};
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

/// Inspects the shared MWI table and drives it from a separate process (tests, benchmarks).
#[derive(Parser, Debug)]
#[command(name = "mwi-table", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which table to open.
#[derive(clap::Args, Debug)]
struct TableArgs {
    /// The table file.
    #[arg(long, value_name = "P")]
    path: Option<PathBuf>,
    /// Slots (numbers) in the table.
    #[arg(long, value_name = "N")]
    capacity: Option<u32>,
    /// Entries of the ring of change notices.
    #[arg(long, value_name = "N")]
    ring: Option<u32>,
    /// The snapshot file that keeps the table across reboots.
    #[arg(long, value_name = "P")]
    snapshot: Option<PathBuf>,
}

impl TableArgs {
    fn config(&self) -> TableConfig {
        let d = TableConfig::default();
        TableConfig {
            path: self.path.clone().unwrap_or(d.path),
            capacity: self.capacity.unwrap_or(d.capacity),
            ring_capacity: self.ring.unwrap_or(d.ring_capacity),
            group: None,
            snapshot: self.snapshot.clone(),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print every number's state and slot version.
    Dump(TableArgs),
    /// Publish rounds FROM..FROM+ROUNDS of states for numbers 1000..1000+NUMBERS.
    Write {
        #[command(flatten)]
        table: TableArgs,
        /// How many numbers.
        #[arg(long)]
        numbers: u32,
        /// The first round.
        #[arg(long, default_value_t = 0)]
        from: u32,
        /// How many rounds.
        #[arg(long)]
        rounds: u32,
        /// Then publish number 999999 with `new` = the last round.
        #[arg(long)]
        sentinel: bool,
    },
    /// Apply every change until the sentinel is seen, then print the map and statistics.
    Follow {
        #[command(flatten)]
        table: TableArgs,
        /// Give up after this many ms.
        #[arg(long, default_value_t = 20_000)]
        timeout_ms: u64,
    },
    /// Publish COUNT timestamped updates over NUMBERS numbers, GAP_US apart.
    BenchWrite {
        #[command(flatten)]
        table: TableArgs,
        /// How many updates.
        #[arg(long)]
        count: u32,
        /// Over how many numbers.
        #[arg(long, default_value_t = 1)]
        numbers: u32,
        /// Gap between updates, µs (spun, so exact).
        #[arg(long, default_value_t = 0)]
        gap_us: u64,
    },
    /// Send COUNT timestamped 16-octet datagrams to SOCKET, GAP_US apart.
    BenchDgram {
        /// The Unix datagram socket.
        #[arg(long)]
        socket: PathBuf,
        /// How many datagrams.
        #[arg(long)]
        count: u64,
        /// Gap between datagrams, µs (spun, so exact).
        #[arg(long, default_value_t = 0)]
        gap_us: u64,
    },
    /// Print the shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn dump(table: &TableArgs) -> Result<(), String> {
    let r = Reader::open(&table.config()).map_err(|e| e.to_string())?;
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

fn write_stream(
    table: &TableArgs,
    numbers: u32,
    from: u32,
    rounds: u32,
    sentinel: bool,
) -> Result<(), String> {
    let mut w = Writer::open(&table.config()).map_err(|e| e.to_string())?;
    println!("writing");
    for r in from..from.saturating_add(rounds) {
        for i in 0..numbers {
            w.publish(&(1000 + i).to_string(), stream_state(i, r))
                .map_err(|e| e.to_string())?;
        }
    }
    if sentinel {
        let last = from.saturating_add(rounds).saturating_sub(1);
        w.publish(SENTINEL, MwiState::voice(true, last, 0))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn follow(table: &TableArgs, timeout_ms: u64) -> Result<(), String> {
    let mut r = Reader::open(&table.config()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
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
fn bench_write(table: &TableArgs, count: u32, numbers: u32, gap_us: u64) -> Result<(), String> {
    let mut w = Writer::open(&table.config()).map_err(|e| e.to_string())?;
    let gap = Duration::from_micros(gap_us);
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
fn bench_dgram(path: &Path, count: u64, gap_us: u64) -> Result<(), String> {
    let gap = Duration::from_micros(gap_us);
    let sock = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    for k in 0..count {
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&now_ns().to_le_bytes());
        buf[8..].copy_from_slice(&k.to_le_bytes());
        sock.send_to(&buf, path)
            .map_err(|e| format!("send to {}: {e}", path.display()))?;
        if !gap.is_zero() {
            spin_for(gap);
        }
    }
    Ok(())
}

pub(crate) fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Dump(table) => dump(&table),
        Command::Write {
            table,
            numbers,
            from,
            rounds,
            sentinel,
        } => write_stream(&table, numbers, from, rounds, sentinel),
        Command::Follow { table, timeout_ms } => follow(&table, timeout_ms),
        Command::BenchWrite {
            table,
            count,
            numbers,
            gap_us,
        } => bench_write(&table, count, numbers, gap_us),
        Command::BenchDgram {
            socket,
            count,
            gap_us,
        } => bench_dgram(&socket, count, gap_us),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "mwi-table", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mwi-table: {e}");
            ExitCode::FAILURE
        }
    }
}
