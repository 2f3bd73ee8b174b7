//! The SIP message layer: a [`Message`] view of one SIP message (RFC 3261 §7), the checks rsip 0.4
//! leaves out (compact header names, required headers, CSeq method, Content-Length, LF-only line
//! ends, the SIP version, the Via and Request-URI grammar), the responses that name the defect of
//! a rejected request, the TCP stream [`Framer`] (RFC 3261 §18.3) and the secrets sipd puts in
//! messages ([`secret_token`]).
//!
//! Parsing goes in two steps: [`Message::parse`] normalises the bytes (line ends to CRLF, folded
//! lines unfolded, compact names expanded, RFC 3261 §7.3.3) and then hands the normalised text to
//! rsip for the grammar of the start line and the URI; the header list kept here is the normalised
//! one, so a message that rsip would accept but that lacks a required header still gets a response
//! naming the missing header.

use std::fmt::Write as _;

mod framer;
mod headers;
mod syntax;
mod trim;

use syntax::{check_uri, is_token, is_via, parse_start, UriDefect, KNOWN_METHODS};

pub use framer::{FrameError, Framer};
pub use headers::{
    addr_uri, escape_user, long_name, param, quote, split_list, uri_hostport, uri_user, without_tag,
};
pub use trim::{required_header, AMPLIFICATION};

/// The largest UDP payload (octets, RFC 768 length field): a receive buffer one octet longer
/// tells a full datagram from a truncated one.
pub const MAX_DATAGRAM: usize = 65_535;

/// The first line of a message (RFC 3261 §7.1, §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP/2.0`.
    Request {
        /// The method token as received, e.g. `NOTIFY`.
        method: String,
        /// The Request-URI as received.
        uri: String,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`.
    Response {
        /// Status code, 100..=699.
        code: u16,
        /// Reason phrase as received.
        reason: String,
    },
}

/// One header field, name in its long form (compact names expanded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Header name, long form.
    pub name: String,
    /// Value, with leading/trailing whitespace removed and folded lines joined by one space.
    pub value: String,
}

/// One SIP message: start line, headers in order, body octets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Header fields in received (or emission) order.
    pub headers: Vec<Header>,
    /// Message body.
    pub body: Vec<u8>,
}

/// Why a received message was refused. [`Defect::response`] builds the response that names it,
/// when one can be built; otherwise the message is dropped and logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Defect {
    /// Not a SIP message at all: no start line, no header section, not UTF-8 (dropped).
    Unreadable(&'static str),
    /// A response lacks Via, From, To, Call-ID or CSeq, or has an unusable one (dropped).
    BadResponse(String),
    /// A request without a Via header: a response could not be routed (dropped, RFC 3261 §8.2.6).
    NoVia,
    /// A request with a syntax defect (400); the text names it.
    BadRequest(Box<Message>, String),
    /// A method this user agent does not implement (501).
    NotImplemented(Box<Message>),
    /// A request of another SIP version than 2.0 (505, RFC 3261 §8.2.2 via §21.5.7).
    VersionNotSupported(Box<Message>),
    /// A Request-URI of a scheme other than sip, sips or tel (416, RFC 3261 §8.2.2.1).
    UnsupportedScheme(Box<Message>),
    /// A request longer than the configured maximum message size (413, RFC 3261 §21.4.11);
    /// the number is that maximum, octets.
    TooLarge(Box<Message>, usize),
}

/// Methods sipd accepts as a server (RFC 3261 §20.5 `Allow`).
pub const ALLOW: &str = "NOTIFY, OPTIONS";
/// The one body type sipd accepts (RFC 3842 §7, `Accept`).
pub const ACCEPT: &str = "application/simple-message-summary";
/// The event package sipd handles (RFC 3842 §3).
pub const EVENT: &str = "message-summary";

impl Defect {
    /// The response naming this defect, or `None` when the message must be dropped.
    pub fn response(&self, to_tag: &str) -> Option<Message> {
        match self {
            Self::Unreadable(_) | Self::BadResponse(_) | Self::NoVia => None,
            Self::BadRequest(req, why) => {
                let reason = format!("Bad Request ({why})");
                Some(req.response(400, &reason, to_tag))
            }
            Self::NotImplemented(req) => {
                let mut rsp = req.response(501, "Not Implemented", to_tag);
                rsp.push("Allow", ALLOW);
                Some(rsp)
            }
            Self::VersionNotSupported(req) => {
                Some(req.response(505, "Version Not Supported", to_tag))
            }
            Self::UnsupportedScheme(req) => {
                Some(req.response(416, "Unsupported URI Scheme", to_tag))
            }
            Self::TooLarge(req, _) => Some(req.response(413, "Request Entity Too Large", to_tag)),
        }
    }
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(why) => write!(f, "unreadable message: {why}"),
            Self::BadResponse(why) => write!(f, "bad response: {why}"),
            Self::NoVia => f.write_str("request without Via"),
            Self::BadRequest(_, why) => write!(f, "bad request: {why}"),
            Self::NotImplemented(req) => write!(f, "method {} not implemented", req.method()),
            Self::VersionNotSupported(_) => f.write_str("request of another SIP version"),
            Self::UnsupportedScheme(req) => write!(
                f,
                "unsupported Request-URI scheme in {}",
                req.uri().unwrap_or_default()
            ),
            Self::TooLarge(_, max) => write!(f, "request longer than {max} octets"),
        }
    }
}

impl Message {
    /// A request with no headers yet.
    pub fn request(method: &str, uri: &str) -> Self {
        Self {
            start: StartLine::Request {
                method: method.to_owned(),
                uri: uri.to_owned(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Parse and validate one message (one UDP datagram or one framed TCP message).
    ///
    /// Accepts CRLF and LF-only line ends and folded header lines; expands compact names; checks
    /// the start line (SIP/2.0 only: another version is [`Defect::VersionNotSupported`]) and,
    /// for a request, the Request-URI (RFC 3261 §19.1.1, RFC 3966), every Via (§20.42), From,
    /// To, Call-ID, CSeq (number and method equal to the request method), Max-Forwards and
    /// Content-Length (1*DIGIT; octets past it are discarded, a shorter body is a defect,
    /// §18.3); rsip checks the typed headers it knows. The size limit is the transport's
    /// ([`Message::oversize`], [`Framer`]). Errors: [`Defect`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Defect> {
        let msg = Self::normalise(bytes)?;
        msg.check()?;
        Ok(msg)
    }

    /// The defect of a message longer than the maximum of `max` octets (RFC 3261 §21.4.11):
    /// [`Defect::TooLarge`] when its header section reads as a request with a Via (it gets
    /// 413), a drop otherwise.
    pub fn oversize(bytes: &[u8], max: usize) -> Defect {
        match Self::normalise(bytes) {
            Ok(m) if m.is_request() && m.header("Via").is_some() => {
                Defect::TooLarge(Box::new(m), max)
            }
            Err(Defect::BadRequest(m, _) | Defect::VersionNotSupported(m)) => {
                Defect::TooLarge(m, max)
            }
            Ok(_) | Err(_) => Defect::Unreadable("longer than the maximum message size"),
        }
    }

    /// Split the bytes into start line, headers and body without checking any header.
    fn normalise(bytes: &[u8]) -> Result<Self, Defect> {
        // Keep-alives (RFC 5626 §3.5.1: CRLF) and leading blank lines are skipped
        // (RFC 3261 §7.5).
        let start = bytes
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .ok_or(Defect::Unreadable("empty"))?;
        let bytes = bytes.get(start..).unwrap_or_default();
        let (head_len, body_start) =
            head_end(bytes).ok_or(Defect::Unreadable("no end of headers"))?;
        let head = std::str::from_utf8(bytes.get(..head_len).unwrap_or_default())
            .map_err(|_| Defect::Unreadable("header section not UTF-8"))?;
        let mut body = bytes.get(body_start..).unwrap_or_default().to_vec();

        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next().ok_or(Defect::Unreadable("no start line"))?;
        let (start, sip_2_0) = parse_start(first).ok_or(Defect::Unreadable("bad start line"))?;

        let mut headers: Vec<Header> = Vec::new();
        let mut bad_line = None;
        for line in lines {
            if line.starts_with([' ', '\t']) {
                match headers.last_mut() {
                    Some(h) => {
                        h.value.push(' ');
                        h.value.push_str(line.trim());
                    }
                    None => bad_line = Some("continuation line without header"),
                }
                continue;
            }
            match line.split_once(':') {
                Some((name, value)) if is_token(name.trim_end()) => headers.push(Header {
                    name: long_name(name.trim_end()).to_owned(),
                    value: value.trim().to_owned(),
                }),
                _ => bad_line = Some("header line without name"),
            }
        }
        for h in &mut headers {
            h.value = h.value.trim().to_owned();
        }
        // RFC 3261 §18.3: octets of a datagram past Content-Length are not part of the message.
        let length = headers
            .iter()
            .find(|h| h.name == "Content-Length")
            .and_then(|h| content_length(&h.value));
        if let Some(n) = length.filter(|&n| n < body.len()) {
            body.truncate(n);
        }
        let msg = Self {
            start,
            headers,
            body,
        };
        if !sip_2_0 {
            return Err(match msg.header("Via") {
                Some(_) => Defect::VersionNotSupported(Box::new(msg)),
                None => Defect::NoVia,
            });
        }
        if let Some(why) = bad_line {
            return Err(msg.defect(why.to_owned()));
        }
        Ok(msg)
    }

    /// The defect of this message: 400 for a request with a Via, a drop otherwise.
    fn defect(self, why: String) -> Defect {
        if self.is_request() {
            if self.header("Via").is_none() {
                return Defect::NoVia;
            }
            Defect::BadRequest(Box::new(self), why)
        } else {
            Defect::BadResponse(why)
        }
    }

    fn check(&self) -> Result<(), Defect> {
        let bad = |why: String| Err(self.clone().defect(why));
        if self.header("Via").is_none() {
            return bad("missing Via header".into());
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            if self.header(name).is_none() {
                return bad(format!("missing {name} header"));
            }
        }
        let Some((_, cseq_method)) = self.cseq() else {
            return bad("malformed CSeq header".into());
        };
        if let Some(lenv) = self.header("Content-Length") {
            match content_length(lenv) {
                Some(n) if n == self.body.len() => {}
                Some(n) => {
                    return bad(format!(
                        "Content-Length {n} but body of {} octets",
                        self.body.len()
                    ))
                }
                None => return bad("malformed Content-Length header".into()),
            }
        }
        let StartLine::Request { method, .. } = &self.start else {
            return self.check_rsip();
        };
        if !KNOWN_METHODS.contains(&method.as_str()) {
            return Err(Defect::NotImplemented(Box::new(self.clone())));
        }
        if cseq_method != method {
            return bad(format!(
                "CSeq method {cseq_method} does not match request method {method}"
            ));
        }
        match self.header("Max-Forwards").map(|v| v.parse::<u8>()) {
            None => return bad("missing Max-Forwards header".into()),
            Some(Err(_)) => return bad("malformed Max-Forwards header".into()),
            Some(Ok(_)) => {}
        }
        if self.top_via_branch().is_none() || !self.headers("Via").flat_map(split_list).all(is_via)
        {
            return bad("malformed Via header".into());
        }
        match self.uri().map(check_uri) {
            Some(Err(UriDefect::Scheme)) => {
                return Err(Defect::UnsupportedScheme(Box::new(self.clone())))
            }
            Some(Err(UriDefect::Syntax)) => return bad("malformed Request-URI".into()),
            Some(Ok(())) | None => {}
        }
        self.check_rsip()
    }

    /// rsip checks the grammar of the start line, the URI and the typed headers it knows.
    fn check_rsip(&self) -> Result<(), Defect> {
        match rsip::SipMessage::try_from(self.to_bytes()) {
            Ok(_) => Ok(()),
            Err(e) => {
                let why: String = e
                    .to_string()
                    .chars()
                    .take(80)
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                Err(self.clone().defect(format!("malformed message: {why}")))
            }
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request, the CSeq method of a response ("" if none).
    pub fn method(&self) -> &str {
        match &self.start {
            StartLine::Request { method, .. } => method,
            StartLine::Response { .. } => self.cseq().map(|(_, m)| m).unwrap_or(""),
        }
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The first header called `name` (long form, case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// All headers called `name`, in order.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Append a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push(Header {
            name: name.to_owned(),
            value: value.into(),
        });
    }

    /// Replace every header called `name` with one header (or append it).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        self.push(name, value);
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let (n, m) = self.header("CSeq")?.split_once([' ', '\t'])?;
        let m = m.trim();
        (is_token(m)).then_some(())?;
        Some((n.trim().parse().ok()?, m))
    }

    /// The topmost Via value (first element of the first Via header).
    pub fn top_via(&self) -> Option<&str> {
        split_list(self.header("Via")?).into_iter().next()
    }

    /// The `branch` parameter of the topmost Via (RFC 3261 §8.1.1.7).
    pub fn top_via_branch(&self) -> Option<&str> {
        param(self.top_via()?, "branch").filter(|b| !b.is_empty())
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The `tag` parameter of the From header.
    pub fn from_tag(&self) -> Option<&str> {
        param(self.header("From")?, "tag")
    }

    /// The `tag` parameter of the To header.
    pub fn to_tag(&self) -> Option<&str> {
        param(self.header("To")?, "tag").filter(|t| !t.is_empty())
    }

    /// A response to this request (RFC 3261 §8.2.6.2): Via, From, To, Call-ID and CSeq copied,
    /// `to_tag` added to To when it has none (except for 100), `Content-Length: 0`.
    pub fn response(&self, code: u16, reason: &str, to_tag: &str) -> Self {
        let mut rsp = Self {
            start: StartLine::Response {
                code,
                reason: reason.replace(['\r', '\n'], " "),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for h in &self.headers {
            let copy = ["Via", "From", "Call-ID", "CSeq"]
                .iter()
                .any(|n| h.name.eq_ignore_ascii_case(n));
            if copy {
                rsp.headers.push(h.clone());
            } else if h.name.eq_ignore_ascii_case("To") {
                let mut to = h.value.clone();
                if code > 100 && param(&to, "tag").is_none() && !to_tag.is_empty() {
                    let _ = write!(to, ";tag={to_tag}");
                }
                rsp.push("To", to);
            }
        }
        rsp
    }

    /// Serialise with CRLF line ends and a `Content-Length` equal to the body length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(s, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(s, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for h in &self.headers {
            if !h.name.eq_ignore_ascii_case("Content-Length") {
                let _ = write!(s, "{}: {}\r\n", h.name, h.value);
            }
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// A one-line description for logs: `NOTIFY sip:8000@host` or `200 OK (NOTIFY)`.
    pub fn summary(&self) -> String {
        match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri}"),
            StartLine::Response { code, reason } => {
                format!("{code} {reason} ({})", self.method())
            }
        }
    }
}

/// RFC 3261 §20.14 `Content-Length = 1*DIGIT`, `None` when malformed or beyond `usize`.
fn content_length(value: &str) -> Option<usize> {
    (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
        .then(|| value.parse().ok())
        .flatten()
}

/// Octets of the header section and start of the body: the first empty line ends the headers,
/// whether lines end in CRLF or LF.
fn head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = bytes.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let next = bytes.get(nl + 1..)?;
        if next.starts_with(b"\r\n") {
            return Some((nl, nl + 3));
        }
        if next.starts_with(b"\n") {
            return Some((nl, nl + 2));
        }
        i = nl + 1;
    }
    None
}

/// `len` characters of `[A-Za-z0-9]` from the OS CSPRNG (getrandom), about 5.95 bits each:
/// Call-IDs, tags, branches and cnonces must not be guessable by a peer (RFC 3261 §8.1.1.4,
/// §19.3, §8.1.1.7; RFC 2617 §3.2.2 cnonce), whatever seeds the timer jitter.
///
/// Panics when the kernel has no random source, which leaves no safe way to talk SIP.
pub fn secret_token(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the OS random source (getrandom(2)) failed");
        // 248 = 4 * 62: octets above it are dropped so that every character is equally likely.
        let fresh = buf.iter().filter(|&&b| b < 248);
        out.extend(fresh.map(|&b| char::from(ALPHABET[usize::from(b % 62)])));
        out.truncate(len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const NOTIFY: &str = "NOTIFY sip:8000@192.0.2.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: <sip:8000@192.0.2.1>\r\n\
        From: <sip:vm@192.0.2.10>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710@192.0.2.10\r\n\
        CSeq: 314159 NOTIFY\r\n\
        Event: message-summary\r\n\
        Content-Type: application/simple-message-summary\r\n\
        Content-Length: 23\r\n\
        \r\n\
        Messages-Waiting: yes\r\n";

    #[test]
    fn parses_a_notify() {
        let m = Message::parse(NOTIFY.as_bytes()).unwrap();
        assert_eq!(m.method(), "NOTIFY");
        assert_eq!(m.uri().and_then(uri_user), Some("8000"));
        assert_eq!(m.cseq(), Some((314159, "NOTIFY")));
        assert_eq!(m.top_via_branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(m.from_tag(), Some("1928301774"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.body, b"Messages-Waiting: yes\r\n");
    }

    #[test]
    fn accepts_lf_only_and_compact_names_and_folding() {
        let text = "NOTIFY sip:8000@h SIP/2.0\n\
            v: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\n\
            Max-Forwards: 70\n\
            t: <sip:8000@h>\n\
            f: <sip:vm@h>;tag=1\n\
            i: abc\n\
            CSeq: 1\n NOTIFY\n\
            o: message-summary\n\
            c: application/simple-message-summary\n\
            l: 0\n\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.header("Call-ID"), Some("abc"));
        assert_eq!(m.header("Event"), Some("message-summary"));
        assert_eq!(m.cseq(), Some((1, "NOTIFY")));
        assert!(m.to_bytes().windows(4).any(|w| w == b"\r\n\r\n"));
    }

    pub(super) fn rejection(text: &str) -> (u16, String) {
        let d = Message::parse(text.as_bytes()).unwrap_err();
        let rsp = d.response("t1").expect("a response");
        match rsp.start {
            StartLine::Response { code, reason } => (code, reason),
            StartLine::Request { .. } => unreachable!(),
        }
    }

    #[test]
    fn names_each_defect() {
        let no_callid = NOTIFY.replace("Call-ID: a84b4c76e66710@192.0.2.10\r\n", "");
        assert_eq!(
            rejection(&no_callid),
            (400, "Bad Request (missing Call-ID header)".into())
        );
        let no_mf = NOTIFY.replace("Max-Forwards: 70\r\n", "");
        assert_eq!(
            rejection(&no_mf),
            (400, "Bad Request (missing Max-Forwards header)".into())
        );
        let cseq = NOTIFY.replace("314159 NOTIFY", "314159 OPTIONS");
        assert_eq!(
            rejection(&cseq).1,
            "Bad Request (CSeq method OPTIONS does not match request method NOTIFY)"
        );
        let len = NOTIFY.replace("Content-Length: 23", "Content-Length: 40");
        assert_eq!(
            rejection(&len).1,
            "Bad Request (Content-Length 40 but body of 23 octets)"
        );
        let unknown = NOTIFY
            .replace("NOTIFY sip", "FROB sip")
            .replace("314159 NOTIFY", "314159 FROB");
        assert_eq!(rejection(&unknown).0, 501);
    }

    #[test]
    fn drops_what_cannot_be_answered() {
        let no_via = NOTIFY.replace(
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n",
            "",
        );
        assert_eq!(Message::parse(no_via.as_bytes()), Err(Defect::NoVia));
        assert!(Message::parse(b"garbage").is_err());
        assert!(Message::parse(b"\r\n\r\n").is_err());
        assert!(Message::parse(b"SIP/2.0 200 OK\r\n\r\n")
            .unwrap_err()
            .response("x")
            .is_none());
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_to_tag() {
        let m = Message::parse(NOTIFY.as_bytes()).unwrap();
        let r = m.response(200, "OK", "abc");
        assert_eq!(r.header("Via"), m.header("Via"));
        assert_eq!(r.header("CSeq"), Some("314159 NOTIFY"));
        assert_eq!(r.to_tag(), Some("abc"));
        let parsed = Message::parse(&r.to_bytes()).unwrap();
        assert_eq!(parsed.code(), Some(200));
        assert_eq!(parsed.method(), "NOTIFY");
    }

    #[test]
    fn datagram_octets_past_content_length_are_discarded() {
        let extra = format!("{NOTIFY}trailing junk");
        let m = Message::parse(extra.as_bytes()).unwrap();
        assert_eq!(m.body, b"Messages-Waiting: yes\r\n");
        let signed = NOTIFY.replace("Content-Length: 23", "Content-Length: +23");
        assert_eq!(
            rejection(&signed).1,
            "Bad Request (malformed Content-Length header)"
        );
    }

    #[test]
    fn an_oversize_request_gets_413_when_it_can_be_answered() {
        let big = format!("{NOTIFY}{}", "x".repeat(2000)).replace("Content-Length: 23", "l: 2023");
        let d = Message::oversize(big.as_bytes(), 1024);
        assert!(matches!(d, Defect::TooLarge(_, 1024)), "{d}");
        let rsp = d.response("t").unwrap();
        assert_eq!(rsp.code(), Some(413));
        assert!(rsp.to_bytes().len() < 1024);
        assert!(d.response("t").unwrap().header("Via").is_some());
        assert!(Message::oversize(&[b'x'; 2000], 1024)
            .response("t")
            .is_none());
        let no_via = big.replace(
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n",
            "",
        );
        assert!(Message::oversize(no_via.as_bytes(), 1024)
            .response("t")
            .is_none());
    }

    /// A message of the largest size made of the smallest header lines (or one Via list of
    /// thousands of elements) parses in time linear in its size.
    #[test]
    fn many_headers_cost_linear_time() {
        let start = std::time::Instant::now();
        let lines = "X-a: b\r\n".repeat(8000);
        let many = NOTIFY.replace("Event:", &format!("{lines}Event:"));
        assert!(many.len() > 64_000);
        assert!(Message::parse(many.as_bytes()).is_ok());
        let vias = ", SIP/2.0/UDP h;branch=z9hG4bKv".repeat(2000);
        let long_via = NOTIFY.replace("hds\r\n", &format!("hds{vias}\r\n"));
        assert!(Message::parse(long_via.as_bytes()).is_ok());
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
