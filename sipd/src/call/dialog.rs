//! What both directions share: Via and Contact, in-dialog requests (RFC 3261 §12.2.1.1),
//! BYE (§15) out and in, CANCEL in (§9.2), ACK in (§13.3.1.4, §17.2.1).

use super::{Call, CallId, Calls, Direction, State, Timer};
use crate::sdp;
use crate::transaction::new_via;
use crate::ua::Dest;
use crate::wire::{self, addr_uri, split_list, uri_user, Message};
use callctl::wire::Message as Ctl;
use callctl::{Cause, Text};
use mwi_config::Transport;
use sansio::Instant;

/// The far end of a dialog as its requests address it (RFC 3261 §12.2.1.1).
pub(super) struct Far<'a> {
    /// Request-URI: the remote target.
    pub(super) target: &'a str,
    /// The remote tag (To), none before the dialog exists.
    pub(super) tag: Option<&'a str>,
    /// The route set, as Route headers in order.
    pub(super) route: &'a [String],
    /// The CSeq number.
    pub(super) cseq: u32,
}

impl Calls {
    /// A topmost Via with a fresh branch (RFC 3261 §8.1.1.7) and `rport` (RFC 3581).
    pub(super) fn via(&self, t: Transport) -> String {
        new_via(t, self.local_addr(t))
    }

    /// Our Contact for `user` (RFC 3261 §8.1.1.8): where the peer sends in-dialog requests.
    pub(super) fn contact(&self, user: &str, t: Transport) -> String {
        let tail = match t {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        format!("<sip:{user}@{}{tail}>", self.local_addr(t))
    }

    /// A request within call `id`'s dialog (RFC 3261 §12.2.1.1): Request-URI the remote
    /// target, the route set as Route, the next local CSeq (the same one for an ACK).
    pub(super) fn in_dialog(&mut self, id: CallId, method: &str) -> Option<(Message, Dest)> {
        let c = self.calls.get_mut(&id)?;
        if method != "ACK" {
            c.local_cseq += 1;
        }
        let c = self.calls.get(&id)?;
        let far = Far {
            target: &c.remote_target,
            tag: c.remote_tag.as_deref(),
            route: &c.route,
            cseq: c.local_cseq,
        };
        Some((self.request_to(c, method, &far), c.dest))
    }

    /// A request of call `c`'s Call-ID and From to `far` (its dialog, or a fork's).
    pub(super) fn request_to(&self, c: &Call, method: &str, far: &Far<'_>) -> Message {
        let mut req = Message::request(method, far.target);
        req.push("Via", self.via(c.dest.transport));
        req.push("Max-Forwards", "70");
        req.push("From", format!("{};tag={}", c.local_uri, c.local_tag));
        let to = match far.tag {
            Some(tag) => format!("{};tag={tag}", c.remote_uri),
            None => c.remote_uri.clone(),
        };
        req.push("To", to);
        req.push("Call-ID", c.call_id.clone());
        req.push("CSeq", format!("{} {method}", far.cseq));
        for r in far.route {
            req.push("Route", r.clone());
        }
        req.push("User-Agent", self.cfg.user_agent.clone());
        req
    }

    /// Ends a confirmed dialog with BYE (RFC 3261 §15.1.1); the call is gone when the BYE's
    /// transaction ends.
    pub(super) fn send_bye(&mut self, now: Instant, id: CallId) {
        let Some((bye, dest)) = self.in_dialog(id, "BYE") else {
            return;
        };
        if let Some(key) = self
            .tx
            .send_request(now, &bye, dest, dest.transport == Transport::Tcp)
        {
            self.pending.insert(key, id);
        }
        self.queue_tx();
        if let Some(c) = self.calls.get(&id) {
            c.note(format_args!("BYE sent"));
        }
        self.linger(now, id);
    }

    /// BYE or CANCEL from the peer, as a non-INVITE server transaction.
    pub(super) fn on_bye_or_cancel(&mut self, now: Instant, msg: Message, src: Dest) {
        let reliable = src.transport == Transport::Tcp;
        let Some((key, req)) = self.tx.on_request(msg, src, reliable) else {
            return;
        };
        let id = self.find(&req);
        let cancellable = id.filter(|&id| self.cancellable(id, &req));
        let code = match (req.method(), id) {
            ("BYE", Some(_)) => 200,
            ("CANCEL", Some(_)) if cancellable.is_some() => 200,
            _ => 481,
        };
        let reason = if code == 200 {
            "OK"
        } else {
            "Call/Transaction Does Not Exist"
        };
        let mut rsp = req.response(code, reason, &wire::secret_token(10));
        rsp.push("Server", self.cfg.user_agent.clone());
        if code == 481 {
            log::info!(
                call_id = req.call_id().unwrap_or_default();
                "calls: {} from {} matches no call; 481",
                req.method(),
                src.addr
            );
        }
        self.tx.respond(now, &key, &rsp);
        self.queue_tx();
        match (req.method(), id) {
            ("BYE", Some(id)) => self.bye_received(now, id),
            ("CANCEL", Some(id)) if cancellable.is_some() => self.cancel_received(now, id),
            _ => {}
        }
    }

    /// The call of an in-dialog request or of a CANCEL: by Call-ID, and the tags where the
    /// dialog has them (RFC 3261 §12.2.2).
    pub(super) fn find(&self, req: &Message) -> Option<CallId> {
        let id = *self.by_sip.get(req.call_id()?)?;
        let c = self.calls.get(&id)?;
        let tags_match = req
            .to_tag()
            .map_or(req.method() == "CANCEL", |t| t == c.local_tag)
            && c.remote_tag
                .as_deref()
                .map_or(true, |t| Some(t) == req.from_tag());
        tags_match.then_some(id)
    }

    fn bye_received(&mut self, now: Instant, id: CallId) {
        if let Some(c) = self.calls.get(&id) {
            c.note(format_args!("BYE from the peer"));
        }
        self.hangup_chand(now, id, Cause::NORMAL_CLEARING);
        self.remove(id);
    }

    /// Whether `cancel` names call `id`'s pending INVITE (RFC 3261 §9.2: same branch); one
    /// that does not gets 481.
    fn cancellable(&self, id: CallId, cancel: &Message) -> bool {
        self.calls.get(&id).is_some_and(|c| {
            c.direction == Direction::Incoming
                && c.request.as_ref().and_then(Message::top_via_branch) == cancel.top_via_branch()
        })
    }

    /// CANCEL of an incoming call: 487 to the INVITE while it rings; a CANCEL after the final
    /// response changes nothing (§9.2).
    fn cancel_received(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.state == State::Ringing {
            c.note(format_args!("CANCEL from the peer"));
            self.hangup_chand(now, id, Cause::NORMAL_CLEARING);
            self.reject(now, id, 487);
        }
    }

    /// ACK: of our 2xx (the dialog is confirmed) or of our error response (the call ends).
    pub(super) fn on_ack(&mut self, now: Instant, ack: &Message) {
        let Some(&id) = ack.call_id().and_then(|cid| self.by_sip.get(cid)) else {
            log::debug!("calls: ACK matches no call; dropped");
            return;
        };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.response.take().is_none() {
            return;
        }
        self.timers.cancel((id, Timer::Retransmit));
        self.timers.cancel((id, Timer::Give));
        match c.state {
            State::Answering => {
                // Our 200 carried the offer when the INVITE had none: the ACK has the answer.
                let answer = c.local.as_ref().map(|l| sdp::process_answer(&ack.body, l));
                match (c.media, answer) {
                    (Some(media), _) | (None, Some(Ok(media))) => {
                        c.media = Some(media);
                        c.state = State::Confirmed;
                        c.note(format_args!("ACK: connected"));
                        self.tell(now, Ctl::Connected { call: id, media });
                    }
                    (None, answer) => {
                        c.state = State::Confirmed;
                        let why = answer.and_then(Result::err).map(|e| e.to_string());
                        c.note(format_args!("ACK without a usable answer: {why:?}; BYE"));
                        self.hangup_chand(now, id, Cause::BEARER_NOT_IMPLEMENTED);
                        self.send_bye(now, id);
                    }
                }
            }
            State::Ending => self.remove(id),
            _ => {}
        }
    }
}

/// The user part and the display name of the first name-addr of a From or
/// P-Asserted-Identity value (RFC 3261 §20.20, RFC 3325 §9.1).
pub(super) fn party(value: &str) -> (Text, Text) {
    let who = split_list(value).into_iter().next().unwrap_or("");
    let number = uri_user(addr_uri(who)).unwrap_or("");
    let name = who
        .split('<')
        .next()
        .filter(|_| who.contains('<'))
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    (text(number), text(name))
}

/// Caller-ID text: control characters dropped, at most [`Text::MAX`] octets.
fn text(s: &str) -> Text {
    let mut out = String::new();
    for c in s.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > Text::MAX {
            break;
        }
        out.push(c);
    }
    Text::try_from(out.as_str()).unwrap_or_default()
}

/// A random number from the OS (`o=` session ids, RFC 4566 §5.2).
pub(super) fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the OS random source (getrandom(2)) failed");
    u32::from_be_bytes(b)
}
