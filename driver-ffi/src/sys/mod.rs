//! Raw DAHDI userspace ABI: the constants, ioctl request numbers and `#[repr(C)]` structures of
//! `dahdi/user.h` (dahdi-linux 2.11) that dahdi-mwi uses.
//!
//! Every `pub const` here carries the exact name of its C macro and every struct mirrors the C
//! struct field by field (same names, same order), so that `tests/header_check.rs` can compare
//! each one against the header compiled by gcc. Add an item here and that test demands a check
//! for it.
//!
//! Prefer the typed API ([`crate::Channel`], [`crate::Event`], ...) over these raw values.

use libc::{c_int, c_uint};
use nix::sys::ioctl::ioctl_num_type;

mod ioctl;
mod structs;

pub use ioctl::*;
pub use structs::*;

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
