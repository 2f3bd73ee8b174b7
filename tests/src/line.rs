//! One FXS port as a SIP line for the end-to-end call tests (tests/tests/calls*.rs): the real
//! sipd and chand (sim back-end) on one installation joined by their call-control socket, a
//! sim phone on the port, and SIPp as the called party echoing RTP (`-rtp_echo`).

use std::path::Path;
use std::time::Duration;

use chand::backend::sim::peer::Phone;

use crate::daemon::{wait_some, Daemon};
use crate::env::{Chand, ConfigFile, Env, Sipd, NO_SIP_SERVER};
use crate::fakesipd::WAIT;
use crate::sip::free_port;
use crate::sipp::{scenario, spawn as sipp};

/// Both daemons on one installation: port 8001 on channel 1 (us plan, µ-law, dial plan
/// `(*xx|[2-9]xxx|x.T)`, Bell 202 caller ID), `[sip.proxy]` at 127.0.0.1:`proxy`, RTP in
/// `rtp_ports` (below Linux's ephemeral ports, 32768 and up, which `free_port` hands to the SIP
/// peers).
pub struct Line {
    /// The installation (dropped last).
    pub env: Env,
    /// Its config.
    pub cfg: ConfigFile,
    /// The running chand.
    pub chand: Chand,
    /// The running sipd.
    pub sipd: Sipd,
    /// The sim phone on channel 1.
    pub phone: Phone,
}

impl Line {
    /// Start both daemons and the phone, and wait until sipd and chand are linked.
    pub fn start(proxy: u16, rtp_ports: &str) -> Self {
        let env = Env::new();
        let sip = free_port();
        let cfg = env.write_config(&format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{sip}\"]\n\
             [sip.proxy]\nserver = \"ipv4:127.0.0.1\"\nport = {proxy}\n\
             {NO_SIP_SERVER}options_interval = 0\n\
             [media]\naddress = \"127.0.0.1\"\nrtp_ports = \"{rtp_ports}\"\n\
             [[fxs]]\nchannel = 1\nnumber = \"8001\"\ncptone = \"us\"\nlaw = \"mulaw\"\n\
             dial_plan = \"(*xx|[2-9]xxx|x.T)\"\ncaller_id = \"bell202\"\n"
        ));
        let chand = Chand::start(&env, &cfg);
        let sipd = Sipd::start_in(&env, &cfg);
        let phone = Phone::connect(&env.sim_dir, 1, WAIT).expect("sim phone on channel 1");
        let line = Self {
            env,
            cfg,
            chand,
            sipd,
            phone,
        };
        line.wait_linked();
        line
    }

    /// Until sipd's call-control link to chand is up: chand logs sipd's Hello, and sipd has
    /// chand's answer a moment later.
    fn wait_linked(&self) {
        wait_some(10, "sipd and chand linked", || {
            self.chand
                .daemon
                .log()
                .contains("call control: sipd up")
                .then_some(())
        });
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Wait up to `secs` until port 8001's call is in `state` (`ringback`, `connected`, ...).
    pub fn wait_call_state(&self, secs: u64, state: &str) {
        wait_some(secs, state, || {
            (self.chand.port_status("8001").call.state == state).then_some(())
        });
    }

    /// Both daemons' logs, for a failing assertion.
    pub fn logs(&self) -> String {
        format!(
            "chand:\n{}\nsipd:\n{}",
            self.chand.daemon.log(),
            self.sipd.log()
        )
    }
}

/// SIPp on SIP port `far` as the called party of one call (tests/scenarios/call_uas.xml: 180,
/// 200 after 1 s, BYE), echoing RTP, logging into `dir` as `uas`: (SIPp, its RTP port). Wait
/// for it with [`crate::sipp::passed`]. Start it after the daemons: its 20 s bound runs from
/// here.
pub fn sipp_echo_uas(dir: &Path, far: u16) -> (Daemon, u16) {
    let media = free_port();
    let uas = scenario("call_uas.xml");
    let args = [
        "-sf",
        uas.to_str().expect("path"),
        "-i",
        "127.0.0.1",
        "-p",
        &far.to_string(),
        "-mp",
        &media.to_string(),
        "-rtp_echo",
        "-m",
        "1",
    ];
    (sipp(dir, "uas", &args), media)
}
