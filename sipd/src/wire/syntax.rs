//! The grammar checks rsip 0.4 leaves out: the start line and SIP version (RFC 3261 §7.1),
//! the Request-URI (RFC 3261 §25.1 SIP-URI, RFC 3966 §3 telephone-uri), Via (RFC 3261 §20.42)
//! and `token`.

use super::StartLine;

/// The methods rsip 0.4 knows (RFC 3261, 3262, 3311, 3428, 3515, 3903, 6086, 6665).
pub(super) const KNOWN_METHODS: &[&str] = &[
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

/// The start line and whether its version is SIP/2.0. A request line is split at its first
/// and last space, so a Request-URI with a space in it reaches [`check_uri`] and gets 400; a
/// request of another `SIP/x.y` gets 505 (RFC 3261 §7.1, §8.2.2); anything else is not SIP.
pub(super) fn parse_start(line: &str) -> Option<(StartLine, bool)> {
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
pub(super) enum UriDefect {
    /// Not `scheme:…` of RFC 3261 §19.1.1 / RFC 3966 grammar (400).
    Syntax,
    /// A well-formed scheme other than sip, sips or tel (416).
    Scheme,
}

/// Check a Request-URI against the grammar of RFC 3261 §25.1 (`SIP-URI`, `SIPS-URI`) or
/// RFC 3966 §3 (`telephone-uri`).
pub(super) fn check_uri(uri: &str) -> Result<(), UriDefect> {
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
pub(super) fn is_via(via: &str) -> bool {
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

/// RFC 3261 §25.1 `token`.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::{rejection, NOTIFY};
    use crate::wire::{Defect, Message};

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
}
