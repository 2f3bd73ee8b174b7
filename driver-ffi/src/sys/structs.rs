//! The structures of dahdi/user.h, field by field, and the plain-old-data marker that lets the
//! kernel fill them.

use super::DAHDI_MAX_CADENCE;
use libc::{c_char, c_int, c_uint};

/// dahdi/user.h `struct dahdi_params` (`DAHDI_GET_PARAMS`/`DAHDI_SET_PARAMS`). Times in ms.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DahdiParams {
    /// Channel number (in: channel to query on /dev/dahdi/ctl).
    pub channo: c_int,
    /// Span number.
    pub spanno: c_int,
    /// Channel position in its span (1-based).
    pub chanpos: c_int,
    /// Configured signalling, a `DAHDI_SIG_*` value (read-only).
    pub sigtype: c_int,
    /// Possible signalling, a mask of `DAHDI_SIG_*` (read-only).
    pub sigcap: c_int,
    /// Non-zero while the far end is off-hook (read-only).
    pub rxisoffhook: c_int,
    /// Received CAS bits (read-only).
    pub rxbits: c_int,
    /// Transmitted CAS bits (read-only).
    pub txbits: c_int,
    /// Transmitted hook signal (read-only).
    pub txhooksig: c_int,
    /// Received hook signal (read-only).
    pub rxhooksig: c_int,
    /// Current law, `DAHDI_LAW_MULAW` or `DAHDI_LAW_ALAW` (read-only).
    pub curlaw: c_int,
    /// Idle CAS bits (read-only).
    pub idlebits: c_int,
    /// Channel name, NUL-terminated.
    pub name: [c_char; 40],
    /// Pre-wink time (ms).
    pub prewinktime: c_int,
    /// Pre-flash time (ms).
    pub preflashtime: c_int,
    /// Wink time (ms).
    pub winktime: c_int,
    /// Flash time (ms).
    pub flashtime: c_int,
    /// Start time (ms).
    pub starttime: c_int,
    /// Longest received wink (ms).
    pub rxwinktime: c_int,
    /// Longest received flash (ms).
    pub rxflashtime: c_int,
    /// Hook debounce time (ms).
    pub debouncetime: c_int,
    /// Pulse dialling break time (ms).
    pub pulsebreaktime: c_int,
    /// Pulse dialling make time (ms).
    pub pulsemaketime: c_int,
    /// Pulse dialling inter-digit time (ms).
    pub pulseaftertime: c_int,
    /// Alarms on this channel, `DAHDI_ALARM_*` bits.
    pub chan_alarms: u32,
}

/// dahdi/user.h `struct dahdi_spaninfo` (`DAHDI_SPANSTAT`), packed in C (314 octets).
///
/// Fields of a packed struct cannot be borrowed: copy them out (`{ info.alarms }`) or use the
/// accessors.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct DahdiSpanInfo {
    /// Span number (in: span to query, 0 = the span of the channel the fd is bound to).
    pub spanno: c_int,
    /// Span name, NUL-terminated.
    pub name: [c_char; 20],
    /// Span description, NUL-terminated.
    pub desc: [c_char; 40],
    /// Alarms, `DAHDI_ALARM_*` bits.
    pub alarms: c_int,
    /// Transmit level setting.
    pub txlevel: c_int,
    /// Current receive level.
    pub rxlevel: c_int,
    /// Bipolar violation count.
    pub bpvcount: c_int,
    /// CRC4 error count.
    pub crc4count: c_int,
    /// E-bit error count.
    pub ebitcount: c_int,
    /// FAS error count.
    pub fascount: c_int,
    /// Framing error count.
    pub fecount: u32,
    /// Coding violation count.
    pub cvcount: u32,
    /// Bit error count.
    pub becount: u32,
    /// Detected PRBS pattern.
    pub prbs: u32,
    /// Errored seconds.
    pub errsec: u32,
    /// IRQ misses.
    pub irqmisses: c_int,
    /// Span number of the current sync source, 0 = free run.
    pub syncsrc: c_int,
    /// Configured channels on the span.
    pub numchans: c_int,
    /// Channels on the span.
    pub totalchans: c_int,
    /// Spans in the system.
    pub totalspans: c_int,
    /// Line build-out.
    pub lbo: c_int,
    /// Framing/coding, `DAHDI_CONFIG_*` bits.
    pub lineconfig: c_int,
    /// Line build-out as text.
    pub lboname: [c_char; 40],
    /// Device location.
    pub location: [c_char; 40],
    /// Device manufacturer.
    pub manufacturer: [c_char; 40],
    /// Device type.
    pub devicetype: [c_char; 40],
    /// Device IRQ.
    pub irq: c_int,
    /// Signalling the span supports, 0 for analog spans.
    pub linecompat: c_int,
    /// Span type as text ("T1", "E1", "FXS", ...).
    pub spantype: [c_char; 6],
}

/// dahdi/user.h `struct dahdi_bufferinfo` (`DAHDI_GET_BUFINFO`/`DAHDI_SET_BUFINFO`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DahdiBufferInfo {
    /// Transmit policy, `DAHDI_POLICY_*`.
    pub txbufpolicy: c_int,
    /// Receive policy, `DAHDI_POLICY_*` (the kernel always uses IMMEDIATE).
    pub rxbufpolicy: c_int,
    /// Number of buffers (1..=`DAHDI_MAX_NUM_BUFS`).
    pub numbufs: c_int,
    /// Size of each buffer in octets (16..=`DAHDI_MAX_BLOCKSIZE`).
    pub bufsize: c_int,
    /// Full read buffers (read-only; DAHDI reports -1).
    pub readbufs: c_int,
    /// Full write buffers (read-only; DAHDI reports -1).
    pub writebufs: c_int,
}

/// dahdi/user.h `struct dahdi_versioninfo` (`DAHDI_GETVERSION`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DahdiVersionInfo {
    /// DAHDI version, NUL-terminated.
    pub version: [c_char; 80],
    /// Compiled-in echo cancellers, NUL-terminated.
    pub echo_canceller: [c_char; 80],
}

/// dahdi/user.h `struct dahdi_ring_cadence` (`DAHDI_SETCADENCE`): alternating on/off times in
/// ms, ending at the first 0; a negative on-time marks where the cadence loops back to.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DahdiRingCadence {
    /// On/off durations (ms).
    pub ringcadence: [c_int; DAHDI_MAX_CADENCE],
}

/// dahdi/user.h `struct dahdi_vmwi_info` (`DAHDI_VMWI_CONFIG`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DahdiVmwiInfo {
    /// `DAHDI_VMWI_*` bits.
    pub vmwi_type: c_uint,
}

/// dahdi/user.h `struct dahdi_tone_def_header` (`DAHDI_LOADZONE`), followed in memory by
/// `count` [`DahdiToneDef`] (the C flexible member `tones[0]` is not part of this struct).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DahdiToneDefHeader {
    /// Number of tone definitions that follow.
    pub count: c_int,
    /// Zone number being loaded (0..`DAHDI_TONE_ZONE_MAX`).
    pub zone: c_int,
    /// Ring cadence (ms on, ms off, ..., ending with 0).
    pub ringcadence: [c_int; DAHDI_MAX_CADENCE],
    /// Zone name, NUL-terminated.
    pub name: [c_char; 40],
}

/// dahdi/user.h `struct dahdi_tone_def`: one cadence step of a tone in a zone.
///
/// The generator constants follow user.h: with l = level (dBm0), f = frequency (Hz),
/// gain = 10^((l - 3.14)/20) * 32768, fac = 2 cos(2πf/8000) * 32768,
/// init_v2 = sin(-4πf/8000) * gain, init_v3 = sin(-2πf/8000) * gain.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DahdiToneDef {
    /// Tone id (`DAHDI_TONE_*`).
    pub tone: c_int,
    /// Index (in load order) of the next step of the cadence.
    pub next: c_int,
    /// Duration of this step (samples, 8000 per second).
    pub samples: c_int,
    /// Volume scale-down shift.
    pub shift: c_int,
    /// Frequency factor 1.
    pub fac1: c_int,
    /// Initial v2 of generator 1.
    pub init_v2_1: c_int,
    /// Initial v3 of generator 1.
    pub init_v3_1: c_int,
    /// Frequency factor 2.
    pub fac2: c_int,
    /// Initial v2 of generator 2.
    pub init_v2_2: c_int,
    /// Initial v3 of generator 2.
    pub init_v3_2: c_int,
    /// Non-zero: f2 modulates f1 instead of being added.
    pub modulate: c_int,
}

/// dahdi/user.h `struct dahdi_echocanparams` (`DAHDI_ECHOCANCEL_PARAMS`), followed in memory by
/// `param_count` [`DahdiEchoCanParam`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DahdiEchoCanParams {
    /// Tail length in taps (8 taps per ms); 0 disables the canceller.
    pub tap_length: u32,
    /// Number of parameters that follow.
    pub param_count: u32,
}

/// dahdi/user.h `struct dahdi_echocanparam`: one named echo canceller parameter.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DahdiEchoCanParam {
    /// Parameter name, NUL-terminated.
    pub name: [c_char; 16],
    /// Parameter value.
    pub value: i32,
}

/// Plain-old-data marker: every bit pattern, all zeroes included, is a valid value, so the
/// kernel may write anything into it.
///
/// # Safety
/// Implement only for types whose fields are all integers or arrays of integers.
pub(crate) unsafe trait Pod: Sized {
    /// The all-zero value.
    fn zeroed() -> Self {
        // SAFETY: implementors contain only integers and integer arrays, for which every bit
        // pattern, including all zeroes, is valid (the trait's contract).
        unsafe { std::mem::zeroed() }
    }
}

macro_rules! pod {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: every field of this struct is an integer or an array of integers.
        unsafe impl Pod for $t {}
    )*};
}
pod!(
    DahdiParams,
    DahdiSpanInfo,
    DahdiBufferInfo,
    DahdiVersionInfo,
    DahdiRingCadence,
    DahdiVmwiInfo,
    DahdiToneDefHeader,
    DahdiToneDef,
    DahdiEchoCanParams,
    DahdiEchoCanParam,
    c_int,
);

macro_rules! zero_default {
    ($($t:ty),* $(,)?) => {$(
        impl Default for $t {
            /// All fields zero.
            fn default() -> Self {
                Pod::zeroed()
            }
        }
    )*};
}
zero_default!(
    DahdiParams,
    DahdiSpanInfo,
    DahdiVersionInfo,
    DahdiToneDefHeader
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_default() {
        let p = DahdiParams::default();
        assert_eq!(p.channo, 0);
        assert!(p.name.iter().all(|&c| c == 0));
        let s = DahdiSpanInfo::default();
        assert_eq!({ s.alarms }, 0);
    }
}
