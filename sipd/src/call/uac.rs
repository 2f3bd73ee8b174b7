//! Outgoing calls: chand's `Dial` (a port) or `TrunkDial` (the PBX) and `MediaReady` become an
//! INVITE to `[sip.proxy]` (RFC 3261 §13.2), with our SDP offer (RFC 3264 §5).
//!
//! 100: nothing; 180 without SDP: `Ringback`; 18x with SDP: `EarlyMedia`; 2xx: ACK
//! (§13.2.2.4, its own request, sent again for each retransmitted 2xx) and `Connected`;
//! 401/407: the INVITE once more with digest (§22.2); another final response: ACK in the
//! transaction (§17.1.1.3) and `Hangup` with the RFC 3398 §7.2.4.1 cause; Timer B: `Hangup`
//! with cause 102. chand's `Hangup`: CANCEL before the final response (§9.1), BYE after 2xx.

use super::dialog::Far;
use super::dialog::{party, rand_u32};
use super::{Call, CallId, Calls, Credentials, Direction, Line, State, Timer};
use crate::digest::Challenge;
use crate::sdp::{self, Local};
use crate::transaction::Transmit;
use crate::ua::Dest;
use crate::wire::{self, addr_uri, escape_user, quote, split_list, without_tag, Message};
use callctl::wire::Message as Ctl;
use callctl::{Cause, Digits, ErrorCode, Privacy, Text};
use mwi_config::Transport;
use sansio::Instant;
use std::net::SocketAddr;

/// Q.850 cause 3, no route to destination: no `[sip.proxy]` to send the call to.
const NO_ROUTE: Cause = Cause(3);

/// What an outgoing call is, from `Dial` (a port) or `TrunkDial` (the PBX).
struct Outgoing {
    line: Line,
    /// The Request-URI user: the digits dialled, or the PBX's called number.
    called: String,
    /// The From user (also in Contact); empty for an anonymous From (RFC 3323 §4.1.1.3).
    user: String,
    /// The From display name, possibly empty.
    name: String,
    /// The caller withheld its identity.
    private: bool,
    auth: Option<Credentials>,
}

impl Calls {
    pub(super) fn dial(&mut self, now: Instant, id: CallId, port: u16, digits: &str) {
        let Some(p) = self.cfg.ports.iter().find(|p| p.channel == port).cloned() else {
            log::warn!("calls: Dial {id} on port {port}, which is no [[fxs]] channel");
            return self.unknown_line(now, id);
        };
        let out = Outgoing {
            line: Line::Port(port),
            called: digits.to_owned(),
            user: p.number,
            name: String::new(),
            private: false,
            auth: p.auth,
        };
        self.start_uac(now, id, out);
    }

    /// `TrunkDial`: a SETUP from the PBX on `span` becomes an INVITE for `called`, From the
    /// calling number (the `[sip.auth]` username when the PBX gave none) with the calling
    /// name as display name; a restricted presentation gives the anonymous From of RFC 3323
    /// §4.1.1.3 and `Privacy: id`. Trunk calls share the FXS calls' table: a full one gives
    /// cause 42 (switching equipment congestion), as for a `Dial`.
    pub(super) fn trunk_dial(
        &mut self,
        now: Instant,
        id: CallId,
        span: u16,
        called: &Digits,
        (number, name, privacy): (Text, Text, Privacy),
    ) {
        if !self.cfg.trunks.iter().any(|t| t.span == span && t.calls) {
            log::warn!(
                span = span;
                "calls: TrunkDial {id} on span {span}, which is no [[pri]] span with [pri.calls]"
            );
            return self.unknown_line(now, id);
        }
        let private = privacy == Privacy::Restricted;
        let account = self.cfg.auth.as_ref().map(|a| a.0.clone());
        let user = match (private, number.as_str()) {
            (true, _) => String::new(),
            (false, "") => account.unwrap_or_default(),
            (false, n) => n.to_owned(),
        };
        let out = Outgoing {
            line: Line::Span(span),
            called: called.as_str().to_owned(),
            user,
            name: if private {
                String::new()
            } else {
                name.as_str().to_owned()
            },
            private,
            auth: self.cfg.auth.clone(),
        };
        self.start_uac(now, id, out);
    }

    /// A `Dial` or `TrunkDial` for a port or span sipd does not serve: chand hears
    /// `Error{UnknownPort}`, which ends the call on both sides.
    fn unknown_line(&mut self, now: Instant, id: CallId) {
        let code = ErrorCode::UnknownPort;
        let _ = self.link.send(now, Ctl::Error { call: id, code });
    }

    /// An outgoing call waiting for `MediaReady`.
    fn start_uac(&mut self, now: Instant, id: CallId, out: Outgoing) {
        let what = match out.line {
            Line::Port(ch) => format!("channel {ch}"),
            Line::Span(span) => format!("span {span}"),
        };
        let called = &out.called;
        let Some((host, pport, transport)) = self.cfg.proxy.clone() else {
            log::warn!("calls: {what} dialled {called}, but no [sip.proxy] is configured");
            return self.hangup_chand(now, id, NO_ROUTE);
        };
        let Some(&addr) = self.proxy_addrs.first() else {
            log::warn!("calls: {what}: [sip.proxy] {host} not resolved yet");
            return self.hangup_chand(now, id, Cause::TEMPORARY_FAILURE);
        };
        if self.calls.len() >= self.cfg.max_calls {
            log::warn!("calls: {what}: {} calls run already", self.calls.len());
            return self.hangup_chand(now, id, Cause::CONGESTION);
        }
        let user = escape_user(called);
        let t = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        let local = self.local_addr(transport);
        let display = if out.name.is_empty() {
            String::new()
        } else {
            format!("{} ", quote(&out.name))
        };
        // The AoR of the line: its number at the proxy's domain (RFC 3261 §10.2); an anonymous
        // caller gets RFC 3323 §4.1.1.3's From.
        let local_uri = if out.user.is_empty() {
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_owned()
        } else {
            format!("{display}<sip:{}@{host}>", escape_user(&out.user))
        };
        let call = Call {
            id,
            line: out.line,
            user: if out.user.is_empty() {
                "anonymous".to_owned()
            } else {
                escape_user(&out.user)
            },
            auth: out.auth,
            calling: out.user.clone(),
            private: out.private,
            answered_by: None,
            direction: Direction::Outgoing,
            state: State::Waiting,
            started: now,
            dest: Dest { addr, transport },
            call_id: format!("{}@{}", wire::secret_token(20), local.ip()),
            local_tag: wire::secret_token(10),
            remote_tag: None,
            local_uri,
            remote_uri: format!("<sip:{user}@{host}>"),
            remote_target: format!("sip:{user}@{host}:{pport}{t}"),
            called: out.called,
            route: Vec::new(),
            local_cseq: 1,
            local: None,
            media: None,
            invite: None,
            authorized: false,
            cancel_pending: false,
            ack: None,
            request: None,
            answered: false,
            response: None,
            interval: self.t1(),
        };
        call.note(format_args!("dialled {}", call.called));
        self.by_sip.insert(call.call_id.clone(), id);
        self.calls.insert(id, call);
        self.timers.set((id, Timer::Give), now + self.t1() * 64);
    }

    /// chand's RTP address: the offer of an outgoing call, the answer of an incoming one.
    /// An unspecified address becomes the one SIP is sent from.
    pub(super) fn media_ready(&mut self, now: Instant, id: CallId, rtp: SocketAddr) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let mut rtp = rtp;
        if rtp.ip().is_unspecified() {
            rtp.set_ip(self.local_addr(c.dest.transport).ip());
        }
        if c.direction == Direction::Incoming {
            return self.set_local_media(now, id, rtp);
        }
        if c.state != State::Waiting {
            return;
        }
        let contact = self.contact(&c.user, c.dest.transport);
        let via = self.via(c.dest.transport);
        let local = Local::new(rtp, self.cfg.codecs.clone(), u64::from(rand_u32()));
        let mut req = Message::request("INVITE", &c.remote_target);
        req.push("Via", via);
        req.push("Max-Forwards", "70");
        req.push("From", format!("{};tag={}", c.local_uri, c.local_tag));
        req.push("To", c.remote_uri.clone());
        req.push("Call-ID", c.call_id.clone());
        req.push("CSeq", format!("{} INVITE", c.local_cseq));
        req.push("Contact", contact);
        req.push("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY");
        req.push("User-Agent", self.cfg.user_agent.clone());
        if c.private {
            req.push("Privacy", "id");
        }
        req.push("Content-Type", "application/sdp");
        req.body = sdp::offer(&local, callctl::Direction::SendRecv);
        if let Some(c) = self.calls.get_mut(&id) {
            c.local = Some(local);
        }
        self.send_invite(now, id, req);
    }

    /// Sends (or sends again, authorized) the INVITE; Timer A on UDP, Timer B.
    fn send_invite(&mut self, now: Instant, id: CallId, req: Message) {
        let t1 = self.t1();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.state = State::Calling;
        c.interval = t1;
        let dest = c.dest;
        c.invite = Some(req.clone());
        if dest.transport == Transport::Udp {
            self.timers.set((id, Timer::Retransmit), now + t1);
        }
        self.timers.set((id, Timer::Give), now + t1 * 64);
        self.send_sip(dest, &req);
    }

    /// Timer A: the INVITE again, the interval doubling (RFC 3261 §17.1.1.2).
    pub(super) fn retransmit_invite(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(req) = c.invite.as_ref().filter(|_| c.state == State::Calling) else {
            return;
        };
        c.interval *= 2;
        let t = Transmit {
            dest: c.dest,
            bytes: req.to_bytes(),
        };
        self.timers.set((id, Timer::Retransmit), now + c.interval);
        self.out.push_back(t);
    }

    /// Timer B (no final response), or the limit of `Waiting` and `Cancelling`.
    pub(super) fn timer_b(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        c.note(format_args!("no final response in time ({:?})", c.state));
        match c.state {
            State::Proceeding => {
                self.hangup_chand(now, id, Cause::NO_ANSWER);
                self.send_cancel(now, id);
            }
            _ => {
                self.hangup_chand(now, id, Cause::TIMER_EXPIRY);
                self.remove(id);
            }
        }
    }

    /// chand hung up an outgoing call.
    pub(super) fn uac_hangup(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match c.state {
            State::Calling => c.cancel_pending = true,
            State::Proceeding => self.send_cancel(now, id),
            State::Confirmed => self.send_bye(now, id),
            _ => {}
        }
    }

    /// CANCEL of our INVITE (RFC 3261 §9.1): its Request-URI, Call-ID, From, To, CSeq number
    /// and topmost Via; the INVITE's 487 then ends the call.
    fn send_cancel(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(inv) = &c.invite else {
            return;
        };
        let mut req = Message::request("CANCEL", inv.uri().unwrap_or_default());
        for name in ["Via", "Route", "From", "To", "Call-ID"] {
            for v in inv.headers(name) {
                req.push(name, v.to_owned());
            }
        }
        req.push("Max-Forwards", "70");
        req.push("CSeq", format!("{} CANCEL", c.local_cseq));
        c.state = State::Cancelling;
        c.note(format_args!("CANCEL sent"));
        let dest = c.dest;
        let reliable = dest.transport == Transport::Tcp;
        if let Some(key) = self.tx.send_request(now, &req, dest, reliable) {
            self.pending.insert(key, id);
        }
        self.queue_tx();
        self.timers.cancel((id, Timer::Retransmit));
        self.timers.set((id, Timer::Give), now + self.t1() * 64);
    }

    /// A response to one of our INVITEs.
    pub(super) fn on_invite_response(&mut self, now: Instant, rsp: Message) {
        let Some(&id) = rsp.call_id().and_then(|cid| self.by_sip.get(cid)) else {
            log::debug!("calls: INVITE response matches no call; dropped");
            return;
        };
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let current = c.invite.as_ref().and_then(Message::cseq).map(|(n, _)| n);
        if c.direction != Direction::Outgoing || rsp.cseq().map(|(n, _)| n) != current {
            return;
        }
        let code = rsp.code().unwrap_or(0);
        if matches!(c.state, State::Confirmed | State::Ending) {
            if (200..300).contains(&code) && rsp.to_tag() != c.remote_tag.as_deref() {
                return self.end_fork(now, id, &rsp);
            }
            // A retransmitted final response: the same ACK again (§13.2.2.4, §17.1.1.2).
            if let Some(bytes) = c.ack.clone() {
                let dest = c.dest;
                self.out.push_back(Transmit { dest, bytes });
            }
            return;
        }
        match code {
            100..=199 => self.provisional(now, id, code, &rsp),
            200..=299 => self.success(now, id, &rsp),
            _ => self.failure(now, id, code, &rsp),
        }
    }

    fn provisional(&mut self, now: Instant, id: CallId, code: u16, rsp: &Message) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.state == State::Calling {
            c.state = State::Proceeding;
            self.timers.cancel((id, Timer::Retransmit));
            // Timer B ends with the first provisional; the far end rings at most this long.
            let ring = sansio::Duration::from_millis(self.cfg.ring_timeout);
            self.timers.set((id, Timer::Give), now + ring);
        }
        if std::mem::take(&mut c.cancel_pending) {
            return self.send_cancel(now, id);
        }
        if c.state != State::Proceeding || code == 100 {
            return;
        }
        let early = c
            .local
            .as_ref()
            .filter(|_| !rsp.body.is_empty())
            .map(|l| sdp::process_answer(&rsp.body, l));
        match early {
            Some(Ok(media)) => self.tell(now, Ctl::EarlyMedia { call: id, media }),
            Some(Err(e)) => c.note(format_args!("early SDP not taken: {e}")),
            None if code == 180 => self.tell(now, Ctl::Ringback { call: id }),
            None => {}
        }
    }

    /// 2xx: the dialog is confirmed (RFC 3261 §12.1.2), ACKed, and connected (or ended with
    /// BYE when chand hung up meanwhile or the answer is unusable).
    fn success(&mut self, now: Instant, id: CallId, rsp: &Message) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        self.timers.cancel((id, Timer::Retransmit));
        self.timers.cancel((id, Timer::Give));
        c.remote_tag = rsp.to_tag().map(str::to_owned);
        if let Some(contact) = rsp.header("Contact") {
            c.remote_target = addr_uri(contact).to_owned();
        }
        let mut route: Vec<String> = rsp
            .headers("Record-Route")
            .flat_map(split_list)
            .map(str::to_owned)
            .collect();
        route.reverse();
        c.route = route;
        let hung_up = c.state == State::Cancelling || c.cancel_pending;
        c.state = State::Confirmed;
        let answer = c.local.as_ref().map(|l| sdp::process_answer(&rsp.body, l));
        if let Some((ack, dest)) = self.in_dialog(id, "ACK") {
            let bytes = ack.to_bytes();
            if let Some(c) = self.calls.get_mut(&id) {
                c.ack = Some(bytes.clone());
            }
            self.out.push_back(Transmit { dest, bytes });
        }
        match answer {
            _ if hung_up => self.send_bye(now, id),
            Some(Ok(media)) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.media = Some(media);
                    c.note(format_args!("connected"));
                }
                // RFC 3325 §9.1: who answered, for the PBX's connectedName (ECMA-164).
                if let Some(who) = rsp.header("P-Asserted-Identity") {
                    let (number, name) = party(who);
                    self.tell(
                        now,
                        Ctl::Identity {
                            call: id,
                            number,
                            name,
                        },
                    );
                }
                self.tell(now, Ctl::Connected { call: id, media });
            }
            Some(Err(e)) => {
                if let Some(c) = self.calls.get(&id) {
                    c.log(log::Level::Warn, format_args!("answer not taken: {e}; BYE"));
                }
                self.hangup_chand(now, id, Cause::BEARER_NOT_IMPLEMENTED);
                self.send_bye(now, id);
            }
            None => self.send_bye(now, id),
        }
    }

    /// A 2xx of a second dialog (the INVITE forked, RFC 3261 §13.2.2.4): ACKed, then ended
    /// with BYE; the call keeps its first dialog.
    fn end_fork(&mut self, now: Instant, id: CallId, rsp: &Message) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let Some((cseq, _)) = c.invite.as_ref().and_then(Message::cseq) else {
            return;
        };
        let target = rsp
            .header("Contact")
            .map_or(c.remote_target.as_str(), addr_uri);
        let mut route: Vec<String> = rsp
            .headers("Record-Route")
            .flat_map(split_list)
            .map(str::to_owned)
            .collect();
        route.reverse();
        let far = Far {
            target,
            tag: rsp.to_tag(),
            route: &route,
            cseq,
        };
        let ack = self.request_to(c, "ACK", &far);
        let bye = self.request_to(
            c,
            "BYE",
            &Far {
                cseq: cseq + 1,
                ..far
            },
        );
        c.note(format_args!(
            "2xx of a second dialog (forked INVITE): ACK and BYE"
        ));
        let dest = c.dest;
        self.send_sip(dest, &ack);
        let _ = self
            .tx
            .send_request(now, &bye, dest, dest.transport == Transport::Tcp);
        self.queue_tx();
    }

    /// 3xx-6xx: ACK in the INVITE transaction (RFC 3261 §17.1.1.3); 401/407 once more with
    /// digest; otherwise chand hears why.
    fn failure(&mut self, now: Instant, id: CallId, code: u16, rsp: &Message) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(inv) = c.invite.clone() else {
            return;
        };
        let mut ack = Message::request("ACK", inv.uri().unwrap_or_default());
        if let Some(v) = inv.top_via() {
            ack.push("Via", v.to_owned());
        }
        for r in inv.headers("Route") {
            ack.push("Route", r.to_owned());
        }
        ack.push("Max-Forwards", "70");
        ack.push("From", inv.header("From").unwrap_or_default().to_owned());
        ack.push("To", rsp.header("To").unwrap_or_default().to_owned());
        ack.push("Call-ID", c.call_id.clone());
        ack.push("CSeq", format!("{} ACK", c.local_cseq));
        let bytes = ack.to_bytes();
        c.ack = Some(bytes.clone());
        self.out.push_back(Transmit {
            dest: c.dest,
            bytes,
        });
        let cancelled = c.state == State::Cancelling || c.cancel_pending;
        if matches!(code, 401 | 407) && !c.authorized && !cancelled {
            if let Some(req) = self.authorized(id, code, rsp, &inv) {
                return self.send_invite(now, id, req);
            }
        }
        if let Some(c) = self.calls.get(&id) {
            c.note(format_args!("{code} from the far end"));
        }
        if !cancelled {
            self.hangup_chand(now, id, Cause::from_sip_status(code));
        }
        self.linger(now, id);
    }

    /// The INVITE again with CSeq + 1, a new branch and the answer to the challenge, when the
    /// port has credentials for it.
    fn authorized(
        &mut self,
        id: CallId,
        code: u16,
        rsp: &Message,
        inv: &Message,
    ) -> Option<Message> {
        let header = if code == 407 {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let c = self.calls.get(&id)?;
        let Some((user, pass, realm)) = c.auth.clone() else {
            c.note(format_args!("{code} but no [fxs.auth] or [sip.auth]"));
            return None;
        };
        let ch = rsp.headers(header).find_map(|v| {
            Challenge::parse(v)
                .ok()
                .filter(|ch| realm.as_ref().map_or(true, |r| *r == ch.realm))
        })?;
        let via = self.via(c.dest.transport);
        let c = self.calls.get_mut(&id)?;
        c.authorized = true;
        c.local_cseq += 1;
        let mut req = inv.clone();
        req.set("Via", via);
        req.set("CSeq", format!("{} INVITE", c.local_cseq));
        req.set("To", without_tag(inv.header("To").unwrap_or_default()));
        let uri = inv.uri().unwrap_or_default();
        let value = ch.answer(&user, &pass, "INVITE", uri, 1, &wire::secret_token(16));
        let name = if code == 407 {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        req.set(name, value);
        Some(req)
    }
}
