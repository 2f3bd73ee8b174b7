//! Marked audio for measuring chand's media path (bench-calls, vm-netem): every 20 ms block a
//! sim phone sends and every RTP packet a far end sends carries its number in µ-law codes,
//! found again on the other side. chand passes µ-law through untouched on a µ-law line (no
//! transcoding), so the codes survive; their arrival times give the delay each way, the
//! packets never heard and the 20 ms blocks the jitter buffer made up. Also the calls around
//! them: chand with sim FXS ports and a fake sipd ([`start_chand`]) that connects incoming
//! calls ([`connect_calls`]) and keeps its link alive ([`serve`]).

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use callctl::link::Event;
use callctl::wire::Message;
use callctl::{CallId, Privacy, Text};
use chand::backend::sim::peer::Phone;
use sansio::Core;

use crate::env::{Chand, Env};
use crate::fakesipd::{calls_config, echo_packet, media, FakeSipd, WAIT};

/// The two codes opening a marker, then the block number in three codes of 6 bits each.
/// µ-law codes 0x20..=0x5f decode and encode back to themselves (no ±0 ambiguity).
const MARK: [u8; 2] = [0x3a, 0x5c];
/// The code around the markers (a quiet µ-law sample).
pub const FILL: u8 = 0x7e;
/// Offsets of the markers in a block or payload: two, so that one of them never straddles the
/// boundary of chand's 20 ms frames, whatever their alignment to the phone's blocks.
const MARK_AT: [usize; 2] = [0, 80];

/// A block of 160 µ-law codes (20 ms) marked with `n` (0..2^18) at [`MARK_AT`].
pub fn marked(n: usize) -> Vec<u8> {
    let mut b = vec![FILL; 160];
    for at in MARK_AT {
        b[at..at + 2].copy_from_slice(&MARK);
        for (i, shift) in [12, 6, 0].into_iter().enumerate() {
            b[at + 2 + i] = 0x20 + ((n >> shift) & 0x3f) as u8;
        }
    }
    b
}

/// The block numbers marked in `codes` (µ-law).
pub fn marks(codes: &[u8]) -> Vec<usize> {
    codes
        .windows(5)
        .filter(|w| w[..2] == MARK && w[2..].iter().all(|c| (0x20..0x60).contains(c)))
        .map(|w| w[2..].iter().fold(0, |n, c| n << 6 | usize::from(c - 0x20)))
        .collect()
}

/// One RTP packet (RFC 3550 §5.1): PCMU, `ssrc`, sequence `n` (mod 2^16), timestamp 160 `n`,
/// payload [`marked`]`(n)`.
pub fn rtp(ssrc: u32, n: usize) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&(n as u16).to_be_bytes());
    p.extend_from_slice(&((n as u32).wrapping_mul(160)).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(marked(n));
    p
}

/// When each marker was sent and first received; 20 ms per marker.
pub struct Marks {
    sent: Vec<Option<Instant>>,
    got: Vec<Option<Instant>>,
    /// Blocks, between the first and the last that brought a new marker, that brought none:
    /// 20 ms the receiver made up (loss concealment, or a deeper play-out buffer).
    pub made_up: usize,
    /// Blocks without a new marker since the last that had one.
    pending: usize,
}

impl Marks {
    /// Room for markers `0..n`, behind a mutex (sender and receiver are different threads).
    pub fn new(n: usize) -> Mutex<Self> {
        Mutex::new(Self {
            sent: vec![None; n],
            got: vec![None; n],
            made_up: 0,
            pending: 0,
        })
    }

    /// Marker `n` is being sent now.
    pub fn sent(m: &Mutex<Self>, n: usize) {
        if let Some(s) = m.lock().expect("marks").sent.get_mut(n) {
            *s = Some(Instant::now());
        }
    }

    /// A block or payload arrived at `at` carrying `codes`.
    pub fn got(m: &Mutex<Self>, at: Instant, codes: &[u8]) {
        let mut m = m.lock().expect("marks");
        let mut new = false;
        for n in marks(codes) {
            if let Some(g @ None) = m.got.get_mut(n) {
                *g = Some(at);
                new = true;
            }
        }
        let started = m.got.iter().any(Option::is_some);
        if new {
            m.made_up += m.pending;
            m.pending = 0;
        } else if started {
            m.pending += 1;
        }
    }

    /// Delays (ms, sorted) of the markers sent and received, skipping the first `warmup`.
    pub fn delays(&self, warmup: usize) -> Vec<f64> {
        let mut d: Vec<f64> = self
            .sent
            .iter()
            .zip(&self.got)
            .skip(warmup)
            .filter_map(|(s, g)| Some(g.as_ref()?.duration_since(*s.as_ref()?).as_secs_f64() * 1e3))
            .collect();
        d.sort_by(f64::total_cmp);
        d
    }
}

/// The `p` quantile (0..=1) of `sorted` (nearest rank); NaN when empty.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What a phone heard of an impaired stream of marked packets: the jitter buffer's figures.
pub struct Heard {
    /// Packet in (sent by the far end) → heard at the phone, p50 and p99, ms.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// Markers heard (after the warm-up).
    pub heard: usize,
    /// Packets that reached chand but were never heard (late: dropped by its jitter buffer).
    pub never: usize,
    /// 20 ms blocks the phone got with no new marker ([`Marks::made_up`]).
    pub made_up: usize,
}

impl Heard {
    /// The figures of `m`, skipping the first `warmup` markers, when `delivered` packets after
    /// the warm-up reached chand.
    pub fn of(m: &Marks, warmup: usize, delivered: usize) -> Self {
        let d = m.delays(warmup);
        Self {
            p50_ms: pct(&d, 0.5),
            p99_ms: pct(&d, 0.99),
            heard: d.len(),
            never: delivered.saturating_sub(d.len()),
            made_up: m.made_up,
        }
    }
}

impl fmt::Display for Heard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "packet in -> heard p50 {:.1} ms, p99 {:.1} ms ({} heard); delivered but never \
             heard (late, dropped by chand) {}; 20 ms blocks made up (concealed, or buffer \
             grown) {}",
            self.p50_ms, self.p99_ms, self.heard, self.never, self.made_up
        )
    }
}

/// The incoming calls `1..=phones.len()` (call ids SIPD_BIT | port) answered: each port
/// rings, its phone goes off-hook, and chand's RTP goes to `far(port)`. Returns each call's
/// local RTP port, in port order.
///
/// Errors: a call that did not ring and get answered within 4 × [`WAIT`], or that chand hung
/// up.
pub fn connect_calls(
    sipd: &mut FakeSipd,
    phones: &[Phone],
    far: impl Fn(u16) -> SocketAddr,
) -> Result<Vec<u16>, String> {
    let n = phones.len();
    let id = |port: u16| CallId(CallId::SIPD_BIT | u32::from(port));
    for port in 1..=n as u16 {
        sipd.send(Message::Incoming {
            call: id(port),
            port,
            number: Text::try_from("5551234").map_err(|e| format!("{e:?}"))?,
            name: Text::try_from("BENCH").map_err(|e| format!("{e:?}"))?,
            privacy: Privacy::Allowed,
        });
    }
    let mut local = vec![0u16; n];
    let (mut alerting, mut answered) = (0, 0);
    let deadline = Instant::now() + WAIT * 4;
    while answered < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{alerting} of {n} calls rang, {answered} answered"));
        }
        let Some(Event::Call(m)) = sipd.next(left) else {
            continue;
        };
        match m {
            Message::MediaReady { call, local_rtp } => {
                local[(call.0 & !CallId::SIPD_BIT) as usize - 1] = local_rtp.port();
            }
            Message::Alerting { call } => {
                alerting += 1;
                let port = (call.0 & !CallId::SIPD_BIT) as usize;
                phones[port - 1]
                    .off_hook()
                    .map_err(|e| format!("phone {port}: {e}"))?;
            }
            Message::Answered { call } => {
                answered += 1;
                let port = (call.0 & !CallId::SIPD_BIT) as u16;
                sipd.send(Message::Connected {
                    call,
                    media: media(far(port)),
                });
            }
            Message::Hangup { call, cause } => {
                return Err(format!("chand hung up {call}: {cause:?}"));
            }
            _ => {}
        }
    }
    Ok(local)
}

/// The phone's side of a call until `stop`: a block every 20 ms (`block(n)`), and every block
/// received handed to `heard` with its arrival time.
pub fn phone_loop(
    phone: &Phone,
    stop: &AtomicBool,
    block: impl Fn(usize) -> Vec<u8>,
    mut heard: impl FnMut(Instant, &[u8]),
) {
    let mut n = 0;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next {
            let _ = phone.send_audio(&block(n));
            n += 1;
            next += Duration::from_millis(20);
            continue;
        }
        if let Ok(b) = phone.recv_audio(next - now) {
            heard(Instant::now(), &b);
        }
    }
}

/// [`phone_loop`] on the phone's own clock only: every 20 ms it sends `block(n)` and takes what
/// chand queued without waiting, as a DAHDI channel's driver does, so no thread sleeps on the
/// socket for chand's writes to wake (CPU figures, where a woken reader's cost falls on chand).
pub fn phone_clocked(phone: &Phone, stop: &AtomicBool, block: impl Fn(usize) -> Vec<u8>) {
    let mut n = 0;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let _ = phone.send_audio(&block(n));
        phone.drain();
        n += 1;
        next += Duration::from_millis(20);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Echo every RTP packet on `sock` back to its source every 2 ms without waiting on the
/// socket in between, as a remote host's echo costs the sender no wake-up (RFC 4733 events
/// kept in `events`); see [`phone_clocked`].
pub fn echo_clocked(sock: &UdpSocket, events: &Mutex<Vec<Vec<u8>>>, stop: &AtomicBool) {
    sock.set_nonblocking(true)
        .expect("non-blocking echo socket");
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        while let Ok((n, src)) = sock.recv_from(&mut buf) {
            echo_packet(sock, &buf[..n], src, events);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Keep the fake sipd's link alive (its pings, chand's answers) until `stop`: chand ends
/// every call when sipd stays silent for 3 keep-alive intervals.
pub fn serve(sipd: &mut FakeSipd, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let _ = sipd.next(Duration::from_millis(200));
        sipd.link.handle_timeout(Instant::now());
        sipd.flush();
    }
}

/// chand (`bin`, run by the command line `launcher` when not empty, e.g. `ip netns exec NS`)
/// with FXS ports on channels `1..=channels` (numbers 800N, RTP in `rtp_ports`), a sim phone on
/// each, and a fake sipd linked to it.
pub fn start_chand(
    env: &Env,
    bin: &Path,
    launcher: &[&str],
    rtp_ports: &str,
    channels: u32,
) -> (Chand, Vec<Phone>, FakeSipd) {
    let chans: Vec<u32> = (1..=channels).collect();
    let cfg = env.write_config(&calls_config(rtp_ports, &chans));
    let chand = Chand::start_via(bin, launcher, env, &cfg);
    let phones = chans
        .iter()
        .map(|&c| Phone::connect(&env.sim_dir, c, WAIT).expect("sim phone"))
        .collect();
    let mut sipd = FakeSipd::connect(&env.runtime_dir.join("callctl.sock"));
    sipd.wait_up();
    (chand, phones, sipd)
}

/// An installation whose chand logs only warnings (a debug log costs time on every packet).
pub fn quiet_env() -> Env {
    let mut env = Env::new();
    env.log_level = "warn";
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_survives_any_20_ms_window_of_the_stream() {
        let stream: Vec<u8> = (1000..1003).flat_map(marked).collect();
        for start in 0..160 {
            let window = &stream[160 + start..320 + start];
            let found = marks(window);
            assert!(!found.is_empty(), "no marker at offset {start}");
            assert!(found.iter().all(|n| (1001..=1002).contains(n)), "{found:?}");
        }
        assert_eq!(marks(&[FILL; 160]), Vec::<usize>::new());
    }

    #[test]
    fn rtp_carries_the_number_in_header_and_payload() {
        let p = rtp(0x1234_5678, 70_000);
        assert_eq!(p.len(), 12 + 160);
        assert_eq!(&p[..2], &[0x80, 0]);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 70_000u32 as u16);
        assert_eq!(u32::from_be_bytes([p[4], p[5], p[6], p[7]]), 70_000 * 160);
        assert_eq!(&p[8..12], &0x1234_5678u32.to_be_bytes());
        assert_eq!(marks(&p[12..]), vec![70_000, 70_000]);
    }

    #[test]
    fn heard_counts_late_and_made_up_blocks() {
        let m = Marks::new(4);
        let t0 = Instant::now();
        for n in 0..4 {
            Marks::sent(&m, n);
        }
        Marks::got(&m, t0, &marked(0));
        Marks::got(&m, t0, &[FILL; 160]);
        Marks::got(&m, t0, &marked(2));
        let h = Heard::of(&m.lock().unwrap(), 0, 4);
        assert_eq!((h.heard, h.never, h.made_up), (2, 2, 1));
    }
}
