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

/// The methods rsip 0.4 knows (RFC 3261, 3262, 3311, 3428, 3515, 3903, 6086, 6665).
const KNOWN_METHODS: &[&str] = &[
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// Compact header names and their long forms (RFC 3261 §7.3.3, RFC 6665 §8.2.1, RFC 3515,
/// RFC 3892, RFC 4028, RFC 3841, RFC 4474).
const COMPACT: &[(&str, &str)] = &[
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("d", "Request-Disposition"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("j", "Reject-Contact"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("n", "Identity-Info"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
];

/// Long header names written in their usual spelling, so that emitted messages look familiar.
const CANONICAL: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Contact",
    "Content-Length",
    "Content-Type",
    "Event",
    "Expires",
    "Accept",
    "Allow",
    "Allow-Events",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "Subscription-State",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authorization",
    "Proxy-Authorization",
    "Min-Expires",
    "Retry-After",
    "User-Agent",
    "Server",
    "Warning",
    "Route",
    "Record-Route",
];

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

/// The long form of a header name: compact names expanded, well-known names in their usual
/// spelling, anything else unchanged.
pub fn long_name(name: &str) -> &str {
    if name.len() == 1 {
        if let Some((_, long)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
            return long;
        }
    }
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(name)
}

/// Split a header value into its comma-separated elements (RFC 3261 §7.3.1), ignoring commas
/// inside quoted strings and `<...>`.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The value of parameter `name` (case-insensitive) in a `;name=value` list such as a Via or a
/// To header; `Some("")` for a parameter without value. Parameters inside `<...>` are the URI's
/// and are skipped.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let after_uri = match value.rfind('>') {
        Some(i) => value.get(i + 1..)?,
        None => value,
    };
    after_uri.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// The URI of a name-addr or addr-spec (`"Name" <sip:u@h>;tag=x` → `sip:u@h`).
pub fn addr_uri(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value.get(a + 1..b).unwrap_or(""),
        _ => value.split(';').next().unwrap_or("").trim(),
    }
}

/// The user part of a SIP URI (`sip:8000@host;user=phone` → `8000`), `None` without one.
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    if uri.starts_with("tel:") {
        return rest.split(';').next().filter(|u| !u.is_empty());
    }
    let (user, _) = rest.split_once('@')?;
    let user = user.split(':').next().unwrap_or(user);
    let user = user.split(';').next().unwrap_or(user);
    (!user.is_empty()).then_some(user)
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

    /// Shrink a bodiless response to at most `limit` octets when it is longer: optional header
    /// fields go first, the last added first, then the detail of the reason phrase
    /// (`Bad Request (missing From header)` → `Bad Request`). Via, From, To, Call-ID and CSeq
    /// stay (RFC 3261 §8.2.6.2), and so does the header field the status code requires
    /// ([`required_header`]): such a response may stay longer than `limit`. This keeps the
    /// answer to a small, perhaps forged, request from being much larger than it (issue 11:
    /// no reflection).
    pub fn trim_to(&mut self, limit: usize) {
        const KEEP: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];
        let required = self.code().and_then(required_header);
        let mut len = self.to_bytes().len();
        while len > limit {
            let optional = self.headers.iter().rposition(|h| {
                !KEEP.iter().any(|k| h.name.eq_ignore_ascii_case(k))
                    && required.map_or(true, |r| !h.name.eq_ignore_ascii_case(r))
            });
            let Some(i) = optional else {
                break;
            };
            let h = self.headers.remove(i);
            // "Name: value\r\n".
            len -= h.name.len() + h.value.len() + 4;
        }
        if let StartLine::Response { reason, .. } = &mut self.start {
            if let Some((plain, _)) = reason.split_once(" (").filter(|_| len > limit) {
                *reason = plain.to_owned();
            }
        }
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

/// Why a stream could not be framed; the connection must be closed (RFC 3261 §18.3: the
/// stream is out of step once a message boundary is unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The message (header section, or header section plus Content-Length) is longer than the
    /// maximum: `octets` (saturated at `usize::MAX` when the sum does not fit) and `max`.
    TooLarge {
        /// Octets the message claims or has so far.
        octets: usize,
        /// The configured maximum message size.
        max: usize,
    },
    /// A complete header section without Content-Length (mandatory on a stream, §20.14).
    NoContentLength,
    /// A Content-Length that is not 1*DIGIT, or two that differ.
    BadContentLength,
    /// A header section that is not UTF-8.
    NotUtf8,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { octets, max } if *octets == usize::MAX => {
                write!(f, "Content-Length beyond any size (maximum {max} octets)")
            }
            Self::TooLarge { octets, max } => {
                write!(f, "message of {octets} octets or more (maximum {max})")
            }
            Self::NoContentLength => f.write_str("no Content-Length on a stream transport"),
            Self::BadContentLength => f.write_str("malformed or conflicting Content-Length"),
            Self::NotUtf8 => f.write_str("header section not UTF-8"),
        }
    }
}

/// Stream framing (RFC 3261 §18.3), sans-IO: received octets in with [`Framer::push`],
/// whole messages out with [`Framer::next_message`]. Leading CRLF keep-alives (RFC 5626
/// §3.5.1) are skipped. Every length from the wire is checked against the maximum message
/// size before it is used, and the search for the end of the header section resumes where
/// it stopped, so a peer that sends one octet at a time costs linear time.
#[derive(Clone, Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Octets of `buf` already handed out.
    start: usize,
    /// Octets after `start` already searched for the end of the header section.
    scanned: usize,
    /// Length of the message at `start` once its header section has been read.
    need: Option<usize>,
    max: usize,
}

impl Framer {
    /// A framer for messages of at most `max` octets (`[sip] max_message_size`).
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            need: None,
            max,
        }
    }

    /// Append received octets. The caller takes every complete message out before the next
    /// push, so the buffer never holds more than one incomplete message (≤ max) plus one push.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Octets held that are not yet part of a returned message.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// The next complete message, `Ok(None)` when more octets are needed. Errors: see
    /// [`FrameError`]; the framer must not be used after one.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let skip = pending
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(pending.len());
        if skip > 0 {
            // Only between messages: a message under way never starts with CR or LF.
            self.start += skip;
            self.scanned = 0;
        }
        let rest = self.buf.get(self.start..).unwrap_or_default();
        if rest.is_empty() {
            if self.buf.capacity() > 4096 {
                // After a large message, an idle connection gives its buffer back.
                self.buf = Vec::new();
                self.start = 0;
            }
            return Ok(None);
        }
        let total = match self.need {
            Some(total) => total,
            None => {
                let total = self.header_section()?;
                self.need = total;
                match total {
                    Some(total) => total,
                    None => return Ok(None),
                }
            }
        };
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let Some(msg) = rest.get(..total) else {
            return Ok(None);
        };
        let msg = msg.to_vec();
        self.start += total;
        self.scanned = 0;
        self.need = None;
        Ok(Some(msg))
    }

    /// The length of the message at `start` from its header section, `Ok(None)` while the
    /// header section is incomplete.
    fn header_section(&mut self) -> Result<Option<usize>, FrameError> {
        let rest = self.buf.get(self.start..).unwrap_or_default();
        // The end-of-headers pattern is at most 3 octets, so 2 already-scanned ones suffice.
        let from = self.scanned.saturating_sub(2);
        let Some((head_len, body_start)) = rest
            .get(from..)
            .and_then(head_end)
            .map(|(h, b)| (from + h, from + b))
        else {
            self.scanned = rest.len();
            return if rest.len() > self.max {
                Err(FrameError::TooLarge {
                    octets: rest.len(),
                    max: self.max,
                })
            } else {
                Ok(None)
            };
        };
        let head = std::str::from_utf8(rest.get(..head_len).unwrap_or_default())
            .map_err(|_| FrameError::NotUtf8)?;
        let mut length = None;
        for line in head.split('\n').skip(1) {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if long_name(name.trim()) != "Content-Length" {
                continue;
            }
            let n = content_length(value.trim()).ok_or(FrameError::BadContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(FrameError::BadContentLength);
            }
            length = Some(n);
        }
        let length = length.ok_or(FrameError::NoContentLength)?;
        let total = body_start.saturating_add(length);
        if total > self.max {
            return Err(FrameError::TooLarge {
                octets: total,
                max: self.max,
            });
        }
        Ok(Some(total))
    }
}

/// The header field a response of status `code` that sipd sends must carry: WWW-Authenticate
/// in a 401 (RFC 3261 §21.4.2), Allow in a 405 (§21.4.6), Accept in a 415 (§21.4.13),
/// Unsupported in a 420 (§8.2.2.3).
pub fn required_header(code: u16) -> Option<&'static str> {
    Some(match code {
        401 => "WWW-Authenticate",
        405 => "Allow",
        415 => "Accept",
        420 => "Unsupported",
        _ => return None,
    })
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

/// The start line and whether its version is SIP/2.0. A request line is split at its first
/// and last space, so a Request-URI with a space in it reaches [`check_uri`] and gets 400; a
/// request of another `SIP/x.y` gets 505 (RFC 3261 §7.1, §8.2.2); anything else is not SIP.
fn parse_start(line: &str) -> Option<(StartLine, bool)> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().ok()?;
        return (100..=699).contains(&code).then(|| {
            let start = StartLine::Response {
                code,
                reason: reason.to_owned(),
            };
            (start, true)
        });
    }
    let (method, rest) = line.split_once(' ')?;
    let (uri, version) = rest.rsplit_once(' ')?;
    let (major, minor) = version
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and_then(|_| version.get(4..))?
        .split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_token(method) || uri.is_empty() || !digits(major) || !digits(minor) {
        return None;
    }
    let start = StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    };
    Some((start, major == "2" && minor == "0"))
}

/// What is wrong with a Request-URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UriDefect {
    /// Not `scheme:…` of RFC 3261 §19.1.1 / RFC 3966 grammar (400).
    Syntax,
    /// A well-formed scheme other than sip, sips or tel (416).
    Scheme,
}

/// Check a Request-URI against the grammar of RFC 3261 §25.1 (`SIP-URI`, `SIPS-URI`) or
/// RFC 3966 §3 (`telephone-uri`).
fn check_uri(uri: &str) -> Result<(), UriDefect> {
    let (scheme, rest) = uri.split_once(':').ok_or(UriDefect::Syntax)?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(UriDefect::Syntax);
    }
    let ok = if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        is_sip_uri(rest)
    } else if scheme.eq_ignore_ascii_case("tel") {
        is_tel_uri(rest)
    } else {
        return Err(UriDefect::Scheme);
    };
    ok.then_some(()).ok_or(UriDefect::Syntax)
}

/// RFC 3261 §25.1 `unreserved` and `escaped` characters, plus `extra`.
fn uri_chars(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !hex(i + 1) || !hex(i + 2) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c) || extra.contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// RFC 3261 §25.1 `param-unreserved` (with `unreserved` and `escaped`: `paramchar`).
const PARAM_UNRESERVED: &[u8] = b"[]/:&+$";
/// RFC 3261 §25.1 `hnv-unreserved` (URI headers).
const HNV_UNRESERVED: &[u8] = b"[]/?:+$";

/// `name[=value]` URI parameters after `;`: a non-empty name of `name_chars`, a non-empty
/// value of `paramchar` when `=` is there.
fn uri_params<'a>(mut params: impl Iterator<Item = &'a str>, name_ok: fn(&str) -> bool) -> bool {
    params.all(|p| {
        let (name, value) = p.split_once('=').unwrap_or((p, "x"));
        !name.is_empty() && name_ok(name) && !value.is_empty() && uri_chars(value, PARAM_UNRESERVED)
    })
}

/// The part of a SIP-URI after `sip:`: `[userinfo "@"] hostport uri-parameters [headers]`.
fn is_sip_uri(rest: &str) -> bool {
    let (userinfo, after) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if let Some(u) = userinfo {
        let (user, password) = u.split_once(':').unwrap_or((u, ""));
        if user.is_empty() || !uri_chars(user, b"&=+$,;?/") || !uri_chars(password, b"&=+$,") {
            return false;
        }
    }
    let (hostpart, headers) = match after.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (after, None),
    };
    let mut params = hostpart.split(';');
    params.next().is_some_and(is_hostport)
        && uri_params(params, |n| uri_chars(n, PARAM_UNRESERVED))
        && headers.map_or(true, |q| {
            q.split('&').all(|h| {
                h.split_once('=').is_some_and(|(n, v)| {
                    !n.is_empty() && uri_chars(n, HNV_UNRESERVED) && uri_chars(v, HNV_UNRESERVED)
                })
            })
        })
}

/// The part of a tel URI after `tel:` (RFC 3966 §3): a global number (`+` and digits) or a
/// local one (hex digits, `*`, `#`), visual separators `-.()`, then `;name[=value]`.
fn is_tel_uri(rest: &str) -> bool {
    let mut parts = rest.split(';');
    let number = parts.next().unwrap_or_default();
    let visual = |b: u8| b"-.()".contains(&b);
    let number_ok = match number.strip_prefix('+') {
        Some(global) => {
            global.bytes().any(|b| b.is_ascii_digit())
                && global.bytes().all(|b| b.is_ascii_digit() || visual(b))
        }
        None => {
            let dial = |b: u8| b.is_ascii_hexdigit() || b == b'*' || b == b'#';
            number.bytes().any(dial) && number.bytes().all(|b| dial(b) || visual(b))
        }
    };
    number_ok
        && uri_params(parts, |n| {
            n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// RFC 3261 §25.1 `host`: a hostname, an IPv4 address or a bracketed IPv6 reference.
fn is_host(h: &str) -> bool {
    if let Some(v6) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if h.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let name = h.strip_suffix('.').unwrap_or(h);
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    name.split('.').all(label_ok)
        && name
            .rsplit('.')
            .next()
            .is_some_and(|top| top.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// RFC 3261 §25.1 `port = 1*DIGIT`, here also within 0..=65535.
fn is_port(p: &str) -> bool {
    (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

/// RFC 3261 §25.1 `hostport = host [ ":" port ]`.
fn is_hostport(s: &str) -> bool {
    let split = if s.starts_with('[') {
        s.find(']').map(|i| i + 1)
    } else {
        Some(s.find(':').unwrap_or(s.len()))
    };
    let Some((host, port)) = split.and_then(|i| Some((s.get(..i)?, s.get(i..)?))) else {
        return false;
    };
    is_host(host) && (port.is_empty() || port.strip_prefix(':').is_some_and(is_port))
}

/// One `via-parm` (RFC 3261 §20.42, §25.1): `SIP/2.0/transport sent-by *(;via-params)`, with
/// `received` an IP address, `rport` empty or a port (RFC 3581 §3), `ttl` 0..=255, `maddr` a
/// host, and every other parameter `token [= (token / host / quoted-string)]`.
fn is_via(via: &str) -> bool {
    let (head, params) = match via.split_once(';') {
        Some((h, p)) => (h, Some(p)),
        None => (via, None),
    };
    let mut proto = head.splitn(3, '/');
    let (Some(name), Some(version), Some(rest)) = (proto.next(), proto.next(), proto.next()) else {
        return false;
    };
    let Some((transport, sent_by)) = rest.trim_start().split_once([' ', '\t']) else {
        return false;
    };
    // `COLON = SWS ":" SWS`: spaces around the port's colon are allowed, nowhere else.
    let sent_by = sent_by
        .split(':')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(":");
    let head_ok = name.trim().eq_ignore_ascii_case("SIP")
        && version.trim() == "2.0"
        && is_token(transport)
        && !sent_by.contains(char::is_whitespace)
        && is_hostport(&sent_by);
    head_ok && params.map_or(true, |p| p.split(';').all(is_via_param))
}

/// One `via-params` element (RFC 3261 §20.42, RFC 3581 §3).
fn is_via_param(p: &str) -> bool {
    let (name, value) = match p.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (p.trim(), None),
    };
    let quoted = |v: &str| v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
    is_token(name)
        && match (name.to_ascii_lowercase().as_str(), value) {
            ("received", Some(v)) => v.parse::<std::net::IpAddr>().is_ok(),
            ("rport", Some(v)) => is_port(v),
            ("ttl", Some(v)) => v.len() <= 3 && v.parse::<u8>().is_ok(),
            ("maddr", Some(v)) => is_host(v),
            ("branch", Some(v)) => is_token(v),
            ("received" | "ttl" | "maddr" | "branch", None) => false,
            (_, Some(v)) => is_token(v) || is_host(v) || quoted(v),
            (_, None) => true,
        }
}

/// The largest ratio of a response's octets to its request's: a forged source gains little
/// by reflecting off sipd (issue 11).
pub const AMPLIFICATION: usize = 2;

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

/// RFC 3261 §25.1 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFY: &str = "NOTIFY sip:8000@192.0.2.1:5060 SIP/2.0\r\n\
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

    fn rejection(text: &str) -> (u16, String) {
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

    /// Every message `framer` gives for `input` pushed in chunks of `chunk` octets.
    fn frame_all(input: &[u8], chunk: usize, max: usize) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            framer.push(c);
            while let Some(m) = framer.next_message()? {
                out.push(m);
            }
        }
        Ok(out)
    }

    #[test]
    fn frames_a_stream_in_any_chunking() {
        let one = NOTIFY.as_bytes();
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(one);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(one);
        for chunk in [1, 2, 3, 7, 100, stream.len()] {
            let got = frame_all(&stream, chunk, 65_536).unwrap();
            assert_eq!(got, vec![one.to_vec(), one.to_vec()], "chunks of {chunk}");
        }
        let mut framer = Framer::new(65_536);
        framer.push(&one[..one.len() - 1]);
        assert_eq!(framer.next_message(), Ok(None));
        assert_eq!(framer.buffered(), one.len() - 1);
        let compact = NOTIFY.replace("Content-Length: 23", "l: 23");
        assert_eq!(frame_all(compact.as_bytes(), 5, 65_536).unwrap().len(), 1);
    }

    #[test]
    fn framing_errors_close_the_stream() {
        let no_len = NOTIFY.replace("Content-Length: 23\r\n", "");
        assert_eq!(
            frame_all(no_len.as_bytes(), 9, 65_536),
            Err(FrameError::NoContentLength)
        );
        for bad in [
            "+23",
            "-1",
            "0x17",
            "23 4",
            "",
            "99999999999999999999999999",
        ] {
            let text = NOTIFY.replace("Content-Length: 23", &format!("Content-Length: {bad}"));
            assert_eq!(
                frame_all(text.as_bytes(), 64, 65_536),
                Err(FrameError::BadContentLength),
                "{bad:?}"
            );
        }
        let twice = NOTIFY.replace("Content-Length: 23", "Content-Length: 23\r\nl: 0");
        assert_eq!(
            frame_all(twice.as_bytes(), 64, 65_536),
            Err(FrameError::BadContentLength)
        );
        let huge = NOTIFY.replace("Content-Length: 23", "Content-Length: 1000000");
        assert!(matches!(
            frame_all(huge.as_bytes(), 64, 65_536),
            Err(FrameError::TooLarge { octets, max: 65_536 }) if octets > 1_000_000
        ));
        assert!(matches!(
            frame_all(NOTIFY.as_bytes(), 64, 100),
            Err(FrameError::TooLarge { max: 100, .. })
        ));
        let endless = vec![b'a'; 70_000];
        assert!(matches!(
            frame_all(&endless, 4096, 65_536),
            Err(FrameError::TooLarge { max: 65_536, .. })
        ));
    }

    /// The issue 11 case: header length + Content-Length wraps a 64-bit size. Before the
    /// fix the debug build panicked on the addition and the release build framed 0-octet
    /// messages forever.
    #[test]
    fn a_wrapping_content_length_is_refused() {
        let head = "OPTIONS sip:x@h SIP/2.0\r\nContent-Length: ";
        let blank = "\r\n\r\n";
        let wrap = usize::MAX - (head.len() + 20 + blank.len()) + 1;
        let text = format!("{head}{wrap:020}{blank}");
        assert_eq!(
            frame_all(text.as_bytes(), 7, 65_536),
            Err(FrameError::TooLarge {
                octets: usize::MAX,
                max: 65_536
            })
        );
    }

    #[test]
    fn a_slow_drip_costs_linear_time() {
        let mut framer = Framer::new(65_536);
        let start = std::time::Instant::now();
        for _ in 0..60_000 {
            framer.push(b"a");
            assert_eq!(framer.next_message(), Ok(None));
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    fn parse_err(text: &str) -> Defect {
        Message::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn another_sip_version_gets_505() {
        for version in ["SIP/3.0", "SIP/1.0", "sip/2.1"] {
            let text = NOTIFY.replace("SIP/2.0\r\nVia", &format!("{version}\r\nVia"));
            assert_eq!(rejection(&text).0, 505, "{version}");
        }
        let not_sip = NOTIFY.replace("SIP/2.0\r\nVia", "HTTP/1.1\r\nVia");
        assert!(matches!(parse_err(&not_sip), Defect::Unreadable(_)));
        let lower = NOTIFY.replace("SIP/2.0\r\nVia", "sip/2.0\r\nVia");
        assert!(Message::parse(lower.as_bytes()).is_ok());
    }

    #[test]
    fn a_bad_request_uri_gets_400_and_another_scheme_416() {
        let uri = "sip:8000@192.0.2.1:5060";
        for bad in [
            "foo",
            "sip:",
            "sip:@h",
            "sip:8000@",
            "sip:8000@ho st",
            "sip:8000@h:99999",
            "sip:8000@h;;",
            "sip:8000@h?x",
            "<sip:8000@h>",
            "sip:8000@[::1",
            "sip:80%zz@h",
            "sip:8000@-h",
            "sip:8000@192.0.2.300",
            "tel:",
            "tel:+",
            "tel:12;=",
        ] {
            let text = NOTIFY.replace(uri, bad);
            assert_eq!(
                rejection(&text),
                (400, "Bad Request (malformed Request-URI)".into()),
                "{bad}"
            );
        }
        // rsip 0.4 refuses IPv6 references and global numbers in URIs; the grammar here
        // accepts them.
        assert_eq!(check_uri("sip:8000@[2001:db8::1]:5061;lr"), Ok(()));
        assert_eq!(check_uri("tel:+1-201-555-0123"), Ok(()));
        for scheme in ["http://x", "mailto:a@b"] {
            assert_eq!(rejection(&NOTIFY.replace(uri, scheme)).0, 416, "{scheme}");
        }
        for good in [
            "sip:8000@h",
            "SIP:8000@h.example.com.",
            "sips:8000:pw@192.0.2.1:5061;transport=tcp;lr",
            "sip:%38000;phone-context=x@h?subject=a&b=c",
            "sip:h",
            "tel:8000;phone-context=example.com",
        ] {
            let text = NOTIFY.replace(uri, good);
            let r = Message::parse(text.as_bytes());
            assert!(r.is_ok(), "{good}: {:?}", r.map_err(|e| e.to_string()));
        }
    }

    #[test]
    fn a_bad_via_gets_400() {
        let via = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds";
        for bad in [
            "garbage;branch=z9hG4bK1",
            "SIP/2.0/UDP ;branch=z9hG4bKx",
            "SIP/3.0/UDP h;branch=z9hG4bKx",
            "SIP/2.0/UDP h:99999;branch=z9hG4bKx",
            "SIP/2.0/UDP [::1;branch=z9hG4bKx",
            "SIP/2.0/UDP h h;branch=z9hG4bKx",
            "SIP/2.0/UDP h;branch=z9hG4bKx;rport=abc",
            "SIP/2.0/UDP h;branch=z9hG4bKx;received=h",
            "SIP/2.0/UDP h;branch=z9hG4bKx;ttl=256",
            "SIP/2.0/U@P h;branch=z9hG4bKx",
            "SIP/2.0/UDP h;branch=z9hG4bKx, garbage",
        ] {
            let text = NOTIFY.replace(via, bad);
            assert_eq!(
                rejection(&text),
                (400, "Bad Request (malformed Via header)".into()),
                "{bad}"
            );
        }
        for good in [
            "SIP/2.0/TCP h;branch=z9hG4bKx;rport;received=192.0.2.1",
            "SIP / 2.0 / UDP h : 5060 ;branch=z9hG4bKx",
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx;received=2001:db8::2;rport=5060",
            "SIP/2.0/UDP h;branch=z9hG4bKx;x-a=\"q r\";maddr=192.0.2.1;ttl=16",
            "SIP/2.0/UDP h;branch=z9hG4bKx, SIP/2.0/TLS p.example.com:5061;branch=z9hG4bKy",
        ] {
            let text = NOTIFY.replace(via, good);
            let r = Message::parse(text.as_bytes());
            assert!(r.is_ok(), "{good}: {:?}", r.map_err(|e| e.to_string()));
        }
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

    #[test]
    fn trim_keeps_the_dialog_headers() {
        let m = Message::parse(NOTIFY.as_bytes()).unwrap();
        let mut r = m.response(400, "Bad Request (something long)", "t");
        r.push("Allow", ALLOW);
        r.push("Server", "dahdi-mwi");
        let full = r.to_bytes().len();
        let mut same = r.clone();
        same.trim_to(full);
        assert_eq!(same, r);
        let mut challenge = m.response(401, "Unauthorized", "t");
        challenge.push("WWW-Authenticate", "Digest realm=\"r\", nonce=\"n\"");
        challenge.push("Server", "dahdi-mwi");
        challenge.trim_to(10);
        assert!(challenge.header("WWW-Authenticate").is_some());
        assert_eq!(challenge.header("Server"), None);
        let mut less = r.clone();
        less.trim_to(full - 1);
        assert_eq!(less.header("Server"), None);
        assert_eq!(less.header("Allow"), Some(ALLOW));
        assert!(less.to_bytes().len() < full);
        let mut least = r.clone();
        least.trim_to(10);
        assert_eq!(least.code(), Some(400));
        assert!(
            matches!(&least.start, StartLine::Response { reason, .. } if reason == "Bad Request")
        );
        let names: Vec<_> = least.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Via", "To", "From", "Call-ID", "CSeq"]);
    }

    #[test]
    fn helpers() {
        assert_eq!(
            split_list("SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b"),
            vec!["SIP/2.0/UDP a;branch=1", "SIP/2.0/UDP b"]
        );
        assert_eq!(
            split_list("\"a,b\" <sip:x>, c"),
            vec!["\"a,b\" <sip:x>", "c"]
        );
        assert_eq!(
            addr_uri("\"V\" <sip:8000@h;user=phone>;tag=1"),
            "sip:8000@h;user=phone"
        );
        assert_eq!(param("<sip:a@h;tag=no>;tag=yes", "TAG"), Some("yes"));
        assert_eq!(uri_user("sip:8000:pw@h"), Some("8000"));
        assert_eq!(uri_user("sip:h"), None);
        assert_eq!(uri_user("tel:8000;phone-context=x"), Some("8000"));
        assert_eq!(long_name("call-id"), "Call-ID");
        assert_eq!(long_name("X-Foo"), "X-Foo");
    }
}
