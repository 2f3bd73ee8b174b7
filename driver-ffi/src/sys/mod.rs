//! Raw DAHDI userspace ABI: the constants, ioctl request numbers and `#[repr(C)]` structures of
//! `dahdi/user.h` (dahdi-linux 2.11) that dahdi-mwi uses.
//!
//! Every `pub const` here carries the exact name of its C macro and every struct mirrors the C
//! struct field by field (same names, same order), so that `tests/header_check.rs` can compare
//! each one against the header compiled by gcc. Add an item here and that test demands a check
//! for it.
//!
//! Prefer the typed API ([`crate::Channel`], [`crate::Event`], ...) over these raw values.

use libc::{c_char, c_int, c_uint};
use nix::sys::ioctl::ioctl_num_type;

mod ioctl;

pub use ioctl::*;

/// An ioctl request number, as `ioctl(2)` takes it on this platform.
pub type Request = ioctl_num_type;

/// dahdi/user.h `DAHDI_CODE`: the ioctl "type" byte of every DAHDI request.
pub const DAHDI_CODE: u8 = 0xDA;

/// dahdi/user.h `ELAST`: errno of `read(2)`/`write(2)` on a channel while an event is queued
/// (fetch it with `DAHDI_GETEVENT`, then retry). Not a Linux errno.
pub const ELAST: c_int = 500;

/// dahdi/user.h `DAHDI_MAJOR`: character device major number of /dev/dahdi/*.
pub const DAHDI_MAJOR: c_int = 196;

// ---- limits ----

/// dahdi/user.h `DAHDI_MAX_BLOCKSIZE`: largest block (octets) `DAHDI_SET_BLOCKSIZE` accepts.
pub const DAHDI_MAX_BLOCKSIZE: c_int = 8192;
/// dahdi/user.h `DAHDI_DEFAULT_BLOCKSIZE`: block size (octets) of a freshly opened channel.
pub const DAHDI_DEFAULT_BLOCKSIZE: c_int = 1024;
/// dahdi/user.h `DAHDI_MAX_NUM_BUFS`: most buffers `DAHDI_SET_BUFINFO` accepts.
pub const DAHDI_MAX_NUM_BUFS: c_int = 32;
/// dahdi/user.h `DAHDI_MAX_BUF_SPACE`: limit (octets) of `numbufs * bufsize`.
pub const DAHDI_MAX_BUF_SPACE: c_int = 32768;
/// dahdi/user.h `DAHDI_DEFAULT_MTU_MRU`: default HDLC frame buffer size (octets).
pub const DAHDI_DEFAULT_MTU_MRU: c_int = 2048;
/// dahdi/user.h `DAHDI_MAX_CADENCE`: entries of a ring cadence / tone zone cadence.
pub const DAHDI_MAX_CADENCE: usize = 16;
/// dahdi/user.h `DAHDI_MAX_ECHOCANPARAMS`: most parameters in `DAHDI_ECHOCANCEL_PARAMS`.
pub const DAHDI_MAX_ECHOCANPARAMS: usize = 8;
/// dahdi/user.h `DAHDI_TONE_ZONE_MAX`: number of tone zones.
pub const DAHDI_TONE_ZONE_MAX: c_int = 128;
/// dahdi/user.h `DAHDI_TONE_ZONE_DEFAULT`: `DAHDI_SETTONEZONE` value restoring the default zone.
pub const DAHDI_TONE_ZONE_DEFAULT: c_int = -1;

// ---- signalling types (dahdi_params.sigtype / sigcap) ----

/// dahdi/user.h `DAHDI_SIG_NONE`: channel not configured.
pub const DAHDI_SIG_NONE: c_int = 0;
/// dahdi/user.h `DAHDI_SIG_FXSLS`: FXS signalling (an FXO port), loop start.
pub const DAHDI_SIG_FXSLS: c_int = 1 | (1 << 13);
/// dahdi/user.h `DAHDI_SIG_FXSGS`: FXS signalling (an FXO port), ground start.
pub const DAHDI_SIG_FXSGS: c_int = (1 << 1) | (1 << 13);
/// dahdi/user.h `DAHDI_SIG_FXSKS`: FXS signalling (an FXO port), kewl start.
pub const DAHDI_SIG_FXSKS: c_int = (1 << 2) | (1 << 13);
/// dahdi/user.h `DAHDI_SIG_FXOLS`: FXO signalling (an FXS port), loop start.
pub const DAHDI_SIG_FXOLS: c_int = (1 << 3) | (1 << 12);
/// dahdi/user.h `DAHDI_SIG_FXOGS`: FXO signalling (an FXS port), ground start.
pub const DAHDI_SIG_FXOGS: c_int = (1 << 4) | (1 << 12);
/// dahdi/user.h `DAHDI_SIG_FXOKS`: FXO signalling (an FXS port), kewl start.
pub const DAHDI_SIG_FXOKS: c_int = (1 << 5) | (1 << 12);
/// dahdi/user.h `DAHDI_SIG_EM`: E&M.
pub const DAHDI_SIG_EM: c_int = 1 << 6;
/// dahdi/user.h `DAHDI_SIG_CLEAR`: clear channel.
pub const DAHDI_SIG_CLEAR: c_int = 1 << 7;
/// dahdi/user.h `DAHDI_SIG_HDLCRAW`: raw HDLC, no FCS.
pub const DAHDI_SIG_HDLCRAW: c_int = (1 << 8) | DAHDI_SIG_CLEAR;
/// dahdi/user.h `DAHDI_SIG_HDLCFCS`: HDLC with kernel FCS (`dchan=` in system.conf).
pub const DAHDI_SIG_HDLCFCS: c_int = (1 << 9) | DAHDI_SIG_HDLCRAW;
/// dahdi/user.h `DAHDI_SIG_HDLCNET`: HDLC network device.
pub const DAHDI_SIG_HDLCNET: c_int = (1 << 10) | DAHDI_SIG_HDLCFCS;
/// dahdi/user.h `DAHDI_SIG_SLAVE`: slave of another channel.
pub const DAHDI_SIG_SLAVE: c_int = 1 << 11;
/// dahdi/user.h `DAHDI_SIG_SF`: single-frequency tone signalling.
pub const DAHDI_SIG_SF: c_int = 1 << 14;
/// dahdi/user.h `DAHDI_SIG_CAS`: raw CAS bits.
pub const DAHDI_SIG_CAS: c_int = 1 << 15;
/// dahdi/user.h `DAHDI_SIG_DACS`: cross connect.
pub const DAHDI_SIG_DACS: c_int = (1 << 16) | DAHDI_SIG_CLEAR;
/// dahdi/user.h `DAHDI_SIG_EM_E1`: E1 E&M.
pub const DAHDI_SIG_EM_E1: c_int = 1 << 17;
/// dahdi/user.h `DAHDI_SIG_DACS_RBS`: cross connect with robbed bits.
pub const DAHDI_SIG_DACS_RBS: c_int = (1 << 18) | (1 << 16);
/// dahdi/user.h `DAHDI_SIG_HARDHDLC`: HDLC done by the card (`hardhdlc=`).
pub const DAHDI_SIG_HARDHDLC: c_int = (1 << 19) | DAHDI_SIG_CLEAR;
/// dahdi/user.h `DAHDI_SIG_MTP2`: SS7 MTP2.
pub const DAHDI_SIG_MTP2: c_int = (1 << 20) | DAHDI_SIG_HDLCFCS;
/// dahdi/user.h `DAHDI_SIG_BROKEN`: port failed initialisation (bit 31, negative as `int`).
pub const DAHDI_SIG_BROKEN: c_int = 1 << 31;

// ---- laws, buffer policies ----

/// dahdi/user.h `DAHDI_LAW_DEFAULT`: the span's default companding law.
pub const DAHDI_LAW_DEFAULT: c_int = 0;
/// dahdi/user.h `DAHDI_LAW_MULAW`: G.711 µ-law.
pub const DAHDI_LAW_MULAW: c_int = 1;
/// dahdi/user.h `DAHDI_LAW_ALAW`: G.711 A-law.
pub const DAHDI_LAW_ALAW: c_int = 2;

/// dahdi/user.h `DAHDI_POLICY_IMMEDIATE`: start play/record immediately.
pub const DAHDI_POLICY_IMMEDIATE: c_int = 0;
/// dahdi/user.h `DAHDI_POLICY_WHEN_FULL`: start when the buffers are full.
pub const DAHDI_POLICY_WHEN_FULL: c_int = 1;
/// dahdi/user.h `DAHDI_POLICY_HALF_FULL`: start when half full (transmit only).
pub const DAHDI_POLICY_HALF_FULL: c_int = 2;

// ---- DAHDI_HOOK values ----

/// dahdi/user.h `DAHDI_ONHOOK`.
pub const DAHDI_ONHOOK: c_int = 0;
/// dahdi/user.h `DAHDI_OFFHOOK`.
pub const DAHDI_OFFHOOK: c_int = 1;
/// dahdi/user.h `DAHDI_WINK`.
pub const DAHDI_WINK: c_int = 2;
/// dahdi/user.h `DAHDI_FLASH`.
pub const DAHDI_FLASH: c_int = 3;
/// dahdi/user.h `DAHDI_START`.
pub const DAHDI_START: c_int = 4;
/// dahdi/user.h `DAHDI_RING`.
pub const DAHDI_RING: c_int = 5;
/// dahdi/user.h `DAHDI_RINGOFF`.
pub const DAHDI_RINGOFF: c_int = 6;

// ---- DAHDI_FLUSH bits ----

/// dahdi/user.h `DAHDI_FLUSH_READ`.
pub const DAHDI_FLUSH_READ: c_int = 1;
/// dahdi/user.h `DAHDI_FLUSH_WRITE`.
pub const DAHDI_FLUSH_WRITE: c_int = 2;
/// dahdi/user.h `DAHDI_FLUSH_BOTH`.
pub const DAHDI_FLUSH_BOTH: c_int = DAHDI_FLUSH_READ | DAHDI_FLUSH_WRITE;
/// dahdi/user.h `DAHDI_FLUSH_EVENT`.
pub const DAHDI_FLUSH_EVENT: c_int = 4;
/// dahdi/user.h `DAHDI_FLUSH_ALL`.
pub const DAHDI_FLUSH_ALL: c_int = DAHDI_FLUSH_BOTH | DAHDI_FLUSH_EVENT;

// ---- alarm bits (dahdi_spaninfo.alarms, dahdi_params.chan_alarms) ----

/// dahdi/user.h `DAHDI_ALARM_NONE`.
pub const DAHDI_ALARM_NONE: c_int = 0;
/// dahdi/user.h `DAHDI_ALARM_RECOVER`.
pub const DAHDI_ALARM_RECOVER: c_int = 1;
/// dahdi/user.h `DAHDI_ALARM_LOOPBACK`.
pub const DAHDI_ALARM_LOOPBACK: c_int = 1 << 1;
/// dahdi/user.h `DAHDI_ALARM_YELLOW`.
pub const DAHDI_ALARM_YELLOW: c_int = 1 << 2;
/// dahdi/user.h `DAHDI_ALARM_RED`.
pub const DAHDI_ALARM_RED: c_int = 1 << 3;
/// dahdi/user.h `DAHDI_ALARM_BLUE`.
pub const DAHDI_ALARM_BLUE: c_int = 1 << 4;
/// dahdi/user.h `DAHDI_ALARM_NOTOPEN`.
pub const DAHDI_ALARM_NOTOPEN: c_int = 1 << 5;
/// dahdi/user.h `DAHDI_ALARM_LOS`: loss of signal.
pub const DAHDI_ALARM_LOS: c_int = 1 << 8;
/// dahdi/user.h `DAHDI_ALARM_LFA`: loss of frame alignment.
pub const DAHDI_ALARM_LFA: c_int = 1 << 9;
/// dahdi/user.h `DAHDI_ALARM_LMFA`: loss of multi-frame alignment.
pub const DAHDI_ALARM_LMFA: c_int = 1 << 10;

// ---- events (DAHDI_GETEVENT) ----

/// dahdi/user.h `DAHDI_EVENT_NONE`.
pub const DAHDI_EVENT_NONE: c_int = 0;
/// dahdi/user.h `DAHDI_EVENT_ONHOOK`.
pub const DAHDI_EVENT_ONHOOK: c_int = 1;
/// dahdi/user.h `DAHDI_EVENT_RINGOFFHOOK`.
pub const DAHDI_EVENT_RINGOFFHOOK: c_int = 2;
/// dahdi/user.h `DAHDI_EVENT_WINKFLASH`.
pub const DAHDI_EVENT_WINKFLASH: c_int = 3;
/// dahdi/user.h `DAHDI_EVENT_ALARM`.
pub const DAHDI_EVENT_ALARM: c_int = 4;
/// dahdi/user.h `DAHDI_EVENT_NOALARM`.
pub const DAHDI_EVENT_NOALARM: c_int = 5;
/// dahdi/user.h `DAHDI_EVENT_ABORT`.
pub const DAHDI_EVENT_ABORT: c_int = 6;
/// dahdi/user.h `DAHDI_EVENT_OVERRUN`.
pub const DAHDI_EVENT_OVERRUN: c_int = 7;
/// dahdi/user.h `DAHDI_EVENT_BADFCS`.
pub const DAHDI_EVENT_BADFCS: c_int = 8;
/// dahdi/user.h `DAHDI_EVENT_DIALCOMPLETE`.
pub const DAHDI_EVENT_DIALCOMPLETE: c_int = 9;
/// dahdi/user.h `DAHDI_EVENT_RINGERON`.
pub const DAHDI_EVENT_RINGERON: c_int = 10;
/// dahdi/user.h `DAHDI_EVENT_RINGEROFF`.
pub const DAHDI_EVENT_RINGEROFF: c_int = 11;
/// dahdi/user.h `DAHDI_EVENT_HOOKCOMPLETE`.
pub const DAHDI_EVENT_HOOKCOMPLETE: c_int = 12;
/// dahdi/user.h `DAHDI_EVENT_BITSCHANGED`.
pub const DAHDI_EVENT_BITSCHANGED: c_int = 13;
/// dahdi/user.h `DAHDI_EVENT_PULSE_START`.
pub const DAHDI_EVENT_PULSE_START: c_int = 14;
/// dahdi/user.h `DAHDI_EVENT_TIMER_EXPIRED`.
pub const DAHDI_EVENT_TIMER_EXPIRED: c_int = 15;
/// dahdi/user.h `DAHDI_EVENT_TIMER_PING`.
pub const DAHDI_EVENT_TIMER_PING: c_int = 16;
/// dahdi/user.h `DAHDI_EVENT_POLARITY`.
pub const DAHDI_EVENT_POLARITY: c_int = 17;
/// dahdi/user.h `DAHDI_EVENT_RINGBEGIN`.
pub const DAHDI_EVENT_RINGBEGIN: c_int = 18;
/// dahdi/user.h `DAHDI_EVENT_EC_DISABLED`.
pub const DAHDI_EVENT_EC_DISABLED: c_int = 19;
/// dahdi/user.h `DAHDI_EVENT_REMOVED`.
pub const DAHDI_EVENT_REMOVED: c_int = 20;
/// dahdi/user.h `DAHDI_EVENT_NEONMWI_ACTIVE`.
pub const DAHDI_EVENT_NEONMWI_ACTIVE: c_int = 21;
/// dahdi/user.h `DAHDI_EVENT_NEONMWI_INACTIVE`.
pub const DAHDI_EVENT_NEONMWI_INACTIVE: c_int = 22;
/// dahdi/user.h `DAHDI_EVENT_TX_CED_DETECTED`.
pub const DAHDI_EVENT_TX_CED_DETECTED: c_int = 23;
/// dahdi/user.h `DAHDI_EVENT_RX_CED_DETECTED`.
pub const DAHDI_EVENT_RX_CED_DETECTED: c_int = 24;
/// dahdi/user.h `DAHDI_EVENT_TX_CNG_DETECTED`.
pub const DAHDI_EVENT_TX_CNG_DETECTED: c_int = 25;
/// dahdi/user.h `DAHDI_EVENT_RX_CNG_DETECTED`.
pub const DAHDI_EVENT_RX_CNG_DETECTED: c_int = 26;
/// dahdi/user.h `DAHDI_EVENT_EC_NLP_DISABLED`.
pub const DAHDI_EVENT_EC_NLP_DISABLED: c_int = 27;
/// dahdi/user.h `DAHDI_EVENT_EC_NLP_ENABLED`.
pub const DAHDI_EVENT_EC_NLP_ENABLED: c_int = 28;
/// dahdi/user.h `DAHDI_EVENT_READ_OVERRUN`.
pub const DAHDI_EVENT_READ_OVERRUN: c_int = 29;
/// dahdi/user.h `DAHDI_EVENT_WRITE_UNDERRUN`.
pub const DAHDI_EVENT_WRITE_UNDERRUN: c_int = 30;
/// dahdi/user.h `DAHDI_EVENT_PULSEDIGIT`: OR'd with the ASCII digit dialled by pulses.
pub const DAHDI_EVENT_PULSEDIGIT: c_int = 1 << 16;
/// dahdi/user.h `DAHDI_EVENT_DTMFDOWN`: OR'd with the ASCII DTMF digit (key down).
pub const DAHDI_EVENT_DTMFDOWN: c_int = 1 << 17;
/// dahdi/user.h `DAHDI_EVENT_DTMFUP`: OR'd with the ASCII DTMF digit (key up).
pub const DAHDI_EVENT_DTMFUP: c_int = 1 << 18;

// ---- tones (DAHDI_SENDTONE) ----

/// dahdi/user.h `DAHDI_TONE_STOP`.
pub const DAHDI_TONE_STOP: c_int = -1;
/// dahdi/user.h `DAHDI_TONE_DIALTONE`.
pub const DAHDI_TONE_DIALTONE: c_int = 0;
/// dahdi/user.h `DAHDI_TONE_BUSY`.
pub const DAHDI_TONE_BUSY: c_int = 1;
/// dahdi/user.h `DAHDI_TONE_RINGTONE`.
pub const DAHDI_TONE_RINGTONE: c_int = 2;
/// dahdi/user.h `DAHDI_TONE_CONGESTION`.
pub const DAHDI_TONE_CONGESTION: c_int = 3;
/// dahdi/user.h `DAHDI_TONE_CALLWAIT`.
pub const DAHDI_TONE_CALLWAIT: c_int = 4;
/// dahdi/user.h `DAHDI_TONE_DIALRECALL`.
pub const DAHDI_TONE_DIALRECALL: c_int = 5;
/// dahdi/user.h `DAHDI_TONE_RECORDTONE`.
pub const DAHDI_TONE_RECORDTONE: c_int = 6;
/// dahdi/user.h `DAHDI_TONE_INFO`.
pub const DAHDI_TONE_INFO: c_int = 7;
/// dahdi/user.h `DAHDI_TONE_CUST1`.
pub const DAHDI_TONE_CUST1: c_int = 8;
/// dahdi/user.h `DAHDI_TONE_CUST2`.
pub const DAHDI_TONE_CUST2: c_int = 9;
/// dahdi/user.h `DAHDI_TONE_STUTTER`: stutter dial tone (message waiting).
pub const DAHDI_TONE_STUTTER: c_int = 10;
/// dahdi/user.h `DAHDI_TONE_MAX`: tone ids of a zone are `0..DAHDI_TONE_MAX`.
pub const DAHDI_TONE_MAX: c_int = 16;
/// dahdi/user.h `DAHDI_TONE_DTMF_BASE`: tone id of DTMF '0' in a zone.
pub const DAHDI_TONE_DTMF_BASE: c_int = 64;

// ---- VMWI ----

/// dahdi/user.h `DAHDI_VMWI_LREV`: indicate by line reversal.
pub const DAHDI_VMWI_LREV: c_uint = 1;
/// dahdi/user.h `DAHDI_VMWI_HVDC`: indicate by high-voltage DC (90 V).
pub const DAHDI_VMWI_HVDC: c_uint = 1 << 1;
/// dahdi/user.h `DAHDI_VMWI_HVAC`: indicate by high-voltage AC (neon lamp).
pub const DAHDI_VMWI_HVAC: c_uint = 1 << 2;

// ---- structures ----

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
