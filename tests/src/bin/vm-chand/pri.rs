//! `vm-chand pri`: libpri on D-channel 48 as the PBX decodes what chand sends on 24.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use dahdi_mwi_tests::libpri::{build_peer, Decoded};
use dahdi_mwi_tests::vmcheck::{ms, Outcome, Report};
use mwi_core::MwiState;
use mwi_table::Writer;
use serde_json::Value;

use crate::common::{lamp, launch, pri_span, stop, Install, Source, PRI_NUMBER};
use crate::resync::resync_checks;

/// libpri's D-channel ([`dahdi_mwi_tests::vmcheck::DCHAN_PBX`]) as libpri-pbx names it.
const PBX_CHANNEL: &str = "dahdi:48";

/// One line libpri-pbx printed, stamped when it arrived.
type Line = (Instant, String);

/// libpri 1.6 as the PBX on DAHDI channel 48 (network side); killed when dropped.
pub struct Pbx {
    pub child: Child,
    lines: Receiver<Line>,
    /// Every line except the APDU debug text, in order.
    pub log: Vec<Line>,
    pub dchan_up: Option<Instant>,
    pub decoded: Vec<Decoded>,
    log_file: BufWriter<File>,
    started: Instant,
}

impl Pbx {
    /// Starts libpri-pbx on channel 48, network side; `lean`: APDU decode only (less CPU per
    /// frame, for the throughput run); `calls`: its call options (tests/peers/libpri-pbx.c).
    pub fn spawn(inst: &Install, bin: &Path, lean: bool, calls: &[&str]) -> Result<Self, String> {
        let create = |name: &str| {
            let path = inst.dir.join(name);
            File::create(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let log_file = BufWriter::new(create("libpri.log")?);
        let stderr = create("libpri.stderr")?;
        let mut child = Command::new(bin)
            .args([PBX_CHANNEL, "network"])
            .args(lean.then_some("lean"))
            .args(calls)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            log: Vec::new(),
            dchan_up: None,
            decoded: Vec::new(),
            log_file,
            started: Instant::now(),
        })
    }

    fn take(&mut self, (at, line): Line) {
        if line.starts_with("APDU ") {
            return;
        }
        let t = at.saturating_duration_since(self.started).as_secs_f64() * 1000.0;
        let _ = writeln!(self.log_file, "{t:9.1} {line}");
        if line == "DCHAN_UP" {
            self.dchan_up.get_or_insert(at);
        } else if line == "DCHAN_DOWN" {
            self.dchan_up = None;
        } else if let Some(d) = Decoded::from_line(&line) {
            self.decoded.push(d);
        }
        self.log.push((at, line));
    }

    /// Takes lines until `cond` holds, `timeout` passes, or (with `stall`) no line came for
    /// that long; whether `cond` held.
    pub fn wait(
        &mut self,
        timeout: Duration,
        stall: Option<Duration>,
        cond: impl Fn(&Self) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            let mut left = end.saturating_duration_since(Instant::now());
            if let Some(s) = stall {
                left = left.min(s);
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take(line),
                Err(RecvTimeoutError::Timeout) if Instant::now() < end && stall.is_none() => {}
                Err(_) => return cond(self),
            }
        }
    }

    pub fn tail(&self, n: usize) -> String {
        self.log[self.log.len().saturating_sub(n)..]
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_activate(d: &Decoded, number: &str, messages: u16) -> Result<(), String> {
    if d.op() == "activate"
        && d.get("servedUserNr.unknownPartyNumber") == Some(number)
        && d.get("basicService") == Some("1")
        && d.nb_of_messages() == Some(messages)
    {
        Ok(())
    } else {
        Err(format!(
            "want MWIActivate servedUserNr {number} nbOfMessages {messages}: {:?}",
            d.fields
        ))
    }
}

fn fields(d: &Decoded) -> String {
    let m: BTreeMap<_, _> = d.fields.iter().collect();
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// libpri on 48 with the call options `calls` brings the link up with chand on 24 (the check
/// `PRI link up (TRANSPORT)`); the PBX once it is up.
pub fn pbx_up(
    report: &mut Report,
    inst: &Install,
    peer: &Path,
    transport: &str,
    calls: &[&str],
) -> Option<Pbx> {
    let name = format!("PRI link up ({transport})");
    let mut pbx = match Pbx::spawn(inst, peer, false, calls) {
        Ok(p) => p,
        Err(e) => {
            report.record(&name, Err(e));
            return None;
        }
    };
    let start = Instant::now();
    let up = (|| {
        if !pbx.wait(Duration::from_secs(20), None, |p| p.dchan_up.is_some()) {
            return Err(format!(
                "no DCHAN_UP from libpri within 20 s:\n{}",
                pbx.tail(20)
            ));
        }
        let t_up = start.elapsed();
        inst.wait_status(Duration::from_secs(5), |st| {
            pri_span(st).is_some_and(|s| s["link_up"] == true)
        })
        .map_err(|e| format!("libpri up but chand's link is not: {e}"))?;
        Ok(format!(
            "libpri (network side, channel 48) DCHAN_UP {} after it started; chand (user side, \
             channel 24) link up",
            ms(t_up)
        ))
    })();
    report.record(&name, up).then_some(pbx)
}

/// 2001 on (3 new, 1 old) through `source`: libpri decodes MWIActivate with nbOfMessages 3 as
/// its first invoke.
pub fn pri_activate(pbx: &mut Pbx, source: &mut dyn Source) -> Outcome {
    let t = Instant::now();
    source.publish(PRI_NUMBER, MwiState::voice(true, 3, 1))?;
    if !pbx.wait(Duration::from_secs(10), None, |p| !p.decoded.is_empty()) {
        return Err(format!(
            "libpri decoded nothing within 10 s:\n{}",
            pbx.tail(30)
        ));
    }
    let d = &pbx.decoded[0];
    check_activate(d, PRI_NUMBER, 3)?;
    Ok(format!(
        "libpri decoded {} ({} after {})",
        fields(d),
        ms(t.elapsed()),
        source.origin()
    ))
}

/// 2001 off through `source`: libpri decodes MWIDeactivate as its second and last invoke, and
/// chand's lamp is no longer pending.
pub fn pri_deactivate(pbx: &mut Pbx, inst: &Install, source: &mut dyn Source) -> Outcome {
    let t = Instant::now();
    source.publish(PRI_NUMBER, MwiState::voice(false, 0, 4))?;
    if !pbx.wait(Duration::from_secs(10), None, |p| p.decoded.len() >= 2) {
        return Err(format!("no second invoke within 10 s:\n{}", pbx.tail(30)));
    }
    let latency = t.elapsed();
    let d = pbx.decoded[1].clone();
    if d.op() != "deactivate"
        || d.get("servedUserNr.unknownPartyNumber") != Some(PRI_NUMBER)
        || d.get("basicService") != Some("1")
        || d.nb_of_messages().is_some()
    {
        return Err(format!(
            "want MWIDeactivate servedUserNr {PRI_NUMBER}: {:?}",
            d.fields
        ));
    }
    let st = inst
        .wait_status(Duration::from_secs(5), |st| {
            lamp(st, PRI_NUMBER).is_some_and(|l| l["pending"] == false)
        })
        .map_err(|e| format!("lamp still pending: {e}"))?;
    // Anything sent twice would show up now.
    pbx.wait(Duration::from_millis(300), None, |_| false);
    if pbx.decoded.len() != 2 {
        return Err(format!(
            "{} invokes decoded, want 2: {:?}",
            pbx.decoded.len(),
            pbx.decoded
        ));
    }
    let l = lamp(&st, PRI_NUMBER).cloned().unwrap_or_default();
    let frames = pri_span(&st).map_or(Value::Null, |s| s["frames_out"].clone());
    Ok(format!(
        "libpri decoded {} ({} after {}); chand lamp {l}, frames out {frames}",
        fields(&d),
        ms(latency),
        source.origin()
    ))
}

/// [`pbx_up`], then [`pri_activate`] and [`pri_deactivate`] with the table as the source.
fn pri_checks(
    report: &mut Report,
    inst: &Install,
    writer: &mut Writer,
    peer: &Path,
    transport: &str,
) {
    let Some(mut pbx) = pbx_up(report, inst, peer, transport, &[]) else {
        return;
    };
    report.record(
        &format!("PRI MWIActivate {PRI_NUMBER} ({transport})"),
        pri_activate(&mut pbx, writer),
    );
    report.record(
        &format!("PRI MWIDeactivate {PRI_NUMBER} ({transport})"),
        pri_deactivate(&mut pbx, inst, writer),
    );
}

/// [`build_peer`] into /tmp (the host's target dir is read-only in the guest) as the check
/// `build libpri-pbx (gcc in the guest)`.
pub fn peer(report: &mut Report) -> Option<PathBuf> {
    let t = Instant::now();
    let out = PathBuf::from("/tmp/libpri-pbx");
    let built = build_peer(&out).map(|()| out);
    let outcome = built
        .as_ref()
        .map(|p| format!("{} in {}", p.display(), ms(t.elapsed())))
        .map_err(Clone::clone);
    report.record("build libpri-pbx (gcc in the guest)", outcome);
    built.ok()
}

/// The PRI part: the exchange with libpri in both transports, then the resyncs.
pub fn pri_part(report: &mut Report, chand_bin: &Path, count: usize) {
    let Some(peer) = peer(report) else {
        return;
    };
    for transport in ["setup", "facility"] {
        let name = format!("pri-{transport}");
        let Some((inst, mut writer, chand)) = launch(report, chand_bin, &name, None, transport)
        else {
            continue;
        };
        pri_checks(report, &inst, &mut writer, &peer, transport);
        stop(report, &inst, "chand", chand);
    }
    for transport in ["setup", "facility"] {
        resync_checks(report, chand_bin, &peer, count, transport);
    }
}
