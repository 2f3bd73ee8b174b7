//! A name server on loopback for the `dns:` MWI server of a test: it answers every query with
//! the SRV records it was given (RFC 2782), which sipd reads through `SIPD_NAMESERVERS`.

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::SRV;
use hickory_proto::rr::{Name, RData, Record};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One SRV record: priority, port and target (an IP address literal, so no further lookup
/// leaves the machine).
#[derive(Clone, Copy, Debug)]
pub struct SrvTarget {
    /// Lower is tried first.
    pub priority: u16,
    /// The port the target listens on.
    pub port: u16,
    /// The target's address, e.g. `127.0.0.1`.
    pub target: &'static str,
}

/// Serve on a free port of 127.0.0.1, answering every query with SRV records for `targets`,
/// until `stop`; returns the server's address (the value of `SIPD_NAMESERVERS`).
pub fn srv_server(targets: Vec<SrvTarget>, stop: Arc<AtomicBool>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let addr = sock.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let q = Message::from_vec(&buf[..n]).expect("a DNS query");
            let mut a = Message::new();
            a.set_id(q.id()).set_message_type(MessageType::Response);
            a.add_query(q.queries()[0].clone());
            for t in &targets {
                a.add_answer(Record::from_rdata(
                    q.queries()[0].name().clone(),
                    60,
                    RData::SRV(SRV::new(
                        t.priority,
                        0,
                        t.port,
                        Name::from_ascii(format!("{}.", t.target)).expect("a target name"),
                    )),
                ));
            }
            sock.send_to(&a.to_vec().expect("encode"), from)
                .expect("send");
        }
    });
    addr
}
