//! Header names and values: compact and canonical names (RFC 3261 §7.3.3), comma-separated
//! lists (§7.3.1), parameters, and the URI and user part of a name-addr.

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

/// The hostport of a SIP URI (`sip:8000@h:5060;user=phone` → `h:5060`, RFC 3261 §19.1.1),
/// `None` for another scheme or an empty host.
pub fn uri_hostport(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = rest.split([';', '?', '>']).next().unwrap_or(rest);
    (!host.is_empty()).then_some(host)
}

/// `user` as the user part of a SIP URI: characters outside RFC 3261 §25.1's `unreserved`
/// and `user-unreserved` escaped (`#` → `%23`; `*` stays).
pub fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `name` as a quoted-string display name (RFC 3261 §25.1: `"` and `\` as quoted-pair).
pub fn quote(name: &str) -> String {
    let mut out = String::from("\"");
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `value` without its `tag` parameter (the URI of a From or To for the dialog state).
pub fn without_tag(value: &str) -> String {
    let from = value.find('>').unwrap_or(0);
    let lower = value.to_ascii_lowercase();
    match lower.get(from..).and_then(|s| s.find(";tag=")) {
        Some(i) => {
            let i = from + i;
            let end = value[i + 1..].find(';').map_or(value.len(), |j| i + 1 + j);
            format!("{}{}", &value[..i], &value[end..])
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(uri_hostport("sip:8000@h:5060;user=phone"), Some("h:5060"));
        assert_eq!(uri_hostport("sips:[::1]?x=y"), Some("[::1]"));
        assert_eq!(uri_hostport("sip:8000@"), None);
        assert_eq!(uri_hostport("tel:8000"), None);
        assert_eq!(long_name("call-id"), "Call-ID");
        assert_eq!(long_name("X-Foo"), "X-Foo");
    }

    #[test]
    fn values_of_a_call_party() {
        // The tag parameter of the name-addr goes, one inside its URI stays, in any case.
        assert_eq!(
            without_tag("<sip:a@h;tag=in>;TAG=out;x=1"),
            "<sip:a@h;tag=in>;x=1"
        );
        assert_eq!(without_tag("sip:a@h;tag=1"), "sip:a@h");
        assert_eq!(without_tag("<sip:a@h>"), "<sip:a@h>");
        assert_eq!(escape_user("*21#9 x"), "*21%239%20x");
        assert_eq!(quote(r#"A "b" \c"#), r#""A \"b\" \\c""#);
    }
}
