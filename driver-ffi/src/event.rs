//! Channel events returned by `DAHDI_GETEVENT` (dahdi/user.h `DAHDI_EVENT_*`).

use crate::sys;
use libc::c_int;

/// One event from a channel's event queue, dahdi/user.h `DAHDI_EVENT_*`.
///
/// `DAHDI_EVENT_NONE` (empty queue) is not an event: [`Event::from_raw`] returns `None` for it.
/// Digits are the ASCII octet DAHDI ORs into the low byte (`b'0'..=b'9'`, `b'*'`, `b'#'`,
/// `b'A'..=b'D'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// `DAHDI_EVENT_ONHOOK`: the far end went on-hook (on an FXS port: the phone hung up).
    OnHook,
    /// `DAHDI_EVENT_RINGOFFHOOK`: on an FXS port the phone went off-hook; on an FXO port, ring.
    RingOffHook,
    /// `DAHDI_EVENT_WINKFLASH`: wink, or hook flash on an FXS port.
    WinkFlash,
    /// `DAHDI_EVENT_ALARM`: the span went into alarm (D-channel: link down).
    Alarm,
    /// `DAHDI_EVENT_NOALARM`: the span left alarm (D-channel: link up).
    NoAlarm,
    /// `DAHDI_EVENT_ABORT`: HDLC abort received.
    Abort,
    /// `DAHDI_EVENT_OVERRUN`: HDLC frame too long.
    Overrun,
    /// `DAHDI_EVENT_BADFCS`: HDLC frame with bad FCS dropped.
    BadFcs,
    /// `DAHDI_EVENT_DIALCOMPLETE`: dial string sent.
    DialComplete,
    /// `DAHDI_EVENT_RINGERON`: ringer switched on.
    RingerOn,
    /// `DAHDI_EVENT_RINGEROFF`: ringer switched off.
    RingerOff,
    /// `DAHDI_EVENT_HOOKCOMPLETE`: hook state change done.
    HookComplete,
    /// `DAHDI_EVENT_BITSCHANGED`: CAS bits changed.
    BitsChanged,
    /// `DAHDI_EVENT_PULSE_START`: pulse dialling began.
    PulseStart,
    /// `DAHDI_EVENT_TIMER_EXPIRED`: timer expired.
    TimerExpired,
    /// `DAHDI_EVENT_TIMER_PING`: timer ping.
    TimerPing,
    /// `DAHDI_EVENT_POLARITY`: polarity reversal.
    Polarity,
    /// `DAHDI_EVENT_RINGBEGIN`: ring began.
    RingBegin,
    /// `DAHDI_EVENT_EC_DISABLED`: echo canceller disabled.
    EcDisabled,
    /// `DAHDI_EVENT_REMOVED`: the device is gone; close the channel.
    Removed,
    /// `DAHDI_EVENT_NEONMWI_ACTIVE`: neon MWI pulses detected.
    NeonMwiActive,
    /// `DAHDI_EVENT_NEONMWI_INACTIVE`: neon MWI pulses stopped.
    NeonMwiInactive,
    /// `DAHDI_EVENT_TX_CED_DETECTED`.
    TxCedDetected,
    /// `DAHDI_EVENT_RX_CED_DETECTED`.
    RxCedDetected,
    /// `DAHDI_EVENT_TX_CNG_DETECTED`.
    TxCngDetected,
    /// `DAHDI_EVENT_RX_CNG_DETECTED`.
    RxCngDetected,
    /// `DAHDI_EVENT_EC_NLP_DISABLED`.
    EcNlpDisabled,
    /// `DAHDI_EVENT_EC_NLP_ENABLED`.
    EcNlpEnabled,
    /// `DAHDI_EVENT_READ_OVERRUN`: receive buffers overran (needs `DAHDI_BUFFER_EVENTS`).
    ReadOverrun,
    /// `DAHDI_EVENT_WRITE_UNDERRUN`: transmit buffers ran empty (needs `DAHDI_BUFFER_EVENTS`).
    WriteUnderrun,
    /// `DAHDI_EVENT_PULSEDIGIT | digit`: a digit dialled by pulses (ASCII).
    PulseDigit(u8),
    /// `DAHDI_EVENT_DTMFDOWN | digit`: DTMF key down (ASCII).
    DtmfDown(u8),
    /// `DAHDI_EVENT_DTMFUP | digit`: DTMF key up (ASCII).
    DtmfUp(u8),
    /// A value this crate does not name, kept as received.
    Unknown(c_int),
}

const SIMPLE: [(Event, c_int); 30] = [
    (Event::OnHook, sys::DAHDI_EVENT_ONHOOK),
    (Event::RingOffHook, sys::DAHDI_EVENT_RINGOFFHOOK),
    (Event::WinkFlash, sys::DAHDI_EVENT_WINKFLASH),
    (Event::Alarm, sys::DAHDI_EVENT_ALARM),
    (Event::NoAlarm, sys::DAHDI_EVENT_NOALARM),
    (Event::Abort, sys::DAHDI_EVENT_ABORT),
    (Event::Overrun, sys::DAHDI_EVENT_OVERRUN),
    (Event::BadFcs, sys::DAHDI_EVENT_BADFCS),
    (Event::DialComplete, sys::DAHDI_EVENT_DIALCOMPLETE),
    (Event::RingerOn, sys::DAHDI_EVENT_RINGERON),
    (Event::RingerOff, sys::DAHDI_EVENT_RINGEROFF),
    (Event::HookComplete, sys::DAHDI_EVENT_HOOKCOMPLETE),
    (Event::BitsChanged, sys::DAHDI_EVENT_BITSCHANGED),
    (Event::PulseStart, sys::DAHDI_EVENT_PULSE_START),
    (Event::TimerExpired, sys::DAHDI_EVENT_TIMER_EXPIRED),
    (Event::TimerPing, sys::DAHDI_EVENT_TIMER_PING),
    (Event::Polarity, sys::DAHDI_EVENT_POLARITY),
    (Event::RingBegin, sys::DAHDI_EVENT_RINGBEGIN),
    (Event::EcDisabled, sys::DAHDI_EVENT_EC_DISABLED),
    (Event::Removed, sys::DAHDI_EVENT_REMOVED),
    (Event::NeonMwiActive, sys::DAHDI_EVENT_NEONMWI_ACTIVE),
    (Event::NeonMwiInactive, sys::DAHDI_EVENT_NEONMWI_INACTIVE),
    (Event::TxCedDetected, sys::DAHDI_EVENT_TX_CED_DETECTED),
    (Event::RxCedDetected, sys::DAHDI_EVENT_RX_CED_DETECTED),
    (Event::TxCngDetected, sys::DAHDI_EVENT_TX_CNG_DETECTED),
    (Event::RxCngDetected, sys::DAHDI_EVENT_RX_CNG_DETECTED),
    (Event::EcNlpDisabled, sys::DAHDI_EVENT_EC_NLP_DISABLED),
    (Event::EcNlpEnabled, sys::DAHDI_EVENT_EC_NLP_ENABLED),
    (Event::ReadOverrun, sys::DAHDI_EVENT_READ_OVERRUN),
    (Event::WriteUnderrun, sys::DAHDI_EVENT_WRITE_UNDERRUN),
];

/// The digit flags occupy bits 16..=18; the digit itself is the low octet.
const DIGIT_FLAGS: c_int =
    sys::DAHDI_EVENT_PULSEDIGIT | sys::DAHDI_EVENT_DTMFDOWN | sys::DAHDI_EVENT_DTMFUP;
const DIGIT_MASK: c_int = 0xff;

impl Event {
    /// Decodes a `DAHDI_GETEVENT` result: `None` for `DAHDI_EVENT_NONE`, [`Event::Unknown`]
    /// for values DAHDI does not define. Never panics.
    pub fn from_raw(raw: c_int) -> Option<Event> {
        if raw == sys::DAHDI_EVENT_NONE {
            return None;
        }
        // A digit event is exactly one flag plus an octet; anything else is unknown.
        if raw & DIGIT_FLAGS != 0 && raw & !(DIGIT_FLAGS | DIGIT_MASK) == 0 {
            let digit = (raw & DIGIT_MASK) as u8;
            match raw & DIGIT_FLAGS {
                sys::DAHDI_EVENT_PULSEDIGIT => return Some(Event::PulseDigit(digit)),
                sys::DAHDI_EVENT_DTMFDOWN => return Some(Event::DtmfDown(digit)),
                sys::DAHDI_EVENT_DTMFUP => return Some(Event::DtmfUp(digit)),
                _ => {}
            }
        }
        Some(
            SIMPLE
                .iter()
                .find(|&&(_, v)| v == raw)
                .map_or(Event::Unknown(raw), |&(e, _)| e),
        )
    }

    /// The raw `DAHDI_EVENT_*` value (digit events: flag | ASCII digit).
    pub fn to_raw(self) -> c_int {
        match self {
            Event::PulseDigit(d) => sys::DAHDI_EVENT_PULSEDIGIT | c_int::from(d),
            Event::DtmfDown(d) => sys::DAHDI_EVENT_DTMFDOWN | c_int::from(d),
            Event::DtmfUp(d) => sys::DAHDI_EVENT_DTMFUP | c_int::from(d),
            Event::Unknown(raw) => raw,
            simple => SIMPLE
                .iter()
                .find(|&&(e, _)| e == simple)
                .map_or(sys::DAHDI_EVENT_NONE, |&(_, v)| v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_no_event() {
        assert_eq!(Event::from_raw(0), None);
    }

    #[test]
    fn simple_events_round_trip() {
        for (i, &(e, raw)) in SIMPLE.iter().enumerate() {
            assert_eq!(raw, i as c_int + 1, "table is dense 1..=30");
            assert_eq!(Event::from_raw(raw), Some(e));
            assert_eq!(e.to_raw(), raw);
        }
        assert_eq!(Event::from_raw(2), Some(Event::RingOffHook));
        assert_eq!(Event::from_raw(4), Some(Event::Alarm));
        assert_eq!(Event::from_raw(5), Some(Event::NoAlarm));
    }

    #[test]
    fn digit_events() {
        assert_eq!(
            Event::from_raw((1 << 16) | c_int::from(b'5')),
            Some(Event::PulseDigit(b'5'))
        );
        assert_eq!(
            Event::from_raw((1 << 17) | c_int::from(b'#')),
            Some(Event::DtmfDown(b'#'))
        );
        assert_eq!(
            Event::from_raw((1 << 18) | c_int::from(b'D')),
            Some(Event::DtmfUp(b'D'))
        );
        assert_eq!(Event::DtmfUp(b'*').to_raw(), 0x4_002A);
        assert_eq!(Event::PulseDigit(b'0').to_raw(), 0x1_0030);
    }

    #[test]
    fn unknown_values_are_kept() {
        for raw in [
            31,
            1000,
            -7,
            (1 << 16) | (1 << 17) | 0x31,
            (1 << 16) | 0x1_00,
        ] {
            assert_eq!(Event::from_raw(raw), Some(Event::Unknown(raw)), "{raw:#x}");
            assert_eq!(Event::Unknown(raw).to_raw(), raw);
        }
    }

    #[test]
    fn decoding_never_panics() {
        for raw in (-70_000..70_000).chain([i32::MIN, i32::MAX, 0x7_00FF, 0x4_00FF]) {
            if let Some(e) = Event::from_raw(raw) {
                assert_eq!(e.to_raw(), raw, "{raw:#x} round-trips");
            }
        }
    }
}
