//! The sim back-end end to end: a fake phone and a fake PBX on the sockets, chand's side driven
//! by a mio loop as the daemon drives it.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use chand::backend::sim::peer::{Pbx, Phone, ToPhone};
use chand::backend::sim::{dchan_socket_path, fxs_socket_path, SimBackend};
use chand::backend::{Backend, DChannel, DChannelEvent, FxsChannel, RingCommand};
use fxs::{LineEvent, BLOCK_MS, BLOCK_SAMPLES};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use mwi_core::config::Config;

const WAIT: Duration = Duration::from_secs(5);

/// A mio loop over one channel's fd, as chand's event loop registers it.
struct Loop {
    poll: Poll,
    events: Events,
}

impl Loop {
    fn new(fd: &impl AsRawFd) -> Self {
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut SourceFd(&fd.as_raw_fd()), Token(0), Interest::READABLE)
            .unwrap();
        Self {
            poll,
            events: Events::with_capacity(8),
        }
    }

    /// Wait for readiness, at most `timeout`; whether the fd turned readable.
    fn wait(&mut self, timeout: Duration) -> bool {
        self.poll.poll(&mut self.events, Some(timeout)).unwrap();
        !self.events.is_empty()
    }

    /// The next event of `next` (a channel's `poll_event`), waiting on the fd between tries.
    fn next<T>(&mut self, mut next: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(ev) = next() {
                return ev;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no event within {WAIT:?}");
            self.wait(left);
        }
    }

    /// Assert the channel has nothing more and its fd stays quiet (no busy loop).
    fn quiet<T: std::fmt::Debug>(&mut self, mut next: impl FnMut() -> Option<T>) {
        assert_eq!(next().map(|e| format!("{e:?}")), None);
        assert!(
            !self.wait(Duration::from_millis(50)),
            "fd readable with nothing to read"
        );
    }
}

fn fxs_event(l: &mut Loop, ch: &mut impl FxsChannel) -> LineEvent {
    l.next(|| ch.poll_event().unwrap())
}

fn dchan_event(l: &mut Loop, ch: &mut impl DChannel) -> DChannelEvent {
    l.next(|| ch.poll_event().unwrap())
}

fn event(phone: &Phone) -> String {
    phone.recv_event(WAIT).unwrap()
}

#[test]
fn phone_events_reach_chand() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimBackend::new(dir.path()).unwrap();
    let mut fxs = sim.fxs(2).unwrap();
    assert_eq!(fxs.path(), fxs_socket_path(dir.path(), 2));
    let mut l = Loop::new(&fxs);
    l.quiet(|| fxs.poll_event().unwrap());

    let phone = Phone::connect(dir.path(), 2, WAIT).unwrap();
    phone.off_hook().unwrap();
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::OffHook);
    phone.digit('5').unwrap();
    phone.digit('#').unwrap();
    phone.flash().unwrap();
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::Digit('5'));
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::Digit('#'));
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::Flash);
    // Nonsense and repeated hook states are dropped, as DAHDI never reports them.
    phone.send_event("dance").unwrap();
    phone.off_hook().unwrap();
    phone.on_hook().unwrap();
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::OnHook);
    phone.flash().unwrap();
    phone.off_hook().unwrap();
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::OffHook);
    l.quiet(|| fxs.poll_event().unwrap());
    // The phone heard a gap: reported as DAHDI reports a write underrun.
    phone.underrun().unwrap();
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::WriteUnderrun);

    // Unplugging an off-hook phone hangs up; the next phone is accepted.
    drop(phone);
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::OnHook);
    let phone = Phone::connect(dir.path(), 2, WAIT).unwrap();
    phone.off_hook().unwrap();
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::OffHook);
}

#[test]
fn audio_blocks_flow_at_the_callers_pace() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimBackend::new(dir.path()).unwrap();
    let mut fxs = sim.fxs(1).unwrap();
    let mut l = Loop::new(&fxs);
    assert!(
        !fxs.write_audio(&[0xff; BLOCK_SAMPLES]).unwrap(),
        "no phone yet"
    );
    let phone = Phone::connect(dir.path(), 1, WAIT).unwrap();
    phone.off_hook().unwrap();
    assert_eq!(fxs_event(&mut l, &mut fxs), LineEvent::OffHook);

    // The caller's 20 ms timer: one block per tick.
    const BLOCKS: u8 = 10;
    let start = Instant::now();
    for i in 0..BLOCKS {
        let tick = start + Duration::from_millis(BLOCK_MS * u64::from(i));
        std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        assert!(fxs.write_audio(&[i; BLOCK_SAMPLES]).unwrap());
    }
    for i in 0..BLOCKS {
        assert_eq!(
            phone.recv(WAIT).unwrap(),
            ToPhone::Audio(vec![i; BLOCK_SAMPLES])
        );
    }
    // Lower bound only: the blocks cannot arrive faster than they were paced.
    assert!(start.elapsed() >= Duration::from_millis(BLOCK_MS * u64::from(BLOCKS - 1)));
}

#[test]
fn lamp_and_ring_reach_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimBackend::new(dir.path()).unwrap();
    let mut fxs = sim.fxs(3).unwrap();
    let mut l = Loop::new(&fxs);
    let phone = Phone::connect(dir.path(), 3, WAIT).unwrap();
    l.quiet(|| fxs.poll_event().unwrap()); // accepts the phone
    fxs.set_vmwi(3).unwrap();
    assert_eq!(event(&phone), "vmwi 3");
    fxs.set_vmwi(0).unwrap();
    assert_eq!(event(&phone), "vmwi 0");
    fxs.ring(RingCommand::Ring).unwrap();
    assert_eq!(event(&phone), "ring");
    fxs.ring(RingCommand::RingOff).unwrap();
    assert_eq!(event(&phone), "ringoff");

    // The line keeps its state: a phone plugged in later sees the lamp and the ringing.
    fxs.set_vmwi(2).unwrap();
    fxs.ring(RingCommand::Ring).unwrap();
    drop(phone);
    l.quiet(|| fxs.poll_event().unwrap());
    let phone = Phone::connect(dir.path(), 3, WAIT).unwrap();
    l.quiet(|| fxs.poll_event().unwrap());
    assert_eq!(event(&phone), "vmwi 2");
    assert_eq!(event(&phone), "ring");
}

#[test]
fn frames_flow_both_ways_and_disconnect_is_link_down() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimBackend::new(dir.path()).unwrap();
    let mut d = sim.dchannel(24).unwrap();
    assert_eq!(d.path(), dchan_socket_path(dir.path(), 24));
    let mut l = Loop::new(&d);
    assert!(!d.send_frame(&[0x00, 0x01, 0x7f]).unwrap(), "no PBX yet");

    let pbx = Pbx::connect(dir.path(), 24, WAIT).unwrap();
    assert_eq!(dchan_event(&mut l, &mut d), DChannelEvent::LinkUp);
    // SABME from the PBX (SAPI 0, TEI 0), UA back (Q.921 §5.5.1).
    pbx.send_frame(&[0x00, 0x01, 0x7f]).unwrap();
    assert_eq!(
        dchan_event(&mut l, &mut d),
        DChannelEvent::Frame(vec![0x00, 0x01, 0x7f])
    );
    assert!(d.send_frame(&[0x00, 0x01, 0x73]).unwrap());
    assert_eq!(pbx.recv_frame(WAIT).unwrap(), [0x00, 0x01, 0x73]);
    let info: Vec<u8> = (0..=255).collect();
    pbx.send_frame(&info).unwrap();
    assert_eq!(
        dchan_event(&mut l, &mut d),
        DChannelEvent::Frame(info.clone())
    );
    assert!(d.send_frame(&info).unwrap());
    assert_eq!(pbx.recv_frame(WAIT).unwrap(), info);
    // A frame no HDLC channel could carry is dropped, not truncated.
    pbx.send_frame(&[0x7e; 5000]).unwrap();
    l.quiet(|| d.poll_event().unwrap());

    // One PBX at a time: a second one waits until the first leaves.
    let second = Pbx::connect(dir.path(), 24, WAIT).unwrap();
    l.quiet(|| d.poll_event().unwrap());
    drop(pbx);
    assert_eq!(dchan_event(&mut l, &mut d), DChannelEvent::LinkDown);
    assert_eq!(dchan_event(&mut l, &mut d), DChannelEvent::LinkUp);
    second.send_frame(&[0x02, 0x01, 0x01, 0x01]).unwrap();
    assert_eq!(
        dchan_event(&mut l, &mut d),
        DChannelEvent::Frame(vec![0x02, 0x01, 0x01, 0x01])
    );

    drop(second);
    assert_eq!(dchan_event(&mut l, &mut d), DChannelEvent::LinkDown);
    l.quiet(|| d.poll_event().unwrap());
    assert!(!d.send_frame(&[0x00, 0x01, 0x7f]).unwrap(), "link down");
    let again = Pbx::connect(dir.path(), 24, WAIT).unwrap();
    assert_eq!(dchan_event(&mut l, &mut d), DChannelEvent::LinkUp);
    assert!(d.send_frame(&[0x00, 0x01, 0x7f]).unwrap());
    assert_eq!(again.recv_frame(WAIT).unwrap(), [0x00, 0x01, 0x7f]);
}

#[test]
fn backend_opens_the_configured_channels() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[mwi_server]\nserver = \"ipv4:127.0.0.1\"\n\
         [dahdi]\nbackend = \"sim\"\nsim_dir = \"{}\"\n\
         [[fxs]]\nchannel = 1\nnumber = \"8000\"\n\
         [[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n",
        dir.path().join("sim").display()
    );
    let config = Config::from_str(&text, "test.toml").unwrap();
    let sim_dir: &Path = &config.dahdi.sim_dir;
    let mut sim = SimBackend::new(sim_dir).unwrap();
    let mut fxs = sim.open_fxs(&config.fxs[0]).unwrap();
    let mut d = sim.open_dchannel(&config.pri[0]).unwrap();
    assert!(fxs_socket_path(sim_dir, 1).exists() && dchan_socket_path(sim_dir, 24).exists());

    let mut lf = Loop::new(&fxs.as_raw_fd());
    let mut ld = Loop::new(&d.as_raw_fd());
    let phone = Phone::connect(sim_dir, 1, WAIT).unwrap();
    let pbx = Pbx::connect(sim_dir, 24, WAIT).unwrap();
    phone.off_hook().unwrap();
    assert_eq!(lf.next(|| fxs.poll_event().unwrap()), LineEvent::OffHook);
    assert_eq!(ld.next(|| d.poll_event().unwrap()), DChannelEvent::LinkUp);
    fxs.set_vmwi(1).unwrap();
    assert_eq!(event(&phone), "vmwi 1");
    drop(pbx);
    assert_eq!(ld.next(|| d.poll_event().unwrap()), DChannelEvent::LinkDown);

    // Closing a channel removes its socket; a stale file from a crash is replaced on open.
    drop(fxs);
    assert!(!fxs_socket_path(sim_dir, 1).exists());
    drop(d);
    std::fs::write(dchan_socket_path(sim_dir, 24), b"stale").unwrap();
    let _d = sim.open_dchannel(&config.pri[0]).unwrap();
    Pbx::connect(sim_dir, 24, WAIT).unwrap();
}
