//! The voice-mail server of the load programs (`soak`, `junk-flood`): unsolicited NOTIFYs
//! (RFC 3265/6665 message-summary, RFC 3842 body) to sipd over UDP, each a client transaction
//! retransmitted as RFC 3261 §17.1.2.2 says (Timer E from T1 = 500 ms, doubling to T2 = 4 s)
//! until a final response; answers matched by Via branch; retransmissions and refusals counted.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::sip::Summary;

/// The `[[pri]]` pattern of the load programs' served users (20000, 20001, ...).
pub const SERVED_PATTERN: &str = "2....";

/// `[table] capacity` for `numbers` served users: room for each twice over, and at least the
/// 10,000 numbers [`SERVED_PATTERN`] serves (check-config refuses a capacity below them).
pub fn table_capacity(numbers: u32) -> u32 {
    numbers.saturating_mul(2).clamp(10_000, 1 << 24)
}

/// One NOTIFY transaction of the voice-mail server.
struct Pending {
    number: u32,
    text: String,
    next: Instant,
    interval: Duration,
}

/// The voice-mail server: sends, retransmits, matches answers by branch.
pub struct VoiceMailLoad {
    socket: UdpSocket,
    to: SocketAddr,
    seq: u64,
    pending: HashMap<String, Pending>,
    /// Branch of the newest NOTIFY per number.
    newest: HashMap<u32, String>,
    /// Last state sent per number.
    pub last: HashMap<u32, bool>,
    /// NOTIFYs sent (retransmissions not counted).
    pub sent: u64,
    /// Retransmissions: a NOTIFY not answered within T1 (500 ms), then 1 s, 2 s...
    pub retransmitted: u64,
    /// NOTIFYs answered 200.
    pub answered: u64,
    /// Final responses other than 200, by status line.
    pub refused: HashMap<String, u64>,
    /// NOTIFYs refused with 5xx, sent again (as a new transaction) at the instant given
    /// unless a newer NOTIFY for the number went out meanwhile.
    retry: Vec<(Instant, u32, bool)>,
}

impl VoiceMailLoad {
    /// A voice-mail server on a non-blocking UDP socket of 127.0.0.1 (any port), sending to
    /// `to` (sipd).
    ///
    /// Errors: the socket could not be made.
    pub fn bind(to: SocketAddr) -> Result<Self, String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Self {
            socket,
            to,
            seq: 0,
            pending: HashMap::new(),
            newest: HashMap::new(),
            last: HashMap::new(),
            sent: 0,
            retransmitted: 0,
            answered: 0,
            refused: HashMap::new(),
            retry: Vec::new(),
        })
    }

    /// NOTIFY transactions not answered yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// NOTIFYs refused with 5xx and waiting to be sent again.
    pub fn retrying(&self) -> usize {
        self.retry.len()
    }

    /// Send a NOTIFY for `number` with `waiting` (and 1-5 new messages when waiting) as a new
    /// UDP client transaction; a pending older one for the number is forgotten.
    ///
    /// Errors: the socket has no local address.
    pub fn send(&mut self, now: Instant, number: u32, waiting: bool) -> Result<(), String> {
        self.seq += 1;
        let me = self.socket.local_addr().map_err(|e| e.to_string())?;
        let branch = format!("z9hG4bK-soak-{}", self.seq);
        let body = Summary {
            number: number.to_string(),
            waiting,
            new: u32::from(waiting) * (1 + number % 5),
            old: 0,
        }
        .body(me);
        let text = format!(
            "NOTIFY sip:{number}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:voicemail@{ip}>;tag=soak\r\n\
             To: <sip:{number}@{ip}>\r\nCall-ID: soak-{seq}@{ip}\r\nCSeq: 1 NOTIFY\r\n\
             Event: message-summary\r\nSubscription-State: active\r\n\
             Content-Type: application/simple-message-summary\r\nContent-Length: {len}\r\n\r\n{body}",
            to = self.to,
            ip = me.ip(),
            seq = self.seq,
            len = body.len(),
        );
        if let Some(old) = self.newest.insert(number, branch.clone()) {
            self.pending.remove(&old);
        }
        self.last.insert(number, waiting);
        let _ = self.socket.send_to(text.as_bytes(), self.to);
        self.sent += 1;
        self.pending.insert(
            branch,
            Pending {
                number,
                text,
                next: now + Duration::from_millis(500),
                interval: Duration::from_millis(500),
            },
        );
        Ok(())
    }

    /// Read every answer waiting; retransmit what is due (Timer E, T2 = 4 s).
    pub fn service(&mut self, now: Instant) {
        let mut buf = [0u8; 4096];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            let Some(branch) = text
                .split("branch=")
                .nth(1)
                .and_then(|b| b.split([';', '\r', '\n']).next())
            else {
                continue;
            };
            if text.starts_with("SIP/2.0 1") {
                continue;
            }
            if let Some(p) = self.pending.remove(branch) {
                if self.newest.get(&p.number).is_some_and(|b| b == branch) {
                    self.newest.remove(&p.number);
                }
                if text.starts_with("SIP/2.0 200") {
                    self.answered += 1;
                } else {
                    let status = text.lines().next().unwrap_or_default().to_owned();
                    *self.refused.entry(status).or_default() += 1;
                    if text.starts_with("SIP/2.0 5") {
                        let waiting = self.last.get(&p.number).copied().unwrap_or(false);
                        self.retry
                            .push((now + Duration::from_secs(1), p.number, waiting));
                    }
                }
            }
        }
        let due: Vec<_> = self.retry.iter().filter(|r| r.0 <= now).copied().collect();
        self.retry.retain(|r| r.0 > now);
        for (_, number, waiting) in due {
            if !self.newest.contains_key(&number) && self.last.get(&number) == Some(&waiting) {
                let _ = self.send(now, number, waiting);
            }
        }
        for p in self.pending.values_mut() {
            if p.next <= now {
                let _ = self.socket.send_to(p.text.as_bytes(), self.to);
                self.retransmitted += 1;
                p.interval = (p.interval * 2).min(Duration::from_secs(4));
                p.next = now + p.interval;
            }
        }
    }
}
