//! A fake chand for the call tests: chand's end of the call-control socket (it listens on
//! `<runtime_dir>/callctl.sock`, as chand does), driven by a real callctl `Link` of chand's
//! side. Used by the sipd call tests (tests/tests/sipd_calls.rs, sipd_trunk.rs,
//! calls_kamailio.rs).

use callctl::link::{Event, Link};
use callctl::wire::{Message as Ctl, Ports};
use callctl::{CallId, Digits, Privacy, Side, Text};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    bind, listen, recv, send, setsockopt, socket, sockopt, AddressFamily, Backlog, MsgFlags,
    SockFlag, SockType, UnixAddr,
};
use nix::sys::time::TimeVal;
use sansio::Core;
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// chand's end of the call-control socket, driven by a real callctl [`Link`].
pub struct FakeChand {
    _listener: OwnedFd,
    conn: OwnedFd,
    link: Link,
    got: VecDeque<Ctl>,
}

impl FakeChand {
    /// Listens in `runtime_dir` for a chand serving `port` and waits (10 s at most) for sipd to connect and say Hello.
    pub fn listen(runtime_dir: &Path, port: u16) -> Self {
        std::fs::create_dir_all(runtime_dir).expect("runtime dir");
        let path = runtime_dir.join(sipd::daemon::CALLCTL_SOCKET);
        let _ = std::fs::remove_file(&path);
        let l = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        bind(l.as_raw_fd(), &UnixAddr::new(&path).expect("path")).expect("bind");
        listen(&l, Backlog::new(1).expect("backlog")).expect("listen");
        let mut fds = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll");
        assert_eq!(n, 1, "sipd did not connect to {} in 10 s", path.display());
        let conn = rustix::net::accept(&l).expect("accept");
        setsockopt(&conn, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000)).expect("timeout");
        let ports = Ports::try_from(vec![port]).expect("ports");
        let link = Link::new(
            Instant::now(),
            Side::Chand,
            0xc4a2d,
            ports,
            Default::default(),
        );
        let mut c = Self {
            _listener: l,
            conn,
            link,
            got: VecDeque::new(),
        };
        c.flush();
        let end = Instant::now() + Duration::from_secs(10);
        while !c.link.peer_up() {
            assert!(Instant::now() < end, "no Hello from sipd");
            c.pump();
        }
        c
    }

    fn flush(&mut self) {
        while let Some(p) = self.link.poll_transmit() {
            send(self.conn.as_raw_fd(), &p, MsgFlags::MSG_NOSIGNAL).expect("send to sipd");
        }
    }

    /// One receive (100 ms at most), the link's timers, and what it sends.
    fn pump(&mut self) {
        let mut buf = [0u8; 4096];
        if let Ok(n) = recv(self.conn.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            if n > 0 {
                self.link.handle_packet(Instant::now(), &buf[..n]);
            }
        }
        self.link.handle_timeout(Instant::now());
        self.flush();
        while let Some(ev) = self.link.poll_event() {
            if let Event::Call(m) = ev {
                eprintln!("fake chand got {m:?}");
                self.got.push_back(m);
            }
        }
    }

    /// The first message sipd sends that `want` takes, within `secs`.
    pub fn expect<T>(&mut self, secs: u64, what: &str, want: impl Fn(&Ctl) -> Option<T>) -> T {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            while let Some(m) = self.got.pop_front() {
                if let Some(v) = want(&m) {
                    return v;
                }
            }
            assert!(Instant::now() < end, "fake chand: no {what} in {secs} s");
            self.pump();
        }
    }

    /// Answers incoming `call` as a phone (or the PBX) does (`Alerting`, `MediaReady` with
    /// `local_rtp`, 300 ms of ringing, `Answered`), then waits for sipd's `Connected` (the ACK
    /// came), 10 s. The ringing keeps the 180 ahead of the 200 through a proxy with several
    /// UDP workers.
    pub fn answer(&mut self, call: CallId, local_rtp: &str) {
        self.say(Ctl::Alerting { call });
        self.say(Ctl::MediaReady {
            call,
            local_rtp: local_rtp.parse().expect("addr"),
        });
        std::thread::sleep(Duration::from_millis(300));
        self.say(Ctl::Answered { call });
        self.expect(10, "Connected", |m| {
            matches!(m, Ctl::Connected { call: c, .. } if *c == call).then_some(())
        });
    }

    /// [`FakeChand::answer`], then waits for sipd's `Hangup` (the far end's BYE), 10 s.
    pub fn answer_until_hangup(&mut self, call: CallId, local_rtp: &str) {
        self.answer(call, local_rtp);
        self.expect(10, "Hangup", |m| {
            matches!(m, Ctl::Hangup { call: c, .. } if *c == call).then_some(())
        });
    }

    /// The next `TrunkIncoming` (10 s): its call id, span, called number, calling number and
    /// name, and privacy.
    pub fn trunk_incoming(&mut self) -> (CallId, u16, String, String, String, Privacy) {
        self.expect(10, "TrunkIncoming", |m| match m {
            Ctl::TrunkIncoming {
                call,
                span,
                called,
                number,
                name,
                privacy,
            } => Some((
                *call,
                *span,
                called.as_str().to_owned(),
                number.as_str().to_owned(),
                name.as_str().to_owned(),
                *privacy,
            )),
            _ => None,
        })
    }

    /// Sends `msg` to sipd over the link.
    pub fn say(&mut self, msg: Ctl) {
        self.link.send(Instant::now(), msg).expect("link send");
        self.flush();
    }

    /// A new call of chand's: `create(id)` (the call-creating message), then `MediaReady`
    /// with RTP on an unspecified address, as chand sends them.
    fn start(&mut self, create: impl FnOnce(CallId) -> Ctl) -> CallId {
        let call = self.link.new_call_id().expect("call id");
        self.say(create(call));
        self.say(Ctl::MediaReady {
            call,
            local_rtp: "0.0.0.0:20000".parse().expect("addr"),
        });
        call
    }

    /// `Dial` and `MediaReady` on `port`.
    pub fn dial(&mut self, port: u16, digits: &str) -> CallId {
        let digits = Digits::try_from(digits).expect("digits");
        self.start(|call| Ctl::Dial { call, port, digits })
    }

    /// `TrunkDial` (a SETUP from the PBX on `span` for `called`, from `number` and `name`)
    /// and `MediaReady`.
    pub fn trunk_dial(
        &mut self,
        span: u16,
        called: &str,
        (number, name, privacy): (&str, &str, Privacy),
    ) -> CallId {
        let called = Digits::try_from(called).expect("digits");
        let number = Text::try_from(number).expect("number");
        let name = Text::try_from(name).expect("name");
        self.start(|call| Ctl::TrunkDial {
            call,
            span,
            called,
            number,
            name,
            privacy,
        })
    }
}
