//! The span engine over a simulated 64 kbit/s D-channel (simulated time, no sockets): a resync
//! of thousands of lamps must never run into T303 when the link is healthy, and without the
//! pacing it would. The PBX answers every SETUP at once with RELEASE COMPLETE cause 69, as
//! libpri does. Prints the resync throughput as a fraction of the line-rate bound.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use isdn::q921::{self, Lapd, Side};
use isdn::q931::{cause, Cause, Location, Message, MessageType};
use isdn::span::{Lamp, Span, SpanConfig, SpanEvent};
use sansio::Core;

/// D-channel bit rate (PRI time slot 24 / 16).
const BITS_PER_SECOND: u64 = 64_000;
/// HDLC overhead per frame on the line: 2 FCS octets and one flag (flags shared between
/// back-to-back frames); bit stuffing is ignored.
const HDLC_OVERHEAD: usize = 3;

fn line_time(octets: usize) -> Duration {
    Duration::from_nanos(((octets + HDLC_OVERHEAD) as u64 * 8 * 1_000_000_000) / BITS_PER_SECOND)
}

/// One direction of the line: frames leave one after the other at line rate.
#[derive(Default)]
struct Direction {
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    free_at: Option<Instant>,
}

impl Direction {
    fn push(&mut self, now: Instant, frame: Vec<u8>) {
        let start = self.free_at.map_or(now, |t| t.max(now));
        let done = start + line_time(frame.len());
        self.free_at = Some(done);
        self.in_flight.push_back((done, frame));
    }

    fn next(&self) -> Option<Instant> {
        self.in_flight.front().map(|(t, _)| *t)
    }
}

struct Outcome {
    elapsed: Duration,
    failures: usize,
    our_octets: usize,
    our_frames: usize,
    our_line_time: Duration,
    setups: usize,
}

fn resync(numbers: usize, max_outstanding: usize) -> Outcome {
    let start = Instant::now();
    let mut now = start;
    let mut cfg = SpanConfig::new(Side::User);
    cfg.max_outstanding = max_outstanding;
    let mut span = Span::new(cfg);
    let mut pbx = Lapd::new(q921::Config::new(Side::Network));
    let mut up = Direction::default();
    let mut down = Direction::default();
    for n in 0..numbers {
        span.set_lamp(now, &format!("{}", 100_000 + n), Lamp::on(Some(1)));
    }
    span.start(now);
    pbx.start(now);
    let (mut failures, mut our_octets, mut our_frames, mut setups) = (0, 0, 0, 0);
    let mut our_line_time = Duration::ZERO;
    let mut link_up_at = None;
    let mut done_at = None;
    for _ in 0..10_000_000 {
        while let Some(f) = span.poll_transmit() {
            if link_up_at.is_some() {
                our_octets += f.len();
                our_frames += 1;
                our_line_time += line_time(f.len());
            }
            up.push(now, f);
        }
        while let Some(f) = pbx.poll_transmit() {
            down.push(now, f);
        }
        while let Some(ev) = span.poll_event() {
            match ev {
                SpanEvent::LinkUp => link_up_at = Some(now),
                SpanEvent::Failed { .. } => failures += 1,
                _ => {}
            }
        }
        while let Some(ev) = pbx.poll_event() {
            if let q921::Event::Data(m) = ev {
                let msg = Message::parse(&m).expect("our message parses");
                if msg.message_type == MessageType::Setup {
                    setups += 1;
                    let rc = Message::release_complete(
                        msg.call_reference.reply(),
                        Some(Cause::new(
                            Location::PrivateLocal,
                            cause::FACILITY_NOT_IMPLEMENTED,
                        )),
                    );
                    pbx.send(now, rc.to_vec()).expect("link up");
                }
            }
        }
        if link_up_at.is_some() && up.next().is_none() && span.status().queue_depth == 0 {
            done_at = Some(now);
            break;
        }
        let next = [
            span.poll_timeout(),
            pbx.poll_timeout(),
            up.next(),
            down.next(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("something is pending");
        now = now.max(next);
        while up.next().is_some_and(|t| t <= now) {
            if let Some((_, f)) = up.in_flight.pop_front() {
                pbx.handle_frame(now, &f);
            }
        }
        while down.next().is_some_and(|t| t <= now) {
            if let Some((_, f)) = down.in_flight.pop_front() {
                span.handle_frame(now, &f);
            }
        }
        span.handle_timeout(now);
        pbx.handle_timeout(now);
    }
    let done_at = done_at.expect("resync finished");
    Outcome {
        elapsed: done_at - link_up_at.expect("link came up"),
        failures,
        our_octets,
        our_frames,
        our_line_time,
        setups,
    }
}

#[test]
fn paced_resync_of_3000_lamps_never_hits_t303() {
    let o = resync(3000, SpanConfig::new(Side::User).max_outstanding);
    assert_eq!(o.failures, 0, "T303 fired on a healthy link");
    assert_eq!(o.setups, 3000, "exactly one SETUP per lamp");
    // The line-rate bound of the frames actually sent: each one back to back on the line.
    let bound = o.our_line_time;
    eprintln!(
        "figure: simulated 64 kbit/s resync of 3000 lamps: {:.1} MWI/s, {} frames / {} octets \
         sent, {:.1} octets per MWI, line-rate bound {:.2} s vs {:.2} s taken = {:.0}% of line rate",
        3000.0 / o.elapsed.as_secs_f64(),
        o.our_frames,
        o.our_octets,
        o.our_octets as f64 / 3000.0,
        bound.as_secs_f64(),
        o.elapsed.as_secs_f64(),
        100.0 * bound.as_secs_f64() / o.elapsed.as_secs_f64(),
    );
}

#[test]
fn unpaced_resync_would_hit_t303() {
    // Everything at once, as an unpaced sender would: SETUPs wait in the Q.921 queue for
    // longer than T303, so calls time out and have to be retried.
    let o = resync(1000, usize::MAX);
    assert!(
        o.failures > 0,
        "queueing 1000 SETUPs at once should exceed T303"
    );
}
