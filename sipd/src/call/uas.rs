//! Incoming calls: an INVITE for a port's number or a PRI span's (RFC 3261 §13.3), answered
//! for chand.
//!
//! 100 at once; `Incoming` (a port) or `TrunkIncoming` (a span) to chand; 180 on `Alerting`; 200 with the SDP answer (RFC 3264
//! §6) on `Answered` once `MediaReady` gave our address, resent on Timer G until the ACK,
//! which connects the call; chand's `Hangup` before that becomes the RFC 3398 §8.2.6.1
//! response. A re-INVITE in the dialog is answered and becomes `Modify`.

use super::dialog::{party, rand_u32};
use super::{Call, CallId, Calls, Direction, Line, State, Timer};
use crate::sdp::{self, Local};
use crate::ua::Dest;
use crate::wire::{
    self, addr_uri, escape_user, quote, split_list, uri_hostport, uri_user, without_tag, Message,
};
use callctl::wire::Message as Ctl;
use callctl::{Cause, Digits, Privacy, Text};
use mwi_config::Transport;
use mwi_core::route::Route;
use sansio::{Duration, Instant};
use std::net::SocketAddr;

/// Retry-After of a 503 while chand is not connected, s (RFC 3261 §20.33).
const RETRY_AFTER: u32 = 5;

/// A SIP reason phrase for the responses sipd sends (RFC 3261 §21).
fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        _ => "Server Internal Error",
    }
}

/// Number, name and presentation of the caller: P-Asserted-Identity (RFC 3325 §9.1) or From,
/// and `Privacy: id` or `header` (RFC 3323 §4.2, RFC 3325 §9.3) or an anonymous From.
fn caller(req: &Message) -> (Text, Text, Privacy) {
    let who = req
        .header("P-Asserted-Identity")
        .or_else(|| req.header("From"))
        .unwrap_or("");
    let (number, name) = party(who);
    let private = req
        .headers("Privacy")
        .flat_map(|v| v.split(';'))
        .any(|p| matches!(p.trim(), "id" | "header"))
        || number.as_str().eq_ignore_ascii_case("anonymous");
    if private {
        (Text::default(), Text::default(), Privacy::Restricted)
    } else {
        (number, name, Privacy::Allowed)
    }
}

/// Where an INVITE's Request-URI user leads.
enum To {
    /// An `[[fxs]]` port's number: `Incoming` on that channel.
    Port(u16),
    /// A number of a `[[pri]]` span with `[pri.calls]`: `TrunkIncoming` with this called
    /// number.
    Span(u16, Digits),
}

/// The 200's P-Asserted-Identity for call `c` answered at chand's side by a named party
/// (RFC 3325 §9.1): its number or the called user, at the INVITE's Request-URI host; `None`
/// when chand named no one.
fn answered_by(c: &Call, req: &Message) -> Option<String> {
    let (number, name) = c.answered_by.as_ref()?;
    let user = if number.as_str().is_empty() {
        c.user.clone()
    } else {
        escape_user(number.as_str())
    };
    let host = req
        .uri()
        .and_then(|u| uri_hostport(addr_uri(u)))
        .unwrap_or("invalid");
    let display = if name.as_str().is_empty() {
        String::new()
    } else {
        format!("{} ", quote(name.as_str()))
    };
    Some(format!("{display}<sip:{user}@{host}>"))
}

impl Calls {
    /// Where an INVITE for `user` goes: a port with that number, else the span the routing
    /// rule ([`mwi_core::route::Router`]) gives, the user's leading `+` (a global number,
    /// RFC 3966 §5.1.4) dropped since `numbers` patterns hold digits only. Errors: the status
    /// code of the refusal, 404 (a user no pattern matches, such as one with letters, which
    /// callctl's `Digits` could not carry either; or a span without `[pri.calls]`, logged).
    fn line_of(&self, user: &str) -> Result<To, u16> {
        if let Some(p) = self.cfg.ports.iter().find(|p| p.number == user) {
            return Ok(To::Port(p.channel));
        }
        let digits = user.strip_prefix('+').unwrap_or(user);
        let (Ok(Route::Pri { index, span }), Ok(called)) =
            (self.cfg.router.route(digits), Digits::try_from(digits))
        else {
            return Err(404);
        };
        match self.cfg.trunks.get(index).filter(|t| t.calls) {
            Some(trunk) => Ok(To::Span(trunk.span, called)),
            None => {
                log::info!(
                    span = span;
                    "calls: INVITE for {user}: span {span} serves it, but has no [pri.calls]; 404"
                );
                Err(404)
            }
        }
    }

    /// A response to `req` with `Server` (and `tag` on To when it has none).
    fn respond_to(req: &Message, code: u16, tag: &str, ua: &str) -> Message {
        let mut rsp = req.response(code, reason(code), tag);
        rsp.push("Server", ua.to_owned());
        rsp
    }

    /// A response to a new INVITE that starts no call (RFC 3261 §8.2, §13.3.1); its ACK
    /// finds no call and is dropped.
    fn refuse(&mut self, req: &Message, src: Dest, code: u16, extra: &[(&str, String)]) {
        let mut rsp = Self::respond_to(req, code, &wire::secret_token(10), &self.cfg.user_agent);
        for (name, value) in extra {
            rsp.push(name, value.clone());
        }
        log::info!(
            call_id = req.call_id().unwrap_or_default();
            "calls: INVITE {} from {}: {code} {}",
            req.uri().unwrap_or_default(),
            src.addr,
            reason(code)
        );
        if code == 403 {
            self.events.push_back(super::CallEvent::Refused {
                src,
                why: rsp.summary(),
            });
        }
        self.send_sip(src, &rsp);
    }

    pub(super) fn on_invite(&mut self, now: Instant, req: Message, src: Dest) {
        if let Some(&id) = req.call_id().and_then(|c| self.by_sip.get(c)) {
            let Some(c) = self.calls.get(&id) else {
                return;
            };
            let again = c.request.as_ref().is_some_and(|r| {
                r.top_via_branch() == req.top_via_branch() && r.cseq() == req.cseq()
            });
            let response = c.response.clone();
            match (again, response, req.to_tag()) {
                (true, Some(bytes), _) => {
                    self.out
                        .push_back(crate::transaction::Transmit { dest: src, bytes });
                }
                (true, None, _) => {}
                (false, _, Some(_)) if self.find(&req) == Some(id) => {
                    self.reinvite(now, id, req, src);
                }
                (false, _, Some(_)) => self.refuse(&req, src, 481, &[]),
                (false, _, None) => self.refuse(&req, src, 482, &[]),
            }
            return;
        }
        if !self.trusted.contains(&src.addr.ip()) {
            return self.refuse(&req, src, 403, &[]);
        }
        if req.to_tag().is_some() {
            return self.refuse(&req, src, 481, &[]);
        }
        if let Some(required) = req.header("Require") {
            let value = required.to_owned();
            return self.refuse(&req, src, 420, &[("Unsupported", value)]);
        }
        let user = req.uri().and_then(uri_user).unwrap_or("").to_owned();
        let line = match self.line_of(&user) {
            Ok(line) => line,
            Err(code) => return self.refuse(&req, src, code, &[]),
        };
        let busy = [("Retry-After", RETRY_AFTER.to_string())];
        if !self.link.peer_up() {
            log::warn!("calls: INVITE for {user} while chand is not connected; 503");
            return self.refuse(&req, src, 503, &busy);
        }
        if self.calls.len() >= self.cfg.max_calls {
            log::warn!("calls: {} calls run already; 503", self.calls.len());
            return self.refuse(&req, src, 503, &busy);
        }
        // The offer is checked before the port rings (RFC 3261 §13.3.1.3); an INVITE without
        // one gets our offer in the 200 and brings its answer in the ACK (§13.2.1).
        let probe = Local::new(self.local_addr(src.transport), self.cfg.codecs.clone(), 0);
        let offer = (!req.body.is_empty()).then(|| sdp::answer(&req.body, &probe));
        if let Some(Err(e)) = offer {
            let warning = format!("305 sipd \"{e}\"");
            log::info!("calls: INVITE for {user}: offer refused: {e}");
            return self.refuse(&req, src, e.status(), &[("Warning", warning)]);
        }
        let Some(id) = self.link.new_call_id() else {
            return self.refuse(&req, src, 503, &busy);
        };
        let (number, name, privacy) = caller(&req);
        let calling = number.as_str().to_owned();
        let (incoming, line, called) = match line {
            To::Port(port) => (
                Ctl::Incoming {
                    call: id,
                    port,
                    number,
                    name,
                    privacy,
                },
                Line::Port(port),
                user,
            ),
            To::Span(span, called) => {
                let user = called.as_str().to_owned();
                let msg = Ctl::TrunkIncoming {
                    call: id,
                    span,
                    called,
                    number,
                    name,
                    privacy,
                };
                (msg, Line::Span(span), user)
            }
        };
        if let Err(e) = self.link.send(now, incoming) {
            log::warn!("calls: INVITE for {called}: chand not told ({e}); 503");
            return self.refuse(&req, src, 503, &busy);
        }
        let local_tag = wire::secret_token(10);
        let trying = Self::respond_to(&req, 100, "", &self.cfg.user_agent);
        let call = Call {
            id,
            line,
            user: called.clone(),
            auth: None,
            called,
            calling,
            private: false,
            answered_by: None,
            direction: Direction::Incoming,
            state: State::Ringing,
            started: now,
            dest: src,
            call_id: req.call_id().unwrap_or_default().to_owned(),
            local_uri: without_tag(req.header("To").unwrap_or_default()),
            remote_uri: without_tag(req.header("From").unwrap_or_default()),
            remote_tag: req.from_tag().map(str::to_owned),
            remote_target: req
                .header("Contact")
                .map(addr_uri)
                .unwrap_or(addr_uri(req.header("From").unwrap_or_default()))
                .to_owned(),
            route: req
                .headers("Record-Route")
                .flat_map(split_list)
                .map(str::to_owned)
                .collect(),
            local_tag,
            local_cseq: 0,
            local: None,
            media: None,
            invite: None,
            authorized: false,
            cancel_pending: false,
            ack: None,
            answered: false,
            response: Some(trying.to_bytes()),
            request: Some(req),
            interval: self.t1(),
        };
        call.note(format_args!("INVITE from {}: ringing", call.remote_uri));
        self.send_sip(src, &trying);
        self.by_sip.insert(call.call_id.clone(), id);
        self.calls.insert(id, call);
        let ring = Duration::from_millis(self.cfg.ring_timeout);
        self.timers.set((id, Timer::Give), now + ring);
    }

    /// Sends `rsp` to call `id`'s INVITE and keeps it for retransmitted INVITEs; a final one
    /// is resent on Timer G until the ACK, at most until Timer H (RFC 3261 §17.2.1).
    fn send_response(&mut self, now: Instant, id: CallId, rsp: &Message) {
        let t1 = self.t1();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let bytes = rsp.to_bytes();
        c.response = Some(bytes.clone());
        let dest = c.dest;
        if rsp.code().unwrap_or(0) >= 200 {
            c.interval = t1;
            if dest.transport == Transport::Udp {
                self.timers.set((id, Timer::Retransmit), now + t1);
            }
            self.timers.set((id, Timer::Give), now + t1 * 64);
        }
        self.out
            .push_back(crate::transaction::Transmit { dest, bytes });
    }

    /// A response to call `id`'s INVITE with our tag (and Record-Route and Contact for
    /// 1xx/2xx, §12.1.1).
    fn dialog_response(&self, id: CallId, code: u16) -> Option<Message> {
        let c = self.calls.get(&id)?;
        let req = c.request.as_ref()?;
        let mut rsp = Self::respond_to(req, code, &c.local_tag, &self.cfg.user_agent);
        if code < 300 {
            // The proxies that record-route see the route set in the response (§12.1.1).
            for rr in req.headers("Record-Route") {
                rsp.push("Record-Route", rr.to_owned());
            }
            rsp.push("Contact", self.contact(&c.user, c.dest.transport));
        }
        Some(rsp)
    }

    pub(super) fn alerting(&mut self, now: Instant, id: CallId) {
        if self.calls.get(&id).map(|c| c.state) != Some(State::Ringing) {
            return;
        }
        if let Some(rsp) = self.dialog_response(id, 180) {
            self.send_response(now, id, &rsp);
        }
    }

    /// Our media of an incoming call; answers when chand already said `Answered`.
    pub(super) fn set_local_media(&mut self, now: Instant, id: CallId, rtp: SocketAddr) {
        let session = u64::from(rand_u32());
        let codecs = self.cfg.codecs.clone();
        if let Some(c) = self.calls.get_mut(&id) {
            c.local = Some(Local::new(rtp, codecs, session));
        }
        self.answer(now, id);
    }

    /// 200 with the SDP answer once chand answered and gave its address.
    pub(super) fn answer(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let (Some(local), Some(req), true, State::Ringing) =
            (&c.local, &c.request, c.answered, c.state)
        else {
            return;
        };
        let answered = if req.body.is_empty() {
            Ok((sdp::offer(local, callctl::Direction::SendRecv), None))
        } else {
            sdp::answer(&req.body, local).map(|(body, media)| (body, Some(media)))
        };
        match answered {
            Ok((body, media)) => {
                let Some(mut rsp) = self.dialog_response(id, 200) else {
                    return;
                };
                if let Some(pai) = self.calls.get(&id).and_then(|c| answered_by(c, req)) {
                    rsp.push("P-Asserted-Identity", &pai);
                }
                rsp.push("Content-Type", "application/sdp");
                rsp.body = body;
                if let Some(c) = self.calls.get_mut(&id) {
                    c.media = media;
                    c.state = State::Answering;
                    c.note(format_args!("answered: 200"));
                }
                self.send_response(now, id, &rsp);
            }
            Err(e) => {
                if let Some(c) = self.calls.get(&id) {
                    c.log(log::Level::Warn, format_args!("cannot answer: {e}"));
                }
                self.hangup_chand(now, id, Cause::BEARER_NOT_IMPLEMENTED);
                self.reject(now, id, 488);
            }
        }
    }

    /// Ends an unanswered incoming call with the error response `code`.
    pub(super) fn reject(&mut self, now: Instant, id: CallId, code: u16) {
        let Some(rsp) = self.dialog_response(id, code) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.state = State::Ending;
            c.note(format_args!("refused: {code} {}", reason(code)));
        }
        self.send_response(now, id, &rsp);
    }

    /// Timer G: resend the final response, the interval doubling up to T2.
    pub(super) fn retransmit_response(&mut self, now: Instant, id: CallId) {
        let t2 = Duration::from_millis(self.cfg.timers.t2);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(bytes) = c.response.clone() else {
            return;
        };
        c.interval = (c.interval * 2).min(t2);
        let (dest, at) = (c.dest, now + c.interval);
        self.out
            .push_back(crate::transaction::Transmit { dest, bytes });
        self.timers.set((id, Timer::Retransmit), at);
    }

    /// Timer H or the ring limit: no ACK came (RFC 3261 §13.3.1.4: BYE), or nobody answered.
    pub(super) fn timer_h(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match c.state {
            State::Ringing => {
                c.note(format_args!("not answered in time"));
                self.hangup_chand(now, id, Cause::NO_ANSWER);
                self.reject(now, id, 480);
            }
            State::Answering => {
                c.note(format_args!("no ACK for the 200"));
                self.hangup_chand(now, id, Cause::TIMER_EXPIRY);
                self.send_bye(now, id);
            }
            _ => {
                c.response = None;
                self.timers.cancel((id, Timer::Retransmit));
            }
        }
    }

    /// A re-INVITE in a confirmed dialog (RFC 3261 §14.2): answered with our SDP, `Modify`.
    fn reinvite(&mut self, now: Instant, id: CallId, req: Message, src: Dest) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let (State::Confirmed, Some(local)) = (c.state, c.local.as_mut()) else {
            return self.refuse(&req, src, 491, &[]);
        };
        local.version += 1;
        let local = local.clone();
        let (body, media) = if req.body.is_empty() {
            (sdp::offer(&local, callctl::Direction::SendRecv), None)
        } else {
            match sdp::answer(&req.body, &local) {
                Ok((body, media)) => (body, Some(media)),
                Err(e) => {
                    let warning = format!("305 sipd \"{e}\"");
                    return self.refuse(&req, src, 488, &[("Warning", warning)]);
                }
            }
        };
        c.request = Some(req);
        if let Some(t) = c.request.as_ref().and_then(|r| r.header("Contact")) {
            c.remote_target = addr_uri(t).to_owned();
        }
        c.note(format_args!("re-INVITE"));
        let Some(mut rsp) = self.dialog_response(id, 200) else {
            return;
        };
        rsp.push("Content-Type", "application/sdp");
        rsp.body = body;
        self.send_response(now, id, &rsp);
        if let Some(media) = media {
            if let Some(c) = self.calls.get_mut(&id) {
                c.media = Some(media);
            }
            self.tell(now, Ctl::Modify { call: id, media });
        }
    }
}
