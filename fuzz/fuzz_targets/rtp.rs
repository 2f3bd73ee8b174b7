//! The media stream's decoders of untrusted datagrams: arbitrary bytes into `Stream::handle_rtp`
//! and `Stream::handle_rtcp` (RTP headers via rtp-types, RTCP compounds via rtcp-types), from
//! the remote's address or a stranger's, with the channel's 20 ms tick in between.
//! Input: records of `[kind][len][len bytes]`; kind bit 0 picks RTCP, bit 1 the stranger's
//! address, bits 2-7 advance the clock by that many ms, then one tick runs.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use fxs::Law;
use libfuzzer_sys::fuzz_target;
use media::rtp::{Codec, Identity};
use media::stream::{Config, Stream};
use sansio::Core;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let remote: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
    let stranger: SocketAddr = "203.0.113.9:4000".parse().expect("addr");
    let config = Config {
        codec: Codec::Pcma,
        line: Law::Mulaw,
        telephone_event: Some(101),
        remote_rtp: remote,
        remote_rtcp: "192.0.2.1:4001".parse().expect("addr"),
        latch: true,
        remote_timeout: Duration::from_secs(1),
        wallclock: SystemTime::UNIX_EPOCH,
    };
    let mut s = Stream::with_identity(now, config, Identity::from_bytes([9; 30])).expect("stream");
    let mut rest = data;
    while rest.len() >= 2 {
        let kind = rest[0];
        let n = usize::from(rest[1]).min(rest.len() - 2);
        let bytes = &rest[2..2 + n];
        rest = &rest[2 + n..];
        let src = if kind & 2 == 0 { remote } else { stranger };
        if kind & 1 == 0 {
            s.handle_rtp(now, src, bytes);
        } else {
            s.handle_rtcp(now, src, bytes);
        }
        now += Duration::from_millis(u64::from(kind >> 2));
        s.handle_audio(now, &[0xd5; 160]);
        assert_eq!(s.pull_audio(now).len(), 160);
        s.handle_timeout(now);
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
    }
    s.close(now);
    assert!(s.poll_transmit().is_some());
});
