//! The lamp resync of `vm-chand pri`: every lamp crosses the real 64 kbit/s D-channel when
//! the PBX comes up; throughput against the line-rate bound.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use dahdi_mwi_tests::libpri::rx_frame;
use dahdi_mwi_tests::vmcheck::{ms, Report};
use mwi_core::MwiState;
use serde_json::Value;

use crate::common::{pri_span, Install};
use crate::pri::Pbx;

/// Resync numbers are `2000 + i`; the pattern `2...` allows 1000 of them.
pub const RESYNC_MAX: usize = 1000;
/// The D-channel's bit rate: one 64 kbit/s timeslot.
const LINE_BIT_RATE: f64 = 64_000.0;

/// CPU time (user + system) a process has used so far, from /proc/PID/stat (proc(5): fields
/// 14 and 15, in clock ticks of USER_HZ = 100 per second, the value of Linux's user ABI on x86).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, start with field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CRC-16/X.25, the HDLC FCS (ISO/IEC 13239), as sent: low octet first.
fn fcs(frame: &[u8]) -> [u8; 2] {
    let mut crc: u16 = 0xffff;
    for &b in frame {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    (!crc).to_le_bytes()
}

/// Bits HDLC puts on the line for `frame`: the frame and its FCS (sent least significant bit
/// first, a 0 stuffed after every five 1s) and one flag.
fn line_bits(frame: &[u8]) -> usize {
    let mut ones = 0;
    let mut stuffed = 0;
    for &b in frame.iter().chain(&fcs(frame)) {
        for i in 0..8 {
            if b >> i & 1 == 1 {
                ones += 1;
                if ones == 5 {
                    stuffed += 1;
                    ones = 0;
                }
            } else {
                ones = 0;
            }
        }
    }
    (frame.len() + 2 + 1) * 8 + stuffed
}

/// An I-frame: control field bit 0 is 0 (Q.921 §3.4.2), control after the 2-octet address.
fn is_i_frame(frame: &[u8]) -> bool {
    frame.get(2).is_some_and(|c| c & 1 == 0)
}

/// What the PBX saw of a resync, measured from its stamped lines.
struct Throughput {
    /// Frames chand sent from the first I-frame after DCHAN_UP (exclusive: its bits were on the
    /// line before the window opened) to the frame of the last decoded MWI (inclusive).
    frames: usize,
    i_frames: usize,
    octets: usize,
    bits: usize,
    window: Duration,
    /// DCHAN_UP to the last MWI line.
    up_to_last: Duration,
}

impl Throughput {
    fn measure(pbx: &Pbx) -> Result<Self, String> {
        let rx: Vec<(usize, Instant, Vec<u8>)> = pbx
            .log
            .iter()
            .enumerate()
            .filter_map(|(i, (at, l))| Some((i, *at, rx_frame(l)?)))
            .collect();
        let last_mwi = pbx
            .log
            .iter()
            .rposition(|(_, l)| l.starts_with("MWI "))
            .ok_or("no MWI line")?;
        // I-frames that arrive before libpri's link is up are not taken (a lost first SABME
        // leaves chand up and libpri not, until libpri's T200): start after DCHAN_UP.
        let up_line = pbx.log[..last_mwi]
            .iter()
            .rposition(|(_, l)| l == "DCHAN_UP")
            .ok_or("no DCHAN_UP before the last MWI")?;
        let first = rx
            .iter()
            .position(|(i, _, f)| *i > up_line && is_i_frame(f))
            .ok_or("no I-frame received")?;
        let end = rx
            .iter()
            .rposition(|(i, _, _)| *i < last_mwi)
            .ok_or("no frame before the last MWI")?;
        let up = pbx.dchan_up.ok_or("no DCHAN_UP")?;
        let window = &rx[first + 1..=end.max(first)];
        Ok(Self {
            frames: window.len(),
            i_frames: window.iter().filter(|(_, _, f)| is_i_frame(f)).count(),
            octets: window.iter().map(|(_, _, f)| f.len()).sum(),
            bits: window.iter().map(|(_, _, f)| line_bits(f)).sum(),
            window: rx[end].1.saturating_duration_since(rx[first].1),
            up_to_last: pbx.log[last_mwi].0.saturating_duration_since(up),
        })
    }

    /// Seconds the frames need at 64 kbit/s over the seconds they took.
    fn fraction(&self) -> f64 {
        self.bits as f64 / LINE_BIT_RATE / self.window.as_secs_f64()
    }
}

/// Lamp resync of `count` numbers over the real D-channel: every lamp must arrive with its
/// nbOfMessages; the throughput is reported (a benchmark figure, not a pass criterion).
pub fn resync_checks(
    report: &mut Report,
    chand_bin: &Path,
    peer: &Path,
    count: usize,
    transport: &str,
) {
    let name = format!("PRI resync of {count} lamps ({transport})");
    let inst = match Install::new(&format!("resync-{transport}"), None, transport, None) {
        Ok(i) => i,
        Err(e) => {
            report.record(&name, Err(e));
            return;
        }
    };
    let result = (|| -> Result<(Pbx, Value, String), String> {
        let mut writer = inst.writer()?;
        for i in 0..count {
            writer
                .publish(
                    &format!("{}", 2000 + i),
                    MwiState::voice(true, (i % 9 + 1) as u32, 0),
                )
                .map_err(|e| format!("publish: {e}"))?;
        }
        let mut chand = inst.start(chand_bin)?;
        inst.wait_status(Duration::from_secs(10), |st| {
            pri_span(st)
                .and_then(|s| s["lamps"].as_array())
                .is_some_and(|l| l.len() == count)
        })
        .map_err(|e| format!("chand does not hold {count} lamps: {e}"))?;
        let cpu = |pid: u32| cpu_time(pid).unwrap_or_default();
        let (chand0, self0) = (cpu(chand.pid()), cpu(std::process::id()));
        let mut pbx = Pbx::spawn(&inst, peer, true, &[])?;
        let started = Instant::now();
        let done = pbx.wait(
            Duration::from_secs(90),
            Some(Duration::from_secs(15)),
            |p| p.decoded.len() >= count,
        );
        let elapsed = started.elapsed();
        let load = |d: Duration| 100.0 * d.as_secs_f64() / elapsed.as_secs_f64();
        let (chand_cpu, pbx_cpu, self_cpu) = (
            cpu(chand.pid()).saturating_sub(chand0),
            cpu(pbx.child.id()),
            cpu(std::process::id()).saturating_sub(self0),
        );
        let cpu_note = format!(
            "CPU in those {:.1} s (2 vCPUs): chand {:.0}%, libpri {:.0}%, this program {:.0}%",
            elapsed.as_secs_f64(),
            load(chand_cpu),
            load(pbx_cpu),
            load(self_cpu)
        );
        // Late duplicates, if any, arrive now.
        pbx.wait(Duration::from_millis(500), None, |_| false);
        let st = inst.status()?;
        let span = pri_span(&st).cloned().unwrap_or_default();
        chand.stop();
        if !done {
            return Err(format!(
                "libpri decoded {} of {count} invokes in {}; chand's span: frames_out {}, \
                 retransmissions {}, queue {}; libpri's last lines:\n{}",
                pbx.decoded.len(),
                ms(elapsed),
                span["frames_out"],
                span["retransmissions"],
                span["queue_depth"],
                pbx.tail(20)
            ));
        }
        Ok((pbx, span, cpu_note))
    })();
    let (pbx, span, cpu_note) = match result {
        Ok(r) => r,
        Err(e) => {
            report.record(&name, Err(e));
            inst.keep_logs();
            return;
        }
    };
    report.record(
        &name,
        (|| {
            let mut got: HashMap<&str, Option<u16>> = HashMap::new();
            for d in &pbx.decoded {
                if d.op() != "activate" {
                    return Err(format!("unexpected invoke {:?}", d.fields));
                }
                got.insert(d.served(), d.nb_of_messages());
            }
            for i in 0..count {
                let n = format!("{}", 2000 + i);
                let want = Some((i % 9 + 1) as u16);
                if got.get(n.as_str()) != Some(&want) {
                    return Err(format!(
                        "{n}: libpri saw {:?}, want nbOfMessages {want:?}",
                        got.get(n.as_str())
                    ));
                }
            }
            Ok(format!(
                "every number 2000..{} activated with its nbOfMessages; {} invokes decoded ({} \
             duplicates); chand frames_out {} retransmissions {}",
                2000 + count - 1,
                pbx.decoded.len(),
                pbx.decoded.len() - got.len(),
                span["frames_out"],
                span["retransmissions"]
            ))
        })(),
    );
    report.record(&format!("PRI resync throughput ({transport})"), (|| {
        let t = Throughput::measure(&pbx)?;
        let secs = t.window.as_secs_f64();
        Ok(format!(
            "{count} MWI in {:.3} s from DCHAN_UP to the last decoded = {:.1} MWI/s (libpri as sender: \
             77.2 MWI/s, docs/perf.md); window first I-frame after DCHAN_UP -> frame of the last MWI {:.3} s: {} \
             frames ({} I) {} octets from chand = {} bits on the line with FCS, flags and bit \
             stuffing = {:.3} s at 64 kbit/s; line-rate fraction {:.1}% (goal >= 80%: {}); {:.1} \
             octets/frame, {:.1} MWI/s in the window; {cpu_note}",
            t.up_to_last.as_secs_f64(),
            count as f64 / t.up_to_last.as_secs_f64(),
            secs,
            t.frames,
            t.i_frames,
            t.octets,
            t.bits,
            t.bits as f64 / LINE_BIT_RATE,
            t.fraction() * 100.0,
            if t.fraction() >= 0.8 { "met" } else { "NOT met" },
            t.octets as f64 / t.frames.max(1) as f64,
            (count - 1) as f64 / secs,
        ))
    })());
    drop(pbx);
    inst.keep_logs();
}
