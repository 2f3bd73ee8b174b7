//! CPU time of one call's 20 ms media tick in chand's loop (issue 12: 240 calls ≤ 25 % of one
//! core): `handle_audio` (one RTP packet out), `handle_rtp` (one packet in), `pull_audio`,
//! `handle_timeout` and the polls of one `Stream`. Peers measured in the same run: `rtp-types`
//! alone (parse one 172-octet packet, build one), and a bare UDP relay moving one 172-octet
//! packet through the loopback (send_to + recv_from), the least a relay pays per packet.
#![allow(missing_docs)] // criterion_group! generates an undocumented public function
use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use fxs::Law;
use media::rtp::{Codec, Identity};
use media::stream::{Config, Stream};
use rtp_types::{RtpPacket, RtpPacketBuilder};
use sansio::Core;

const PEER: &str = "192.0.2.1:4000";

/// One call's stream and the peer's next packet, kept in sequence.
struct Tick {
    now: Instant,
    stream: Stream,
    packet: Vec<u8>,
    seq: u16,
    ts: u32,
    block: [u8; 160],
}

impl Tick {
    fn new(codec: Codec, line: Law) -> Self {
        let now = Instant::now();
        let config = Config {
            codec,
            line,
            telephone_event: Some(101),
            remote_rtp: PEER.parse().expect("addr"),
            remote_rtcp: "192.0.2.1:4001".parse().expect("addr"),
            latch: true,
            remote_timeout: Duration::from_secs(30),
            wallclock: SystemTime::now(),
        };
        let stream =
            Stream::with_identity(now, config, Identity::from_bytes([7; 30])).expect("stream");
        let payload: Vec<u8> = (0..160u8).map(|i| i.wrapping_mul(13)).collect();
        let packet = RtpPacketBuilder::<&[u8], &[u8]>::new()
            .payload_type(codec.payload_type())
            .ssrc(0x1234_5678)
            .payload(payload.as_slice())
            .write_vec()
            .expect("packet");
        Self {
            now,
            stream,
            packet,
            seq: 0,
            ts: 0,
            block: std::array::from_fn(|i| (i as u8).wrapping_mul(7)),
        }
    }

    /// One 20 ms tick of one call, as chand's loop runs it.
    fn run(&mut self, peer: SocketAddr) {
        self.now += Duration::from_millis(20);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        self.packet[2..4].copy_from_slice(&self.seq.to_be_bytes());
        self.packet[4..8].copy_from_slice(&self.ts.to_be_bytes());
        self.stream.handle_audio(self.now, &self.block);
        while let Some(t) = self.stream.poll_transmit() {
            black_box(t);
        }
        self.stream.handle_rtp(self.now, peer, &self.packet);
        black_box(self.stream.pull_audio(self.now));
        self.stream.handle_timeout(self.now);
        while let Some(e) = self.stream.poll_event() {
            black_box(e);
        }
    }
}

/// The `rtp-types` peer: parse one packet, build one.
fn rtp_types_only(packet: &[u8]) -> Vec<u8> {
    let p = RtpPacket::parse(packet).expect("parse");
    let out = RtpPacketBuilder::<&[u8], &[u8]>::new()
        .payload_type(p.payload_type())
        .sequence_number(p.sequence_number())
        .timestamp(p.timestamp())
        .ssrc(p.ssrc())
        .payload(p.payload())
        .write_vec_unchecked();
    out
}

/// The relay peer: one packet through the loopback.
struct Relay {
    tx: UdpSocket,
    rx: UdpSocket,
    to: SocketAddr,
    buf: [u8; 1500],
}

impl Relay {
    fn new() -> Self {
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        Self {
            tx,
            rx,
            to,
            buf: [0; 1500],
        }
    }

    fn run(&mut self, packet: &[u8]) {
        self.tx.send_to(packet, self.to).expect("send");
        let (n, _) = self.rx.recv_from(&mut self.buf).expect("recv");
        black_box(&self.buf[..n]);
    }
}

fn ticks(c: &mut Criterion) {
    let peer: SocketAddr = PEER.parse().expect("addr");
    let mut g = c.benchmark_group("media_tick");
    for (name, codec, line) in [
        ("pcmu_line_ulaw", Codec::Pcmu, Law::Mulaw),
        ("pcma_line_ulaw_transcoded", Codec::Pcma, Law::Mulaw),
    ] {
        let mut tick = Tick::new(codec, line);
        g.bench_function(name, |b| b.iter(|| tick.run(peer)));
    }
    let packet = Tick::new(Codec::Pcmu, Law::Mulaw).packet;
    g.bench_function("peer_rtp_types_parse_build", |b| {
        b.iter(|| black_box(rtp_types_only(black_box(&packet))))
    });
    let mut relay = Relay::new();
    g.bench_function("peer_udp_relay_172", |b| b.iter(|| relay.run(&packet)));
    g.finish();
    projection(peer, &packet);
}

/// Times the same loops directly and prints the projection for 240 calls and the ratios.
fn projection(peer: SocketAddr, packet: &[u8]) {
    const N: u32 = 200_000;
    let time = |f: &mut dyn FnMut()| {
        for _ in 0..N / 10 {
            f();
        }
        let t = Instant::now();
        for _ in 0..N {
            f();
        }
        t.elapsed() / N
    };
    let mut same = Tick::new(Codec::Pcmu, Law::Mulaw);
    let same = time(&mut || same.run(peer));
    let mut trans = Tick::new(Codec::Pcma, Law::Mulaw);
    let trans = time(&mut || trans.run(peer));
    let types = time(&mut || {
        black_box(rtp_types_only(black_box(packet)));
    });
    let mut relay = Relay::new();
    let relay = time(&mut || relay.run(packet));
    // 240 calls × 50 ticks per second.
    let share = |d: Duration| d.as_secs_f64() * 240.0 * 50.0 * 100.0;
    println!(
        "projection: one tick {same:?} (transcoding {trans:?}); 240 calls = {:.2} % of one core \
         ({:.2} % transcoding); peers: rtp-types parse+build {types:?} (tick = {:.1}x), \
         UDP relay of one 172-octet packet {relay:?} (tick = {:.2}x; a relay moves 2 per tick: \
         {:.2} % for 240 calls)",
        share(same),
        share(trans),
        same.as_secs_f64() / types.as_secs_f64(),
        same.as_secs_f64() / relay.as_secs_f64(),
        share(relay * 2),
    );
}

criterion_group!(benches, ticks);
criterion_main!(benches);
