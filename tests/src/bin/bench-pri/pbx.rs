//! bench-pri's PBX: the isdn crate's [`Span`] on the network side of chand's sim D-channel with
//! basic calls on, in its own thread. It places calls when told, answers every call from chand
//! at once (CONNECT), clears calls when told, counts the lamps chand delivers (each
//! MWIActivate / MWIDeactivate the span answers with a ReturnResult, [`SpanEvent::PbxLamp`])
//! and reports what the bench measures: SETUP sent → CONNECT received.
//!
//! The sim D-channel has no line rate; with `line_rate` set the PBX models one for the frames
//! chand sends: each frame reaches the span once the line has carried it after the frames
//! before it ((octets + 2 FCS + 1 flag) × 8 bits at `line_rate`, bit stuffing left out), so
//! chand's Q.921 window (k = 7) paces its lamps as a 64 kbit/s D-channel would, and a call's
//! frame waits behind the frames already written to the line.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use chand::backend::sim::peer::Pbx;
use isdn::call::{CallConfig, CallEvent, CallRef, Interface, Number};
use isdn::q921::Side;
use isdn::q931::cause;
use isdn::span::{Span, SpanConfig, SpanEvent};
use sansio::Core;

use crate::Note;

/// The PBX's called and calling numbers of its calls to SIP.
const CALLED: &str = "0789";
const CALLING: &str = "2000";
/// Longest wait for a frame before commands and timers are looked at again.
const TICK: Duration = Duration::from_millis(1);

/// What the bench asks of the PBX.
pub enum Cmd {
    /// Place a call to SIP ([`CALLED`]) on a free B-channel.
    Place,
    /// Clear this call (DISCONNECT, cause 16).
    Drop(CallRef),
}

/// Frames from chand on their way over the modelled line: when each reaches the PBX.
struct Line {
    /// Bits per second; 0: no line model, every frame is there at once.
    rate: u64,
    /// When the line has carried the last frame written to it.
    free: Instant,
    frames: VecDeque<(Instant, Vec<u8>)>,
}

impl Line {
    /// `frame` written by chand at `now`.
    fn push(&mut self, now: Instant, frame: Vec<u8>) {
        let bits = (frame.len() as u64 + 3) * 8;
        let due = match (bits * 1_000_000_000).checked_div(self.rate) {
            Some(ns) => self.free.max(now) + Duration::from_nanos(ns),
            None => now,
        };
        self.free = due;
        self.frames.push_back((due, frame));
    }

    /// The next frame that has arrived by `now`.
    fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.frames.front().is_some_and(|(due, _)| *due <= now) {
            return self.frames.pop_front().map(|(_, f)| f);
        }
        None
    }

    /// When the next frame arrives.
    fn next(&self) -> Option<Instant> {
        self.frames.front().map(|(due, _)| *due)
    }
}

/// Runs the PBX on `socket` until `stop`: commands from `cmds`, reports to `notes`, lamps
/// delivered counted in `lamps`; chand's frames over a line of `line_rate` bits/s (0: none).
/// Errors: chand closed the D-channel.
pub fn run(
    socket: &Pbx,
    line_rate: u64,
    cmds: &Receiver<Cmd>,
    notes: &Sender<Note>,
    lamps: &AtomicUsize,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut cfg = SpanConfig::new(Side::Network);
    cfg.calls = Some(CallConfig::new(Side::Network, Interface::T1));
    let mut span = Span::new(cfg);
    // SETUP sent, by call, until its CONNECT.
    let mut placed: HashMap<CallRef, Instant> = HashMap::new();
    let mut line = Line {
        rate: line_rate,
        free: Instant::now(),
        frames: VecDeque::new(),
    };
    span.start(Instant::now());
    let mut out = Out { socket, notes };
    out.flush(&mut span, lamps, &mut placed)?;
    while !stop.load(Ordering::Relaxed) {
        while let Ok(cmd) = cmds.try_recv() {
            let now = Instant::now();
            match cmd {
                Cmd::Place => {
                    let called = Number::unknown(CALLED);
                    let calling = Number::unknown(CALLING);
                    let r = span
                        .with_calls(now, |cc| cc.place(now, &called, Some(&calling), None, None));
                    match r {
                        Some(Ok(call)) => {
                            out.flush(&mut span, lamps, &mut placed)?;
                            placed.insert(call, Instant::now());
                        }
                        Some(Err(e)) => {
                            let _ = notes.send(Note::PbxRefused(e.cause()));
                        }
                        None => return Err("the PBX span has no calls".into()),
                    }
                }
                Cmd::Drop(call) => {
                    // A call already gone is reported by its Released.
                    let _ =
                        span.with_calls(now, |cc| cc.disconnect(now, call, cause::NORMAL_CLEARING));
                }
            }
            out.flush(&mut span, lamps, &mut placed)?;
        }
        let now = Instant::now();
        let due = [span.poll_timeout(), line.next()]
            .into_iter()
            .flatten()
            .min();
        let wait = due.map_or(TICK, |t| t.saturating_duration_since(now).min(TICK));
        match socket.recv_frame(wait) {
            Ok(frame) => line.push(Instant::now(), frame),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(format!("PBX D-channel: {e}")),
        }
        let now = Instant::now();
        while let Some(frame) = line.pop(now) {
            span.handle_frame(now, &frame);
        }
        if span.poll_timeout().is_some_and(|t| t <= now) {
            span.handle_timeout(now);
        }
        out.flush(&mut span, lamps, &mut placed)?;
    }
    Ok(())
}

/// Where the span's output goes.
struct Out<'a> {
    socket: &'a Pbx,
    notes: &'a Sender<Note>,
}

impl Out<'_> {
    /// Sends the span's frames, counts its lamps, answers calls from chand and reports calls.
    fn flush(
        &mut self,
        span: &mut Span,
        lamps: &AtomicUsize,
        placed: &mut HashMap<CallRef, Instant>,
    ) -> Result<(), String> {
        loop {
            let mut progressed = false;
            while let Some(frame) = span.poll_transmit() {
                progressed = true;
                self.socket
                    .send_frame(&frame)
                    .map_err(|e| format!("PBX D-channel: {e}"))?;
            }
            while let Some(ev) = span.poll_event() {
                progressed = true;
                match ev {
                    SpanEvent::LinkUp => {
                        let _ = self.notes.send(Note::LinkUp);
                    }
                    SpanEvent::PbxLamp { .. } => {
                        lamps.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            while let Some(ev) = span.poll_call_event() {
                progressed = true;
                let now = Instant::now();
                match ev {
                    CallEvent::Incoming { call, .. } => {
                        // Answered at once; a call cleared meanwhile is reported by Released.
                        let _ = span.with_calls(now, |cc| cc.connect(now, call, None));
                    }
                    CallEvent::Connected { call, .. } if call.ours => {
                        if let Some(sent) = placed.remove(&call) {
                            let took = now - sent;
                            let _ = self.notes.send(Note::PbxConnected { call, took });
                        }
                    }
                    CallEvent::Released { call, cause } => {
                        placed.remove(&call);
                        let _ = self.notes.send(Note::PbxReleased { call, cause });
                    }
                    _ => {}
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(rate: u64, t0: Instant) -> Line {
        Line {
            rate,
            free: t0,
            frames: VecDeque::new(),
        }
    }

    #[test]
    fn frames_queue_behind_each_other_at_the_line_rate() {
        let t0 = Instant::now();
        let mut l = line(64_000, t0);
        // 5 octets + FCS + flag = 64 bits = 1 ms at 64 kbit/s.
        l.push(t0, vec![0; 5]);
        l.push(t0, vec![0; 5]);
        assert_eq!(l.next(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(l.pop(t0), None, "still on the line");
        assert!(l.pop(t0 + Duration::from_millis(1)).is_some());
        assert_eq!(
            l.next(),
            Some(t0 + Duration::from_millis(2)),
            "behind the first"
        );
        // A frame written after the line went idle takes its own time from then on.
        let later = t0 + Duration::from_millis(10);
        assert!(l.pop(later).is_some());
        l.push(later, vec![0; 5]);
        assert_eq!(l.next(), Some(later + Duration::from_millis(1)));
    }

    #[test]
    fn without_a_rate_a_frame_is_there_at_once() {
        let t0 = Instant::now();
        let mut l = line(0, t0);
        l.push(t0, vec![1, 2, 3]);
        assert_eq!(l.pop(t0), Some(vec![1, 2, 3]));
        assert_eq!(l.next(), None);
    }
}
