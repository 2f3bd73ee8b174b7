//! Stream framing (RFC 3261 §18.3): whole messages cut out of a TCP byte stream by their
//! Content-Length.

use super::{content_length, head_end, long_name};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::NOTIFY;

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
}
