//! `bench-pri --sipp`: item 1 (PBX → SIP) through the real sipd instead of the fake: chand's
//! `TrunkDial` becomes sipd's INVITE to its `[sip.proxy]`, SIPp there answering at once with
//! 200 (tests/scenarios/call_uas_answer.xml), sipd's `Connected` becomes chand's CONNECT.
//! The PBX's SETUP sent → CONNECT received then spans the SIP INVITE → 200 as well.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use chand::backend::sim::peer::Pbx;
use dahdi_mwi_tests::daemon::{binary_path, RaiseOnDrop};
use dahdi_mwi_tests::env::{Chand, Env, Sipd};
use dahdi_mwi_tests::sip::free_port;
use dahdi_mwi_tests::sipp::{scenario, spawn as sipp};

use crate::stats::loadavg;
use crate::{figures, pbx, Args, Bench, Dir, SPAN, WAIT, WARMUP};

/// Runs item 1 with the real sipd and SIPp in `env`.
pub fn run(a: &Args, env: &Env) -> Result<(), String> {
    let (sip, far) = (free_port(), free_port());
    let cfg = env.write_config(&format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{sip}\"]\n\
         [sip.proxy]\nserver = \"ipv4:127.0.0.1\"\nport = {far}\n\
         [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {}\nunsolicited = true\n\
         allow = [\"127.0.0.1/32\"]\noptions_interval = 0\n\
         [media]\naddress = \"127.0.0.1\"\nrtp_ports = \"47200-47399\"\n{SPAN}",
        free_port()
    ));
    let chand = Chand::start_with(&binary_path("chand"), env, &cfg);
    let sipd = Sipd::start_in_with(&binary_path("sipd"), env, &cfg);
    let uas = scenario("call_uas_answer.xml");
    let (far_s, m) = (far.to_string(), (a.calls + WARMUP + 1).to_string());
    let args = ["-sf", uas.to_str().ok_or("path")?, "-i", "127.0.0.1"];
    let sipp = sipp(
        env.path(),
        "uas",
        &[&args[..], &["-p", &far_s, "-m", &m]].concat(),
    );
    let socket = Pbx::connect(&env.sim_dir, 24, WAIT).map_err(|e| format!("D-channel: {e}"))?;
    let (pbx_tx, pbx_rx) = channel();
    let (note_tx, notes) = channel();
    let lamps = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let line_rate = a.line_rate;
    let result = std::thread::scope(|s| {
        let _raise = RaiseOnDrop(&stop);
        let (lamps_ref, stop_ref) = (&lamps, &stop);
        let pbx =
            s.spawn(move || pbx::run(&socket, line_rate, &pbx_rx, &note_tx, lamps_ref, stop_ref));
        // No SIP side thread: the real sipd is chand's peer; only PBX → SIP calls are placed.
        let (sip, _) = channel();
        let mut b = Bench {
            pbx: pbx_tx,
            sip,
            notes,
            lamps: &lamps,
            retries: 0,
        };
        let r = measure(&mut b, a.calls);
        stop.store(true, Ordering::Relaxed);
        pbx.join()
            .map_err(|_| "the PBX thread panicked".to_owned())?
            .map_err(|e| format!("PBX: {e}"))?;
        r
    });
    if result.is_err() {
        eprintln!(
            "chand's log:\n{}\nsipd's log:\n{}\nSIPp:\n{}",
            chand.daemon.log(),
            sipd.log(),
            sipp.log()
        );
    }
    result?;
    println!("load average at the end: {}", loadavg());
    Ok(())
}

/// Waits for the link and for sipd's call-control link (a first call not refused with cause
/// 38), then measures `calls` calls.
fn measure(b: &mut Bench<'_>, calls: usize) -> Result<(), String> {
    b.wait("the PBX's link up", |n| {
        matches!(n, crate::Note::LinkUp).then_some(())
    })?;
    let end = Instant::now() + WAIT;
    loop {
        match b.try_place(Dir::PbxToSip)? {
            Ok((up, _)) => {
                b.release(up)?;
                break;
            }
            Err(38) if Instant::now() < end => std::thread::sleep(Duration::from_millis(100)),
            Err(c) => return Err(format!("the first call was cleared with cause {c}")),
        }
    }
    let took = b.one_at_a_time(Dir::PbxToSip, calls)?;
    println!(
        "1. PBX -> SIP through the real sipd, SIPp answering at once: SETUP sent -> CONNECT \
         received (INVITE -> 200 included), one call at a time: {}",
        figures(&took)?
    );
    Ok(())
}
