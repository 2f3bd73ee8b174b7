//! Typed forms of the DAHDI constants: signalling types, alarms, hook operations, laws, buffer
//! policies, tones, flush selectors, VMWI methods.

use crate::sys;
use g711::Law;
use libc::c_int;

/// A channel's configured signalling, dahdi/user.h `DAHDI_SIG_*` (`dahdi_params.sigtype`).
///
/// Note DAHDI's naming: a port that *is* an FXS port (it feeds a phone) uses FXO signalling
/// (`FxoLs`/`FxoGs`/`FxoKs`, `fxo*s=` in system.conf), and the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigType {
    /// `DAHDI_SIG_NONE`: not configured.
    None,
    /// `DAHDI_SIG_FXSLS`: FXS signalling, loop start (an FXO port).
    FxsLs,
    /// `DAHDI_SIG_FXSGS`: FXS signalling, ground start (an FXO port).
    FxsGs,
    /// `DAHDI_SIG_FXSKS`: FXS signalling, kewl start (an FXO port).
    FxsKs,
    /// `DAHDI_SIG_FXOLS`: FXO signalling, loop start (an FXS port).
    FxoLs,
    /// `DAHDI_SIG_FXOGS`: FXO signalling, ground start (an FXS port).
    FxoGs,
    /// `DAHDI_SIG_FXOKS`: FXO signalling, kewl start (an FXS port).
    FxoKs,
    /// `DAHDI_SIG_EM`: E&M.
    Em,
    /// `DAHDI_SIG_CLEAR`: clear channel.
    Clear,
    /// `DAHDI_SIG_HDLCRAW`: HDLC without FCS.
    HdlcRaw,
    /// `DAHDI_SIG_HDLCFCS`: HDLC with kernel FCS (a `dchan=` D-channel).
    HdlcFcs,
    /// `DAHDI_SIG_HDLCNET`: HDLC network device.
    HdlcNet,
    /// `DAHDI_SIG_SLAVE`: slave channel.
    Slave,
    /// `DAHDI_SIG_SF`: single-frequency signalling.
    Sf,
    /// `DAHDI_SIG_CAS`: raw CAS bits.
    Cas,
    /// `DAHDI_SIG_DACS`: cross connect.
    Dacs,
    /// `DAHDI_SIG_EM_E1`: E1 E&M.
    EmE1,
    /// `DAHDI_SIG_DACS_RBS`: cross connect with robbed bits.
    DacsRbs,
    /// `DAHDI_SIG_HARDHDLC`: HDLC done by the card (a `hardhdlc=` D-channel).
    HardHdlc,
    /// `DAHDI_SIG_MTP2`: SS7 MTP2.
    Mtp2,
    /// `DAHDI_SIG_BROKEN`: the port failed initialisation.
    Broken,
    /// A value this crate does not name.
    Other(c_int),
}

const SIG_TABLE: [(SigType, c_int); 21] = [
    (SigType::None, sys::DAHDI_SIG_NONE),
    (SigType::FxsLs, sys::DAHDI_SIG_FXSLS),
    (SigType::FxsGs, sys::DAHDI_SIG_FXSGS),
    (SigType::FxsKs, sys::DAHDI_SIG_FXSKS),
    (SigType::FxoLs, sys::DAHDI_SIG_FXOLS),
    (SigType::FxoGs, sys::DAHDI_SIG_FXOGS),
    (SigType::FxoKs, sys::DAHDI_SIG_FXOKS),
    (SigType::Em, sys::DAHDI_SIG_EM),
    (SigType::Clear, sys::DAHDI_SIG_CLEAR),
    (SigType::HdlcRaw, sys::DAHDI_SIG_HDLCRAW),
    (SigType::HdlcFcs, sys::DAHDI_SIG_HDLCFCS),
    (SigType::HdlcNet, sys::DAHDI_SIG_HDLCNET),
    (SigType::Slave, sys::DAHDI_SIG_SLAVE),
    (SigType::Sf, sys::DAHDI_SIG_SF),
    (SigType::Cas, sys::DAHDI_SIG_CAS),
    (SigType::Dacs, sys::DAHDI_SIG_DACS),
    (SigType::EmE1, sys::DAHDI_SIG_EM_E1),
    (SigType::DacsRbs, sys::DAHDI_SIG_DACS_RBS),
    (SigType::HardHdlc, sys::DAHDI_SIG_HARDHDLC),
    (SigType::Mtp2, sys::DAHDI_SIG_MTP2),
    (SigType::Broken, sys::DAHDI_SIG_BROKEN),
];

impl SigType {
    /// Decodes a `dahdi_params.sigtype` value; unnamed values become [`SigType::Other`].
    pub fn from_raw(raw: c_int) -> SigType {
        SIG_TABLE
            .iter()
            .find(|&&(_, v)| v == raw)
            .map_or(SigType::Other(raw), |&(t, _)| t)
    }

    /// The `DAHDI_SIG_*` value.
    pub fn to_raw(self) -> c_int {
        match self {
            SigType::Other(raw) => raw,
            named => SIG_TABLE
                .iter()
                .find(|&&(t, _)| t == named)
                .map_or(0, |&(_, v)| v),
        }
    }

    /// True for the FXO signalling types a DAHDI FXS port (feeding a phone) is configured with:
    /// `FXOLS`, `FXOGS`, `FXOKS`.
    pub fn is_fxs_port(self) -> bool {
        matches!(self, SigType::FxoLs | SigType::FxoGs | SigType::FxoKs)
    }

    /// True for the HDLC types a D-channel may have: `HDLCFCS` (kernel FCS) or `HARDHDLC`.
    pub fn is_dchannel(self) -> bool {
        matches!(self, SigType::HdlcFcs | SigType::HardHdlc)
    }
}

bitflags::bitflags! {
    /// Span or channel alarms, dahdi/user.h `DAHDI_ALARM_*` (`dahdi_spaninfo.alarms`,
    /// `dahdi_params.chan_alarms`). Empty = `DAHDI_ALARM_NONE`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Alarms: u32 {
        /// `DAHDI_ALARM_RECOVER`: recovering from an alarm.
        const RECOVER = sys::DAHDI_ALARM_RECOVER as u32;
        /// `DAHDI_ALARM_LOOPBACK`: in loopback.
        const LOOPBACK = sys::DAHDI_ALARM_LOOPBACK as u32;
        /// `DAHDI_ALARM_YELLOW`: remote alarm indication.
        const YELLOW = sys::DAHDI_ALARM_YELLOW as u32;
        /// `DAHDI_ALARM_RED`: loss of signal or framing.
        const RED = sys::DAHDI_ALARM_RED as u32;
        /// `DAHDI_ALARM_BLUE`: alarm indication signal (all ones).
        const BLUE = sys::DAHDI_ALARM_BLUE as u32;
        /// `DAHDI_ALARM_NOTOPEN`: span not opened.
        const NOTOPEN = sys::DAHDI_ALARM_NOTOPEN as u32;
        /// `DAHDI_ALARM_LOS`: loss of signal (detail).
        const LOS = sys::DAHDI_ALARM_LOS as u32;
        /// `DAHDI_ALARM_LFA`: loss of frame alignment (detail).
        const LFA = sys::DAHDI_ALARM_LFA as u32;
        /// `DAHDI_ALARM_LMFA`: loss of multi-frame alignment (detail).
        const LMFA = sys::DAHDI_ALARM_LMFA as u32;
        // Bits this crate does not name are kept.
        const _ = !0;
    }
}

/// A `DAHDI_HOOK` operation, dahdi/user.h `DAHDI_ONHOOK` ... `DAHDI_RINGOFF`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `DAHDI_ONHOOK`: go on-hook (on an FXS port: stop ringing / idle battery).
    OnHook,
    /// `DAHDI_OFFHOOK`: go off-hook.
    OffHook,
    /// `DAHDI_WINK`: momentary off-hook.
    Wink,
    /// `DAHDI_FLASH`: momentary on-hook.
    Flash,
    /// `DAHDI_START`: start the line.
    Start,
    /// `DAHDI_RING`: ring the line (FXS port) with the channel's cadence.
    Ring,
    /// `DAHDI_RINGOFF`: stop ringing.
    RingOff,
}

impl Hook {
    /// The `DAHDI_HOOK` argument.
    pub fn to_raw(self) -> c_int {
        match self {
            Hook::OnHook => sys::DAHDI_ONHOOK,
            Hook::OffHook => sys::DAHDI_OFFHOOK,
            Hook::Wink => sys::DAHDI_WINK,
            Hook::Flash => sys::DAHDI_FLASH,
            Hook::Start => sys::DAHDI_START,
            Hook::Ring => sys::DAHDI_RING,
            Hook::RingOff => sys::DAHDI_RINGOFF,
        }
    }
}

/// The `DAHDI_LAW_*` value of `DAHDI_SETLAW` (dahdi/user.h): `None`, no law of our own, is
/// `DAHDI_LAW_DEFAULT`, the span's default.
pub(crate) fn law_to_raw(law: Option<Law>) -> c_int {
    match law {
        None => sys::DAHDI_LAW_DEFAULT,
        Some(Law::Mulaw) => sys::DAHDI_LAW_MULAW,
        Some(Law::Alaw) => sys::DAHDI_LAW_ALAW,
    }
}

/// The law of a `DAHDI_LAW_*` value (`dahdi_params.curlaw`): `None` for `DAHDI_LAW_DEFAULT`
/// and for a value dahdi/user.h does not define.
pub(crate) fn law_from_raw(raw: c_int) -> Option<Law> {
    match raw {
        sys::DAHDI_LAW_MULAW => Some(Law::Mulaw),
        sys::DAHDI_LAW_ALAW => Some(Law::Alaw),
        _ => None,
    }
}

/// Buffer policy, dahdi/user.h `DAHDI_POLICY_*` (`dahdi_bufferinfo.txbufpolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufPolicy {
    /// `DAHDI_POLICY_IMMEDIATE`: start immediately.
    Immediate,
    /// `DAHDI_POLICY_WHEN_FULL`: start when all buffers are full.
    WhenFull,
    /// `DAHDI_POLICY_HALF_FULL`: start when half the buffers are full (transmit only).
    HalfFull,
}

impl BufPolicy {
    /// The `DAHDI_POLICY_*` value.
    pub fn to_raw(self) -> c_int {
        match self {
            BufPolicy::Immediate => sys::DAHDI_POLICY_IMMEDIATE,
            BufPolicy::WhenFull => sys::DAHDI_POLICY_WHEN_FULL,
            BufPolicy::HalfFull => sys::DAHDI_POLICY_HALF_FULL,
        }
    }
}

bitflags::bitflags! {
    /// What `DAHDI_FLUSH` discards, dahdi/user.h `DAHDI_FLUSH_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Flush: u32 {
        /// `DAHDI_FLUSH_READ`: receive buffers.
        const READ = sys::DAHDI_FLUSH_READ as u32;
        /// `DAHDI_FLUSH_WRITE`: transmit buffers.
        const WRITE = sys::DAHDI_FLUSH_WRITE as u32;
        /// `DAHDI_FLUSH_BOTH`: both buffer directions.
        const BOTH = sys::DAHDI_FLUSH_BOTH as u32;
        /// `DAHDI_FLUSH_EVENT`: the event queue.
        const EVENT = sys::DAHDI_FLUSH_EVENT as u32;
        /// `DAHDI_FLUSH_ALL`: everything.
        const ALL = sys::DAHDI_FLUSH_ALL as u32;
    }
}

/// A tone of the channel's tone zone for `DAHDI_SENDTONE`, dahdi/user.h `DAHDI_TONE_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tone {
    /// `DAHDI_TONE_STOP`: stop the current tone.
    Stop,
    /// `DAHDI_TONE_DIALTONE`.
    DialTone,
    /// `DAHDI_TONE_BUSY`.
    Busy,
    /// `DAHDI_TONE_RINGTONE`: ring-back.
    RingTone,
    /// `DAHDI_TONE_CONGESTION`.
    Congestion,
    /// `DAHDI_TONE_CALLWAIT`.
    CallWait,
    /// `DAHDI_TONE_DIALRECALL`.
    DialRecall,
    /// `DAHDI_TONE_RECORDTONE`.
    RecordTone,
    /// `DAHDI_TONE_INFO`.
    Info,
    /// `DAHDI_TONE_CUST1`.
    Cust1,
    /// `DAHDI_TONE_CUST2`.
    Cust2,
    /// `DAHDI_TONE_STUTTER`: stutter dial tone (message waiting).
    Stutter,
}

impl Tone {
    /// The `DAHDI_TONE_*` value.
    pub fn to_raw(self) -> c_int {
        match self {
            Tone::Stop => sys::DAHDI_TONE_STOP,
            Tone::DialTone => sys::DAHDI_TONE_DIALTONE,
            Tone::Busy => sys::DAHDI_TONE_BUSY,
            Tone::RingTone => sys::DAHDI_TONE_RINGTONE,
            Tone::Congestion => sys::DAHDI_TONE_CONGESTION,
            Tone::CallWait => sys::DAHDI_TONE_CALLWAIT,
            Tone::DialRecall => sys::DAHDI_TONE_DIALRECALL,
            Tone::RecordTone => sys::DAHDI_TONE_RECORDTONE,
            Tone::Info => sys::DAHDI_TONE_INFO,
            Tone::Cust1 => sys::DAHDI_TONE_CUST1,
            Tone::Cust2 => sys::DAHDI_TONE_CUST2,
            Tone::Stutter => sys::DAHDI_TONE_STUTTER,
        }
    }
}

bitflags::bitflags! {
    /// How an FXS port shows message waiting, dahdi/user.h `DAHDI_VMWI_*`
    /// (`struct dahdi_vmwi_info.vmwi_type`, `DAHDI_VMWI_CONFIG`). Empty = FSK only.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VmwiType: u32 {
        /// `DAHDI_VMWI_LREV`: line reversal.
        const LREV = sys::DAHDI_VMWI_LREV;
        /// `DAHDI_VMWI_HVDC`: high-voltage DC lamp.
        const HVDC = sys::DAHDI_VMWI_HVDC;
        /// `DAHDI_VMWI_HVAC`: high-voltage AC (neon) lamp.
        const HVAC = sys::DAHDI_VMWI_HVAC;
    }
}

/// Line polarity for `DAHDI_SETPOLARITY` (dahdi/user.h: 0 = forward, 1 = reverse).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Polarity {
    /// Normal polarity.
    Forward,
    /// Reversed polarity.
    Reverse,
}

impl Polarity {
    /// The `DAHDI_SETPOLARITY` argument.
    pub fn to_raw(self) -> c_int {
        match self {
            Polarity::Forward => 0,
            Polarity::Reverse => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigtype_round_trip() {
        for &(t, raw) in &SIG_TABLE {
            assert_eq!(SigType::from_raw(raw), t);
            assert_eq!(t.to_raw(), raw);
        }
        assert_eq!(SigType::from_raw(0x1020), SigType::FxoKs);
        assert_eq!(SigType::from_raw(0x380), SigType::HdlcFcs);
        assert_eq!(SigType::from_raw(0x80080), SigType::HardHdlc);
        assert_eq!(SigType::from_raw(0x7777), SigType::Other(0x7777));
        assert_eq!(SigType::Other(0x7777).to_raw(), 0x7777);
        assert_eq!(SigType::from_raw(i32::MIN), SigType::Broken);
    }

    #[test]
    fn sigtype_classes() {
        assert!(SigType::FxoKs.is_fxs_port());
        assert!(SigType::FxoLs.is_fxs_port());
        assert!(SigType::FxoGs.is_fxs_port());
        assert!(!SigType::FxsKs.is_fxs_port());
        assert!(SigType::HdlcFcs.is_dchannel());
        assert!(SigType::HardHdlc.is_dchannel());
        assert!(!SigType::HdlcRaw.is_dchannel());
        assert!(!SigType::Clear.is_dchannel());
    }

    #[test]
    fn alarms_keep_unknown_bits() {
        let a = Alarms::from_bits_retain(0x8000 | 8);
        assert!(a.contains(Alarms::RED));
        assert_eq!(a.bits(), 0x8008);
    }

    #[test]
    fn raw_values() {
        assert_eq!(Hook::Ring.to_raw(), 5);
        assert_eq!(Hook::RingOff.to_raw(), 6);
        assert_eq!(Tone::Stutter.to_raw(), 10);
        assert_eq!(Tone::Stop.to_raw(), -1);
        assert_eq!(Flush::ALL.bits(), 7);
        assert_eq!(BufPolicy::HalfFull.to_raw(), 2);
        assert_eq!(Polarity::Reverse.to_raw(), 1);
        assert_eq!((VmwiType::LREV | VmwiType::HVAC).bits(), 5);
    }

    #[test]
    fn law_raw_values() {
        assert_eq!(law_to_raw(None), 0);
        assert_eq!(law_to_raw(Some(Law::Mulaw)), 1);
        assert_eq!(law_to_raw(Some(Law::Alaw)), 2);
        assert_eq!(law_from_raw(1), Some(Law::Mulaw));
        assert_eq!(law_from_raw(2), Some(Law::Alaw));
        assert_eq!(law_from_raw(0), None);
        assert_eq!(law_from_raw(7), None);
    }
}
