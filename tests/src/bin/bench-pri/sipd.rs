//! bench-pri's SIP side: the fake sipd (dahdi_mwi_tests::fakesipd) on chand's call-control
//! socket, in its own thread. A `TrunkDial` from chand is answered with `Connected` as soon as
//! its `MediaReady` is there too (a SIP far end answering at once); `TrunkIncoming` is sent when
//! the bench asks, and the time to chand's `Answered` reported.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use callctl::link::Event;
use callctl::wire::Message;
use callctl::{CallId, Cause, Privacy};
use dahdi_mwi_tests::fakesipd::{media, FakeSipd};
use sansio::Core;

use crate::Note;

/// Called number of the calls to the PBX (span 1's numbers).
const CALLED: &str = "2101";
const CALLING: &str = "5551234";
/// Longest wait for a packet before commands and timers are looked at again.
const TICK: Duration = Duration::from_millis(1);

/// What the bench asks of the SIP side.
pub enum Cmd {
    /// Send `TrunkIncoming` for span 1 on a new call id.
    Incoming,
    /// Clear this call (`Hangup`, cause 16).
    Hangup(CallId),
}

/// Runs the SIP side on `sipd` until `stop`; RTP of answered calls is pointed at `far` (the
/// bench does not carry audio). Errors: the call-control link refused a message.
pub fn run(
    sipd: &mut FakeSipd,
    far: SocketAddr,
    cmds: &Receiver<Cmd>,
    notes: &Sender<Note>,
    stop: &AtomicBool,
) -> Result<(), String> {
    // Calls from chand with one of TrunkDial and MediaReady seen: answered when the other comes.
    let mut half: HashSet<CallId> = HashSet::new();
    // TrunkIncoming sent, by call, until Answered.
    let mut sent: HashMap<CallId, Instant> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(cmd) = cmds.try_recv() {
            match cmd {
                Cmd::Incoming => {
                    let call = sipd
                        .link
                        .new_call_id()
                        .ok_or("the call-control link is full")?;
                    send(
                        sipd,
                        Message::TrunkIncoming {
                            call,
                            span: 1,
                            called: CALLED.try_into().map_err(|_| "called")?,
                            number: CALLING.try_into().map_err(|_| "calling")?,
                            name: "".try_into().map_err(|_| "name")?,
                            privacy: Privacy::Allowed,
                        },
                    )?;
                    sent.insert(call, Instant::now());
                }
                Cmd::Hangup(call) => send(
                    sipd,
                    Message::Hangup {
                        call,
                        cause: Cause::NORMAL_CLEARING,
                    },
                )?,
            }
        }
        if let Some(Event::Call(m)) = sipd.next(TICK) {
            let at = Instant::now();
            match m {
                Message::TrunkDial { call, .. } | Message::MediaReady { call, .. }
                    if call.0 & CallId::SIPD_BIT == 0 =>
                {
                    if half.remove(&call) {
                        send(sipd, connected(call, far))?;
                    } else {
                        half.insert(call);
                    }
                }
                Message::Answered { call } => {
                    if let Some(t0) = sent.remove(&call) {
                        let _ = notes.send(Note::SipAnswered {
                            call,
                            took: at - t0,
                        });
                        // The far end's media, as sipd sends once the 200 is ACKed.
                        send(sipd, connected(call, far))?;
                    }
                }
                Message::Hangup { call, cause } => {
                    half.remove(&call);
                    if sent.remove(&call).is_some() {
                        let _ = notes.send(Note::SipRefused {
                            call,
                            cause: cause.0,
                        });
                    }
                }
                _ => {}
            }
        }
        sipd.link.handle_timeout(Instant::now());
        sipd.flush();
    }
    Ok(())
}

fn connected(call: CallId, far: SocketAddr) -> Message {
    Message::Connected {
        call,
        media: media(far),
    }
}

fn send(sipd: &mut FakeSipd, msg: Message) -> Result<(), String> {
    sipd.link
        .send(Instant::now(), msg)
        .map_err(|e| format!("call-control link: {e:?}"))?;
    sipd.flush();
    Ok(())
}
