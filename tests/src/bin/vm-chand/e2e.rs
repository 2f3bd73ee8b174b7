//! `vm-chand e2e`: NOTIFY → sipd → shared table → chand → FXS port and PRI span.

use std::path::Path;

use dahdi_mwi_tests::vmcheck::Report;

use crate::common::{stop, Install, Notifier, FXS_NUMBER, PRI_NUMBER, SIP_PORT};
use crate::fxs::{fxs_tone, Phone};
use crate::pri::{pbx_up, peer, pri_activate, pri_deactivate};

/// The whole path on the real DAHDI modules: a scripted voice mail sends unsolicited NOTIFYs
/// over loopback UDP to sipd, which writes the shared table; chand (kernel back-end) reads it
/// and drives the FXS port on channel 2 (the phone on 26 hears the stutter tone) and the PRI
/// D-channel 24 (libpri on 48 decodes MWIActivate for 2001); then `Messages-Waiting: no`
/// gives MWIDeactivate and plain dial tone.
pub fn e2e_part(report: &mut Report, chand_bin: &Path, sipd_bin: &Path) {
    let Some(peer) = peer(report) else {
        return;
    };
    let name = "e2e";
    let started = Install::new(name, Some("us"), "setup", Some(SIP_PORT)).and_then(|inst| {
        let sipd = inst.start_sipd(sipd_bin)?;
        let chand = inst.start(chand_bin)?;
        let phone = Phone::open()?;
        let notifier = Notifier::bind()?;
        Ok((inst, sipd, chand, phone, notifier))
    });
    let (inst, sipd, chand, phone, mut notifier) = match started {
        Ok(r) => r,
        Err(e) => {
            report.record("sipd and chand run (e2e)", Err(e));
            return;
        }
    };
    if let Some(mut pbx) = pbx_up(report, &inst, &peer, name, &[]) {
        report.record(
            &format!("NOTIFY {PRI_NUMBER} yes -> sipd -> chand -> libpri MWIActivate"),
            pri_activate(&mut pbx, &mut notifier),
        );
        let stutter = format!("NOTIFY {FXS_NUMBER} yes -> sipd -> chand -> stutter (us) on 26");
        report.record(
            &stutter,
            fxs_tone(&phone, &inst, &mut notifier, "us", true, &stutter),
        );
        report.record(
            &format!("NOTIFY {PRI_NUMBER} no -> sipd -> chand -> libpri MWIDeactivate"),
            pri_deactivate(&mut pbx, &inst, &mut notifier),
        );
        let plain = format!("NOTIFY {FXS_NUMBER} no -> sipd -> chand -> plain dial tone on 26");
        report.record(
            &plain,
            fxs_tone(&phone, &inst, &mut notifier, "us", false, &plain),
        );
    }
    stop(report, &inst, "chand", chand);
    stop(report, &inst, "sipd", sipd);
}
