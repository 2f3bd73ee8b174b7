//! Response size against reflection (issue 11): the bound on a response's size relative to its
//! request, and the trimming that keeps a response within it.

use super::{Message, StartLine};

/// The largest ratio of a response's octets to its request's: a forged source gains little
/// by reflecting off sipd (issue 11).
pub const AMPLIFICATION: usize = 2;

impl Message {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::NOTIFY;
    use crate::wire::ALLOW;

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
}
