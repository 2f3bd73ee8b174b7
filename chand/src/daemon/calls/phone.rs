//! The call state of one FXS port, sans-IO: hook changes, dialled digits, call-control
//! messages from sipd and time in; messages to sipd and what the port must do (tones, ringing,
//! media) out, as [`Out`]s in order. MWI is not here: a call never touches the lamp.
//!
//! - Off-hook while idle: digits are collected against the port's `dial_plan` (an MGCP digit
//!   map, RFC 3435 §2.1.5) or its `voicemail` pilot, which completes at once. A complete
//!   number becomes [`Out::Dial`]; no match, or no digit before the long timer, gives reorder.
//! - The call's progress from sipd: `Ringback` plays ringback, `EarlyMedia` and `Connected`
//!   start the media stream. On-hook sends `Hangup` with cause 16 (normal clearing).
//! - `Hangup` from sipd (or the link losing the call) while off-hook: busy for cause 17,
//!   reorder for any other, for [`FAILED_TONE`]; then the howler for [`HOWLER_TONE`] (the
//!   receiver was left off-hook, GR-506 permanent-signal treatment); then silence until on-hook.
//! - `Incoming` on an idle on-hook port rings it with caller ID and sends `Alerting`; a busy
//!   port answers `Hangup` with cause 17. Off-hook while ringing answers (`Answered`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use callctl::wire::Message;
use callctl::{CallId, Cause, Media, Privacy};
use fxs::digitmap::{DigitCollector, DigitMap, DigitMapEvent, DigitTiming};
use fxs::ring::{CallerId, Presentation};
use fxs::ToneKind;
use sansio::Core;

/// How long busy or reorder plays after a failed or ended call before the howler.
pub const FAILED_TONE: Duration = Duration::from_secs(30);
/// How long the howler plays before the line goes silent until on-hook.
pub const HOWLER_TONE: Duration = Duration::from_secs(60);

/// What the port must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// Send this message to sipd.
    Send(Message),
    /// The digits completed the dial plan: take a call id, bind the RTP pair, send `Dial` and
    /// `MediaReady`, and answer with [`PortCall::dialled`].
    Dial(String),
    /// Incoming call `call`: bind its RTP pair and send `MediaReady`.
    OpenMedia(CallId),
    /// Play this tone of the port's plan.
    Tone(ToneKind),
    /// Send silence.
    Silence,
    /// Run the call's media stream with `media`; the phone hears it.
    StartMedia(Media),
    /// Close the media stream and its sockets.
    StopMedia,
    /// Ring the port with the zone's cadence and this caller ID (`None`: none).
    Ring(Option<CallerId>),
    /// Stop ringing.
    StopRing,
}

/// Where the port's call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// On-hook, no call.
    Idle,
    /// Off-hook, collecting digits.
    Dialling,
    /// Our `Dial` is out, waiting for sipd.
    Proceeding,
    /// The far end is alerted (ringback, or early media).
    Ringback,
    /// An incoming call rings the port.
    Ringing,
    /// Answered; the media runs once sipd says `Connected`.
    Connected,
    /// The call ended or failed while off-hook: busy, reorder, howler, then silence.
    Failed,
}

/// The call state machine of one port.
pub struct PortCall {
    map: DigitMap,
    timing: DigitTiming,
    voicemail: Option<String>,
    caller_id: bool,
    phase: Phase,
    call: Option<CallId>,
    collector: Option<DigitCollector>,
    /// The number dialled, or the caller's number of an incoming call.
    number: String,
    /// When the call was answered.
    answered: Option<Instant>,
    /// The end of the current busy/reorder (then howler) or howler (then silence).
    tone_until: Option<Instant>,
    howling: bool,
    out: VecDeque<Out>,
}

impl PortCall {
    /// A port with its digit map, inter-digit timers, voice-mail pilot and whether it sends
    /// caller ID. The pilot is one more alternative of the map, so a dial plan that does not
    /// know its keys (e.g. `*` under the default `x.T`) still lets it through.
    pub fn new(
        map: DigitMap,
        timing: DigitTiming,
        voicemail: Option<String>,
        caller_id: bool,
    ) -> Self {
        let map = match voicemail.as_deref().map(str::parse::<DigitMap>) {
            Some(Ok(pilot)) => map.or(pilot),
            _ => map,
        };
        Self {
            map,
            timing,
            voicemail,
            caller_id,
            phase: Phase::Idle,
            call: None,
            collector: None,
            number: String::new(),
            answered: None,
            tone_until: None,
            howling: false,
            out: VecDeque::new(),
        }
    }

    /// Where the call is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The call on the port, if any.
    pub fn call(&self) -> Option<CallId> {
        self.call
    }

    /// The digits dialled so far while dialling, else the call's number (dialled, or the
    /// caller's).
    pub fn number(&self) -> &str {
        match &self.collector {
            Some(c) => c.digits(),
            None => &self.number,
        }
    }

    /// How long the call has been answered at `now`.
    pub fn duration(&self, now: Instant) -> Option<Duration> {
        self.answered.map(|t| now.saturating_duration_since(t))
    }

    /// The phone went off-hook at `now`.
    pub fn off_hook(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle => {
                self.phase = Phase::Dialling;
                self.collector = Some(DigitCollector::new(now, self.map.clone(), self.timing));
            }
            Phase::Ringing => {
                self.out.push_back(Out::StopRing);
                self.out.push_back(Out::Silence);
                if let Some(call) = self.call {
                    self.out.push_back(Out::Send(Message::Answered { call }));
                }
                self.phase = Phase::Connected;
                self.answered = Some(now);
            }
            _ => {}
        }
    }

    /// The phone went on-hook at `now`: a call in progress ends with cause 16.
    pub fn on_hook(&mut self) {
        if let Some(call) = self.call.take() {
            self.out.push_back(Out::StopMedia);
            self.out.push_back(Out::Send(Message::Hangup {
                call,
                cause: Cause::NORMAL_CLEARING,
            }));
        }
        self.reset();
    }

    /// A digit dialled at `now` (in-band DTMF or a pulse digit).
    pub fn digit(&mut self, now: Instant, digit: char) {
        let Some(c) = &mut self.collector else { return };
        if c.handle_digit(now, digit).is_err() {
            return;
        }
        if self.voicemail.as_deref() == Some(c.digits()) {
            let digits = c.digits().to_owned();
            self.dial(digits);
            return;
        }
        self.drain_collector(now);
    }

    /// The owner's answer to [`Out::Dial`]: the call's id, or the cause it could not be placed.
    pub fn dialled(&mut self, now: Instant, result: Result<CallId, Cause>) {
        if self.phase != Phase::Proceeding || self.call.is_some() {
            return;
        }
        match result {
            Ok(call) => self.call = Some(call),
            Err(cause) => self.fail(now, cause),
        }
    }

    /// A call message from sipd about this port's call (or a new `Incoming` for it), at `now`.
    pub fn message(&mut self, now: Instant, msg: Message) {
        match msg {
            Message::Incoming {
                call,
                number,
                name,
                privacy,
                ..
            } => {
                if self.phase != Phase::Idle {
                    self.out.push_back(Out::Send(Message::Hangup {
                        call,
                        cause: Cause::USER_BUSY,
                    }));
                    return;
                }
                self.call = Some(call);
                self.phase = Phase::Ringing;
                self.number = match privacy {
                    Privacy::Allowed => number.as_str().to_owned(),
                    _ => String::new(),
                };
                self.out.push_back(Out::OpenMedia(call));
                let cid = self.caller_id.then(|| caller_id(&number, &name, privacy));
                self.out.push_back(Out::Ring(cid));
                self.out.push_back(Out::Send(Message::Alerting { call }));
            }
            _ if msg.call() != self.call || self.call.is_none() => {}
            Message::Ringback { .. } if self.phase == Phase::Proceeding => {
                self.phase = Phase::Ringback;
                self.out.push_back(Out::Tone(ToneKind::Ringback));
            }
            Message::EarlyMedia { media, .. }
                if matches!(self.phase, Phase::Proceeding | Phase::Ringback) =>
            {
                self.phase = Phase::Ringback;
                self.out.push_back(Out::StartMedia(media));
            }
            Message::Connected { media, .. } | Message::Modify { media, .. }
                if matches!(
                    self.phase,
                    Phase::Proceeding | Phase::Ringback | Phase::Connected
                ) =>
            {
                self.phase = Phase::Connected;
                self.answered.get_or_insert(now);
                self.out.push_back(Out::StartMedia(media));
            }
            Message::Hangup { cause, .. } => self.ended(now, cause),
            Message::Error { .. } => self.ended(now, Cause::TEMPORARY_FAILURE),
            _ => {}
        }
    }

    /// The link lost the port's call (sipd restarted or went away) at `now`.
    pub fn lost(&mut self, now: Instant) {
        self.ended(now, Cause::TEMPORARY_FAILURE);
    }

    fn ended(&mut self, now: Instant, cause: Cause) {
        if self.call.take().is_none() {
            return;
        }
        self.out.push_back(Out::StopMedia);
        if self.phase == Phase::Ringing {
            self.out.push_back(Out::StopRing);
            self.reset();
        } else {
            self.fail(now, cause);
        }
    }

    /// The call failed or ended while off-hook: busy for cause 17, reorder otherwise.
    fn fail(&mut self, now: Instant, cause: Cause) {
        self.reset();
        self.phase = Phase::Failed;
        let tone = if cause == Cause::USER_BUSY {
            ToneKind::Busy
        } else {
            ToneKind::Reorder
        };
        self.out.push_back(Out::Tone(tone));
        self.tone_until = Some(now + FAILED_TONE);
    }

    fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.call = None;
        self.collector = None;
        self.number.clear();
        self.answered = None;
        self.tone_until = None;
        self.howling = false;
    }

    fn dial(&mut self, digits: String) {
        self.collector = None;
        self.number.clone_from(&digits);
        self.phase = Phase::Proceeding;
        self.out.push_back(Out::Silence);
        self.out.push_back(Out::Dial(digits));
    }

    fn drain_collector(&mut self, now: Instant) {
        let Some(ev) = self.collector.as_mut().and_then(|c| c.poll_event()) else {
            return;
        };
        match ev {
            DigitMapEvent::Complete { digits } => self.dial(digits),
            DigitMapEvent::NoMatch { .. } => self.fail(now, Cause::UNALLOCATED_NUMBER),
            DigitMapEvent::Timeout => self.fail(now, Cause::INVALID_NUMBER_FORMAT),
        }
    }

    /// The next thing to do, in order.
    pub fn poll(&mut self) -> Option<Out> {
        self.out.pop_front()
    }
}

/// The caller ID of an `Incoming`: number and name, or why they are absent (GR-30 "P"/"O").
fn caller_id(number: &callctl::Text, name: &callctl::Text, privacy: Privacy) -> CallerId {
    let shown = |t: &callctl::Text| match privacy {
        Privacy::Allowed if !t.as_str().is_empty() => Presentation::Available(t.as_str().into()),
        Privacy::Restricted => Presentation::Private,
        _ => Presentation::OutOfArea,
    };
    CallerId {
        time: None,
        number: shown(number),
        name: (!name.as_str().is_empty() || privacy != Privacy::Allowed).then(|| shown(name)),
    }
}

impl PortCall {
    /// Run the digit timers and the failed-call tones due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(c) = &mut self.collector {
            c.handle_timeout(now);
            self.drain_collector(now);
        }
        if self.tone_until.is_some_and(|t| t <= now) {
            if self.howling {
                self.tone_until = None;
                self.out.push_back(Out::Silence);
            } else {
                self.howling = true;
                self.tone_until = Some(now + HOWLER_TONE);
                self.out.push_back(Out::Tone(ToneKind::Howler));
            }
        }
    }

    /// When [`PortCall::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let digit = self.collector.as_ref().and_then(|c| c.poll_timeout());
        match (digit, self.tone_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> PortCall {
        let map = "(*xx|[2-9]xxx|x.T)".parse().unwrap();
        PortCall::new(map, DigitTiming::default(), Some("*98".into()), true)
    }

    fn outs(p: &mut PortCall) -> Vec<Out> {
        std::iter::from_fn(|| p.poll()).collect()
    }

    #[test]
    fn the_pilot_dials_under_a_plan_that_does_not_know_its_keys() {
        let now = Instant::now();
        let map = "x.T".parse().unwrap();
        let mut p = PortCall::new(map, DigitTiming::default(), Some("*98".into()), true);
        p.off_hook(now);
        for d in "*98".chars() {
            p.digit(now, d);
        }
        assert!(
            outs(&mut p).contains(&Out::Dial("*98".into())),
            "the pilot under x.T"
        );
    }

    #[test]
    fn digits_dial_then_ringback_connected_and_on_hook_hangs_up() {
        let t = Instant::now();
        let mut p = port();
        p.off_hook(t);
        for d in "200".chars() {
            p.digit(t, d);
        }
        assert!(outs(&mut p).is_empty());
        p.digit(t, '1');
        // 2001 completes [2-9]xxx but may still grow as x.T: the short timer decides.
        assert!(outs(&mut p).is_empty());
        p.handle_timeout(t + DigitTiming::default().short);
        assert_eq!(outs(&mut p), [Out::Silence, Out::Dial("2001".into())]);
        let call = CallId(3);
        p.dialled(t, Ok(call));
        p.message(t, Message::Ringback { call });
        assert_eq!(outs(&mut p), [Out::Tone(ToneKind::Ringback)]);
        p.on_hook();
        let hangup = Message::Hangup {
            call,
            cause: Cause::NORMAL_CLEARING,
        };
        assert_eq!(outs(&mut p), [Out::StopMedia, Out::Send(hangup)]);
        assert_eq!(p.phase(), Phase::Idle);
    }

    #[test]
    fn the_pilot_dials_at_once_and_busy_then_howler_then_silence() {
        let t = Instant::now();
        let mut p = port();
        p.off_hook(t);
        for d in "*98".chars() {
            p.digit(t, d);
        }
        assert_eq!(outs(&mut p), [Out::Silence, Out::Dial("*98".into())]);
        let call = CallId(1);
        p.dialled(t, Ok(call));
        p.message(
            t,
            Message::Hangup {
                call,
                cause: Cause::USER_BUSY,
            },
        );
        assert_eq!(outs(&mut p), [Out::StopMedia, Out::Tone(ToneKind::Busy)]);
        let t1 = t + FAILED_TONE;
        assert_eq!(p.poll_timeout(), Some(t1));
        p.handle_timeout(t1);
        assert_eq!(outs(&mut p), [Out::Tone(ToneKind::Howler)]);
        p.handle_timeout(t1 + HOWLER_TONE);
        assert_eq!(outs(&mut p), [Out::Silence]);
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn no_digit_and_failed_dial_give_reorder() {
        let t = Instant::now();
        let mut p = port();
        p.off_hook(t);
        p.handle_timeout(t + DigitTiming::default().long);
        assert_eq!(outs(&mut p), [Out::Tone(ToneKind::Reorder)]);
        p.on_hook();
        p.off_hook(t);
        for d in "*12".chars() {
            p.digit(t, d);
        }
        assert_eq!(outs(&mut p), [Out::Silence, Out::Dial("*12".into())]);
        p.dialled(t, Err(Cause::NETWORK_OUT_OF_ORDER));
        assert_eq!(outs(&mut p), [Out::Tone(ToneKind::Reorder)]);
    }

    #[test]
    fn incoming_rings_answers_and_a_busy_port_refuses() {
        let t = Instant::now();
        let mut p = port();
        let call = CallId(CallId::SIPD_BIT | 1);
        let incoming = |call| Message::Incoming {
            call,
            port: 1,
            number: "5551234".try_into().unwrap(),
            name: "ALICE".try_into().unwrap(),
            privacy: Privacy::Allowed,
        };
        p.message(t, incoming(call));
        let o = outs(&mut p);
        assert_eq!(o[0], Out::OpenMedia(call));
        assert!(
            matches!(&o[1], Out::Ring(Some(c)) if c.number == Presentation::Available("5551234".into()))
        );
        assert_eq!(o[2], Out::Send(Message::Alerting { call }));
        let other = CallId(CallId::SIPD_BIT | 2);
        p.message(t, incoming(other));
        let busy = Message::Hangup {
            call: other,
            cause: Cause::USER_BUSY,
        };
        assert_eq!(outs(&mut p), [Out::Send(busy)]);
        p.off_hook(t);
        let answered = Message::Answered { call };
        assert_eq!(
            outs(&mut p),
            [Out::StopRing, Out::Silence, Out::Send(answered)]
        );
        p.lost(t);
        assert_eq!(outs(&mut p), [Out::StopMedia, Out::Tone(ToneKind::Reorder)]);
    }
}
