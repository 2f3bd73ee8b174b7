//! The receive side of a [`Stream`]: who may send to us (the latching rule of the module
//! documentation, RFC 4961) and what an RTP or RTCP datagram does to the stream.

use super::*;

impl Stream {
    /// An RTP datagram from `src`, received at `now`.
    pub fn handle_rtp(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        if self.closed {
            return;
        }
        let Ok(packet) = RtpPacket::parse(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let pt = packet.payload_type();
        let audio = pt == self.config.codec.payload_type();
        if !audio && Some(pt) != self.config.telephone_event {
            self.stats.wrong_pt += 1;
            return;
        }
        let payload = packet.payload();
        if payload.is_empty() || payload.len() > MAX_PAYLOAD {
            self.stats.malformed += 1;
            return;
        }
        if !self.accept(now, src, packet.ssrc(), packet.sequence_number()) {
            return;
        }
        self.stats.packets_received += 1;
        self.stats.octets_received += payload.len() as u64;
        self.timers
            .set(Timer::Silence, now + self.config.remote_timeout);
        if audio {
            match &self.from_wire {
                None => self.jitter.handle_packet(now, packet.timestamp(), payload),
                Some(t) => {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(payload);
                    t.apply(&mut self.scratch);
                    self.jitter
                        .handle_packet(now, packet.timestamp(), &self.scratch);
                }
            }
        } else {
            match Payload::parse(payload) {
                Ok(p) => self.receiver.handle_packet(now, packet.timestamp(), p),
                Err(_) => self.stats.malformed += 1,
            }
            self.drain_receiver();
        }
    }

    /// Whether a packet of `ssrc` numbered `seq` from `src` is taken; latches and counts.
    fn accept(&mut self, now: Instant, src: SocketAddr, ssrc: u32, seq: u16) -> bool {
        if src != self.remote_rtp {
            let known = match &self.remote {
                None => self.learn(src, ssrc, seq),
                Some(r) => r.ssrc == ssrc && r.seq.follows(seq),
            };
            if !(self.config.latch && known) {
                self.stats.wrong_source += 1;
                return false;
            }
            self.remote_rtp = src;
            self.push_event(Event::Latched {
                socket: Socket::Rtp,
                addr: src,
            });
        }
        match &mut self.remote {
            Some(r) if r.ssrc == ssrc => {
                if r.seq.update(seq) == Seq::Jump {
                    self.stats.wrong_ssrc += 1;
                    return false;
                }
                r.last = now;
            }
            Some(r) if now.saturating_duration_since(r.last) < SSRC_SWITCH => {
                self.stats.wrong_ssrc += 1;
                return false;
            }
            _ => {
                self.remote = Some(Remote {
                    ssrc,
                    seq: Sequence::new(seq),
                    last: now,
                });
                self.lsr = None;
            }
        }
        true
    }

    /// Count a packet from `src`, not the SDP's address, before any remote SSRC is known:
    /// whether it is the [`LATCH_PACKETS`]th in a row from `src` with `ssrc` and consecutive
    /// sequence numbers.
    fn learn(&mut self, src: SocketAddr, ssrc: u32, seq: u16) -> bool {
        let count = match self.candidate {
            Some((a, s, last, n)) if a == src && s == ssrc && last.wrapping_add(1) == seq => n + 1,
            _ => 1,
        };
        self.candidate = Some((src, ssrc, seq, count));
        count >= LATCH_PACKETS
    }

    /// An RTCP compound from `src`, received at `now`: the peer's reports about us give the
    /// round-trip time; its SR is echoed in our next report; a BYE of its source ends it.
    pub fn handle_rtcp(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        if self.closed {
            return;
        }
        let Ok(report) = rtcp::parse(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let remote = self.remote.as_ref().map(|r| r.ssrc);
        if remote.is_some_and(|ssrc| ssrc != report.sender) {
            self.stats.wrong_ssrc += 1;
            return;
        }
        if src != self.remote_rtcp {
            // Only a compound of the source already heard on RTP may move RTCP.
            if !(self.config.latch && remote.is_some()) {
                self.stats.wrong_source += 1;
                return;
            }
            self.remote_rtcp = src;
            self.push_event(Event::Latched {
                socket: Socket::Rtcp,
                addr: src,
            });
        }
        self.stats.rtcp_received += 1;
        if let Some(ntp) = report.sr_ntp {
            self.lsr = Some((rtcp::middle(ntp), now));
        }
        let arrival = rtcp::middle(self.ntp(now));
        for b in report.blocks.iter().filter(|b| b.ssrc == self.id.ssrc) {
            self.stats.remote_fraction_lost = Some(b.fraction_lost);
            self.stats.remote_jitter = Some(Duration::from_micros(u64::from(b.jitter) * 125));
            if let Some(rtt) = rtcp::round_trip(arrival, b.lsr, b.dlsr) {
                self.stats.rtt = Some(rtt);
            }
        }
        if report.bye.contains(&report.sender) {
            self.push_event(Event::RemoteGone(Gone::Bye));
        }
    }
}
