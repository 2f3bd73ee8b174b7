//! `bench-pri`: call setup time across the PRI trunk (issue 13) in the real chand (sim
//! back-end, one T1 span with `[pri.calls]`, chand on the user side), with a PBX on its sim
//! D-channel run in this process (the isdn crate's `Span`, network side, calls on: it places
//! and answers many calls at once) and the fake sipd (dahdi_mwi_tests::fakesipd) on chand's
//! call-control socket, answering at once.
//!
//! 1. PBX → SIP: the PBX's SETUP sent → its CONNECT received (chand's `TrunkDial` and
//!    `MediaReady` answered with `Connected` at once). One call at a time.
//! 2. SIP → PBX: `TrunkIncoming` sent → `Answered` received (the PBX answering the SETUP with
//!    CONNECT at once). One call at a time.
//! 3. Under load: 23 calls up on the T1 (every B-channel), then calls released and placed
//!    again one at a time (alternately SIP → PBX and PBX → SIP), first on the idle D-channel,
//!    then while chand delivers 1,000-lamp bursts (1,000 numbers of the span's pattern written
//!    into the shared table at once, lamps on, then off, ...) on the same D-channel. The p99
//!    during the bursts is printed as a ratio of the idle p99 of the same run (goal ≤ 1.5×),
//!    with the lamps delivered while those calls were measured.
//!
//! The sim D-channel has no line rate: the PBX models a 64 kbit/s one for chand's frames
//! (`--line-rate`, 0 for none; see the `pbx` module). With `--sipp`, item 1 runs through the
//! real sipd and SIPp instead of the fake (the `real` module).
//!
//! Usage: `bench-pri [--calls N] [--churn M] [--bursts B] [--lamps L] [--line-rate BITS]
//! [--sipp]` (`--help`). Build in release with the daemons: `cargo build --release -p chand -p
//! sipd -p dahdi-mwi-tests --bin chand --bin sipd --bin bench-pri && target/release/bench-pri`.
#![forbid(unsafe_code)]

mod pbx;
mod real;
mod sipd;
mod stats;

use std::collections::VecDeque;
use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use callctl::CallId;
use chand::backend::sim::peer::Pbx;
use clap::Parser;
use dahdi_mwi_tests::daemon::{binary_path, RaiseOnDrop};
use dahdi_mwi_tests::env::{Chand, Env, NO_SIP_SERVER};
use dahdi_mwi_tests::fakesipd::FakeSipd;
use isdn::call::CallRef;
use mwi_core::MwiState;
use mwi_table::Writer;

use stats::{loadavg, Figures};

/// How long one step (a call answered, released, the link up) may take.
const WAIT: Duration = Duration::from_secs(10);
/// Calls of each kind before the measured ones.
const WARMUP: usize = 20;
/// B-channels of a T1.
const T1_CALLS: usize = 23;
/// Pause after a call's RELEASE before the next SETUP on the freed B-channel: the side that
/// sent RELEASE COMPLETE frees it a moment before the other (not part of any figure).
const SETTLE: Duration = Duration::from_millis(2);

/// Command line.
#[derive(Parser)]
#[command(about = "Call setup time across chand's PRI trunk, idle and during lamp bursts")]
struct Args {
    /// Calls measured in each direction, one at a time, on the idle span.
    #[arg(long, default_value_t = 500)]
    calls: usize,
    /// Calls released and placed again with 23 up, on the idle D-channel (the reference).
    #[arg(long, default_value_t = 200)]
    churn: usize,
    /// Lamp bursts during which calls are released and placed again.
    #[arg(long, default_value_t = 5)]
    bursts: usize,
    /// Lamps per burst (numbers 2000.., the span's pattern 2...).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=1000))]
    lamps: u16,
    /// The D-channel's line rate modelled for chand's frames, bits/s (0: none, the sim's
    /// socket speed).
    #[arg(long, default_value_t = 64_000)]
    line_rate: u64,
    /// Item 1 only, through the real sipd (from this binary's directory) with SIPp answering
    /// every INVITE at once (tests/scenarios/call_uas_answer.xml): the PBX's SETUP → CONNECT
    /// then spans INVITE → 200 on SIP.
    #[arg(long)]
    sipp: bool,
}

/// What the PBX and SIP threads report to the bench.
pub enum Note {
    /// The PBX's Q.921 link is up.
    LinkUp,
    /// A call the PBX placed was answered.
    PbxConnected {
        /// The PBX's call.
        call: CallRef,
        /// SETUP sent → CONNECT received.
        took: Duration,
    },
    /// The PBX could not place a call (Q.850 cause).
    PbxRefused(u8),
    /// A call is gone at the PBX (RELEASE sent or received).
    PbxReleased {
        /// The PBX's call.
        call: CallRef,
        /// Q.850 cause.
        cause: u8,
    },
    /// A `TrunkIncoming` was answered.
    SipAnswered {
        /// The SIP side's call.
        call: CallId,
        /// `TrunkIncoming` sent → `Answered` received.
        took: Duration,
    },
    /// chand cleared a `TrunkIncoming` before answering it (`Hangup`).
    SipRefused {
        /// The SIP side's call.
        call: CallId,
        /// Q.850 cause.
        cause: u8,
    },
}

/// Which way a call goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    PbxToSip,
    SipToPbx,
}

/// A call that is up, as the side that placed it knows it.
enum Up {
    Pbx(CallRef),
    Sip(CallId),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-pri: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The bench's ends of the two threads.
struct Bench<'a> {
    pbx: Sender<pbx::Cmd>,
    sip: Sender<sipd::Cmd>,
    notes: Receiver<Note>,
    lamps: &'a AtomicUsize,
    /// Calls refused (cause 34/44) and placed again.
    retries: usize,
}

fn run(a: &Args) -> Result<(), String> {
    println!(
        "bench-pri: {} online CPU(s), load average {}; chand's frames over a {} line",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        match a.line_rate {
            0 => "unpaced (sim socket)".to_owned(),
            r => format!("{r} bit/s"),
        }
    );
    let mut env = Env::new();
    env.log_level = "warn";
    if a.sipp {
        return real::run(a, &env);
    }
    let cfg = env.write_config(&format!(
        "{NO_SIP_SERVER}[media]\nrtp_ports = \"47000-47199\"\n{SPAN}"
    ));
    let mut writer = cfg.writer();
    let chand = Chand::start_with(&binary_path("chand"), &env, &cfg);
    let mut fake = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    fake.wait_up();
    let socket = Pbx::connect(&env.sim_dir, 24, WAIT).map_err(|e| format!("D-channel: {e}"))?;
    let far = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let far = far.local_addr().map_err(|e| e.to_string())?;
    let (pbx_tx, pbx_rx) = channel();
    let (sip_tx, sip_rx) = channel();
    let (note_tx, notes) = channel();
    let lamps = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let line_rate = a.line_rate;
    let result = std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        let (lamps, stop) = (&lamps, &stop);
        let pbx_notes = note_tx.clone();
        let pbx = s.spawn(move || pbx::run(&socket, line_rate, &pbx_rx, &pbx_notes, lamps, stop));
        let sip = s.spawn(move || sipd::run(&mut fake, far, &sip_rx, &note_tx, stop));
        let mut b = Bench {
            pbx: pbx_tx,
            sip: sip_tx,
            notes,
            lamps,
            retries: 0,
        };
        let r = b.measure(a, &mut writer);
        stop.store(true, Ordering::Relaxed);
        for (who, t) in [("PBX", pbx), ("SIP side", sip)] {
            t.join()
                .map_err(|_| format!("the {who} thread panicked"))?
                .map_err(|e| format!("{who}: {e}"))?;
        }
        r
    });
    if result.is_err() {
        eprintln!("chand's log:\n{}", chand.daemon.log());
    }
    result?;
    println!("load average at the end: {}", loadavg());
    Ok(())
}

/// The `[[pri]]` table of span 1: a T1, chand on the user side, numbers 2xxx, calls on.
const SPAN: &str = "[[pri]]\nspan = 1\nspan_type = \"t1\"\ndchannel = 24\nside = \"user\"\n\
                    numbers = [\"2...\"]\n[pri.calls]\n";

impl Bench<'_> {
    fn measure(&mut self, a: &Args, writer: &mut Writer) -> Result<(), String> {
        self.wait("the PBX's link up", |n| {
            matches!(n, Note::LinkUp).then_some(())
        })?;
        for (what, dir) in [
            (
                "1. PBX -> SIP: SETUP sent -> CONNECT received",
                Dir::PbxToSip,
            ),
            (
                "2. SIP -> PBX: TrunkIncoming sent -> Answered",
                Dir::SipToPbx,
            ),
        ] {
            let took = self.one_at_a_time(dir, a.calls)?;
            println!("{what}, one call at a time: {}", figures(&took)?);
        }
        self.under_load(a, writer)
    }

    /// Item 3: 23 calls up, calls released and placed again on the idle D-channel, then
    /// during `a.bursts` lamp bursts written with `writer`.
    fn under_load(&mut self, a: &Args, writer: &mut Writer) -> Result<(), String> {
        let mut up: VecDeque<Up> = VecDeque::new();
        for k in 0..T1_CALLS {
            up.push_back(
                self.place(if k % 2 == 0 {
                    Dir::SipToPbx
                } else {
                    Dir::PbxToSip
                })?
                .0,
            );
        }
        println!("3. {T1_CALLS} calls up on the T1; calls released and placed again one at a time");
        let mut idle = [Vec::new(), Vec::new()];
        for i in 0..WARMUP + a.churn {
            let (dir, t) = self.churn(&mut up, i)?;
            if i >= WARMUP {
                idle[dir as usize].push(t);
            }
        }
        let mut busy = [Vec::new(), Vec::new()];
        let mut delivered = 0;
        let mut burst_time = Duration::ZERO;
        for burst in 0..a.bursts {
            let t0 = Instant::now();
            let before = self.lamps.load(Ordering::Relaxed);
            let target = before + usize::from(a.lamps);
            let on = burst % 2 == 0;
            for n in 0..a.lamps {
                let state = MwiState::voice(on, u32::from(on) * (1 + u32::from(n % 9)), 0);
                writer
                    .publish(&format!("{}", 2000 + n), state)
                    .map_err(|e| format!("table: {e}"))?;
            }
            let mut first = None;
            let mut i = 0;
            // Only calls placed while lamps are still owed count; their window's lamps too.
            while self.lamps.load(Ordering::Relaxed) < target {
                let at = self.lamps.load(Ordering::Relaxed);
                let (dir, t) = self.churn(&mut up, i)?;
                first.get_or_insert(at);
                busy[dir as usize].push(t);
                i += 1;
            }
            let last = self.lamps.load(Ordering::Relaxed);
            delivered += first.map_or(0, |f| last.min(target) - f);
            self.wait_lamps(target)?;
            burst_time += t0.elapsed();
        }
        let total = a.bursts * usize::from(a.lamps);
        println!(
            "   {} bursts of {} lamps in {:.2} s ({:.0} lamps/s): {delivered} of {total} lamps \
             delivered while the calls below were measured; {} calls refused (cause 34/44) \
             and placed again",
            a.bursts,
            a.lamps,
            burst_time.as_secs_f64(),
            total as f64 / burst_time.as_secs_f64(),
            self.retries
        );
        for (dir, what) in [
            (Dir::SipToPbx, "SIP -> PBX (TrunkIncoming -> Answered)"),
            (Dir::PbxToSip, "PBX -> SIP (SETUP -> CONNECT)"),
        ] {
            let i = figures(&idle[dir as usize])?;
            println!("   {what}, idle D-channel: {i}");
            match Figures::of(&busy[dir as usize]) {
                Some(b) => println!(
                    "   {what}, during the lamp bursts: {b}; p99 x{:.2} the idle p99 \
                     (goal <= 1.5)",
                    b.p99 / i.p99
                ),
                None => println!("   {what}, during the lamp bursts: no call measured"),
            }
        }
        Ok(())
    }

    /// Setup times of `calls` calls placed `dir` one at a time, each released before the next,
    /// after [`WARMUP`] more.
    fn one_at_a_time(&mut self, dir: Dir, calls: usize) -> Result<Vec<Duration>, String> {
        let mut took = Vec::with_capacity(calls);
        for i in 0..WARMUP + calls {
            let (up, t) = self.place(dir)?;
            self.release(up)?;
            if i >= WARMUP {
                took.push(t);
            }
        }
        Ok(took)
    }

    /// Releases the oldest call of `up` and places one (direction by `i`: SIP → PBX first);
    /// its direction and setup time.
    fn churn(&mut self, up: &mut VecDeque<Up>, i: usize) -> Result<(Dir, Duration), String> {
        let oldest = up.pop_front().ok_or("no call up")?;
        self.release(oldest)?;
        let dir = if i % 2 == 0 {
            Dir::SipToPbx
        } else {
            Dir::PbxToSip
        };
        let (call, t) = self.place(dir)?;
        up.push_back(call);
        Ok((dir, t))
    }

    /// One call placed `dir` and answered: its handle and setup time. A call refused for a
    /// B-channel not yet freed on chand's side (cause 34 or 44) is placed again.
    fn place(&mut self, dir: Dir) -> Result<(Up, Duration), String> {
        loop {
            match self.try_place(dir)? {
                Ok(x) => return Ok(x),
                Err(34 | 44) if self.retries < 1000 => {
                    self.retries += 1;
                    std::thread::sleep(SETTLE);
                }
                Err(c) => return Err(format!("a call was cleared with cause {c}")),
            }
        }
    }

    /// One attempt of [`Bench::place`]: the call answered, or the Q.850 cause it was refused
    /// with.
    fn try_place(&mut self, dir: Dir) -> Result<Result<(Up, Duration), u8>, String> {
        match dir {
            Dir::PbxToSip => {
                self.pbx.send(pbx::Cmd::Place).map_err(|_| "PBX gone")?;
                self.wait("CONNECT at the PBX", |n| match n {
                    Note::PbxConnected { call, took } => Some(Ok((Up::Pbx(*call), *took))),
                    Note::PbxRefused(c) | Note::PbxReleased { cause: c, .. } => Some(Err(*c)),
                    _ => None,
                })
            }
            Dir::SipToPbx => {
                self.sip
                    .send(sipd::Cmd::Incoming)
                    .map_err(|_| "SIP side gone")?;
                self.wait("Answered at sipd", |n| match n {
                    Note::SipAnswered { call, took } => Some(Ok((Up::Sip(*call), *took))),
                    Note::SipRefused { cause, .. } => Some(Err(*cause)),
                    _ => None,
                })
            }
        }
    }

    /// Clears `up` from the side that placed it and waits for the PBX's RELEASE.
    fn release(&mut self, up: Up) -> Result<(), String> {
        let mine = match up {
            Up::Pbx(call) => {
                self.pbx
                    .send(pbx::Cmd::Drop(call))
                    .map_err(|_| "PBX gone")?;
                Some(call)
            }
            Up::Sip(call) => {
                self.sip
                    .send(sipd::Cmd::Hangup(call))
                    .map_err(|_| "SIP side gone")?;
                None
            }
        };
        self.wait("the call released at the PBX", |n| match n {
            Note::PbxReleased { call, .. } if mine.map_or(true, |m| m == *call) => Some(()),
            _ => None,
        })?;
        std::thread::sleep(SETTLE);
        Ok(())
    }

    /// Waits until the PBX has counted `target` lamps.
    fn wait_lamps(&self, target: usize) -> Result<(), String> {
        let end = Instant::now() + WAIT * 3;
        while self.lamps.load(Ordering::Relaxed) < target {
            if Instant::now() > end {
                return Err(format!(
                    "{} of {target} lamps delivered",
                    self.lamps.load(Ordering::Relaxed)
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// The first note `pick` accepts within [`WAIT`]; others are dropped.
    fn wait<T>(&self, what: &str, mut pick: impl FnMut(&Note) -> Option<T>) -> Result<T, String> {
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let note = self
                .notes
                .recv_timeout(left)
                .map_err(|_| format!("no {what} within {WAIT:?}"))?;
            if let Some(t) = pick(&note) {
                return Ok(t);
            }
        }
    }
}

/// [`Figures::of`] `samples`, an error when there is none.
fn figures(samples: &[Duration]) -> Result<Figures, String> {
    Figures::of(samples).ok_or_else(|| "no call measured".to_owned())
}
