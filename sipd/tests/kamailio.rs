//! sipd against Kamailio 5.6 (Debian packages) on loopback: registrar with auth_db (accounts in
//! sqlite) and MWI server with presence + presence_mwi (subscriptions in memory,
//! `subs_db_mode` 0). One instance challenges with MD5, another with SHA-256 (Kamailio uses one
//! algorithm per instance). Each test: REGISTER with digest (qop=auth), SUBSCRIBE answered by a
//! body-less first NOTIFY, PUBLISH → NOTIFY → state in the MWI table for several numbers, a
//! refresh on the wire, Kamailio restarted → sipd subscribes again.

mod common;

use common::{free_port, request, try_udp_request, udp_request, wait_for, Proc, Sipd};
use mwi_core::MwiState;
use std::path::Path;
use std::process::Command;

const SCHEMA: &str = "/usr/share/kamailio/db_sqlite";
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";
const NUMBERS: [&str; 3] = ["8000", "8001", "8002"];

/// Kamailio's configuration: digest with `algorithm` and qop=auth for REGISTER and SUBSCRIBE,
/// presence for SUBSCRIBE/PUBLISH, OPTIONS answered.
fn kamailio_cfg(dir: &Path, port: u16, algorithm: &str) -> String {
    let db = dir.join("kamailio.sqlite");
    let db = db.display();
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="{MODULES}"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "db_sqlite.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "presence.so"
loadmodule "presence_mwi.so"
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "qop", "auth")
modparam("auth_db", "db_url", "sqlite:///{db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("usrloc", "db_mode", 0)
modparam("presence", "db_url", "sqlite:///{db}")
modparam("presence", "subs_db_mode", 0)
modparam("presence", "publ_cache", 2)
modparam("presence", "server_address", "sip:127.0.0.1:{port}")

request_route {{
    xlog("L_INFO", "$rm $ru from $si:$sp cseq $cs\n");
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("REGISTER|SUBSCRIBE")) {{
        if (!www_authorize("$fd", "subscriber")) {{ www_challenge("$fd", "1"); exit; }}
        consume_credentials();
    }}
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (is_method("PUBLISH|SUBSCRIBE")) {{
        if (!t_newtran()) {{ sl_reply_error(); exit; }}
        if (is_method("PUBLISH")) {{ handle_publish(); }} else {{ handle_subscribe(); }}
        t_release();
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
"#
    )
}

/// A Kamailio instance in `dir` on `port`.
struct Kamailio {
    dir: std::path::PathBuf,
    port: u16,
    proc: Option<Proc>,
    starts: u32,
}

impl Kamailio {
    fn new(dir: &Path, port: u16, algorithm: &str) -> Self {
        let db = dir.join("kamailio.sqlite");
        let mut sql = String::new();
        for schema in ["standard", "auth_db", "presence"] {
            let path = format!("{SCHEMA}/{schema}-create.sql");
            sql += &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}; is kamailio-sqlite-modules installed?"));
        }
        sql += "INSERT INTO subscriber (username, domain, password, ha1, ha1b) \
                VALUES ('user1', '127.0.0.1', 'password1', '', '');\n";
        let out = Command::new("sqlite3")
            .arg(&db)
            .arg(&sql)
            .output()
            .expect("sqlite3 is needed to create Kamailio's account table");
        assert!(out.status.success(), "sqlite3: {out:?}");
        std::fs::write(dir.join("kamailio.cfg"), kamailio_cfg(dir, port, algorithm))
            .expect("write cfg");
        let mut k = Self {
            dir: dir.to_owned(),
            port,
            proc: None,
            starts: 0,
        };
        k.start();
        k
    }

    fn start(&mut self) {
        let dir = &self.dir;
        let proc = Proc::spawn(
            "kamailio",
            Command::new("kamailio")
                .arg("-f")
                .arg(dir.join("kamailio.cfg"))
                .args(["-DD", "-E", "-m", "64", "-M", "8"])
                .arg("-Y")
                .arg(dir)
                .arg("-w")
                .arg(dir),
            &dir.join(format!("kamailio-{}.log", self.starts)),
        );
        self.proc = Some(proc);
        self.starts += 1;
        let port = self.port;
        wait_for(10, "Kamailio to answer OPTIONS", || {
            let mut o = request(
                "OPTIONS",
                &format!("sip:127.0.0.1:{port}"),
                "probe",
                "probe",
            );
            o.push("Content-Length", "0");
            try_udp_request(port, &o)
        });
    }

    fn restart(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
        self.start();
    }

    /// PUBLISH a message-summary for `number` (RFC 3903), expecting 200.
    fn publish(&self, number: &str, body: &str, n: u32) {
        let port = self.port;
        let mut p = request(
            "PUBLISH",
            &format!("sip:{number}@127.0.0.1:{port}"),
            number,
            &format!("pub{number}x{n}"),
        );
        p.push("Event", "message-summary");
        p.push("Expires", "3600");
        p.push("Content-Type", "application/simple-message-summary");
        p.body = body.as_bytes().to_vec();
        let rsp = udp_request(port, &p);
        assert_eq!(rsp.code(), Some(200), "PUBLISH {number}: {rsp:?}");
    }
}

fn sipd_config(kport: u16, transport: &str) -> String {
    let fxs: String = NUMBERS
        .iter()
        .enumerate()
        .map(|(i, n)| format!("[[fxs]]\nchannel = {}\nnumber = \"{n}\"\n", i + 1))
        .collect();
    format!(
        "[sip.auth]\nusername = \"user1\"\npassword = \"password1\"\n\
         [registrar]\nserver = \"ipv4:127.0.0.1\"\nport = {kport}\ntransport = \"{transport}\"\n\
         expires = 60\n\
         [mwi_server]\nserver = \"ipv4:127.0.0.1\"\nport = {kport}\ntransport = \"{transport}\"\n\
         expires = 6\noptions_interval = 5\n{fxs}"
    )
}

fn flow(algorithm: &str, transport: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kport = free_port();
    let mut kam = Kamailio::new(dir.path(), kport, algorithm);
    let sipd = Sipd::start(dir.path(), &sipd_config(kport, transport));

    // REGISTER with digest, SUBSCRIBE per number; the first NOTIFY has no body.
    wait_for(15, "registration", || {
        sipd.status().filter(|s| s.registration == "registered")
    });
    let st = sipd.wait_active(15);
    assert!(st.numbers.iter().all(|n| !n.known), "{st:?}");
    let log = sipd.log();
    assert!(
        log.contains(&format!("algorithm={algorithm}")),
        "digest {algorithm} on the wire"
    );
    assert!(
        log.contains("qop=auth, nc=00000001"),
        "qop=auth with a nonce count"
    );
    assert_eq!(st.server_state, "up", "OPTIONS ping answered");

    // PUBLISH → NOTIFY → the MWI table, for several numbers.
    let states = [
        (
            "8000",
            "Messages-Waiting: yes\r\nMessage-Account: sip:8000@127.0.0.1\r\nVoice-Message: 2/8 (0/2)\r\n",
            MwiState {
                waiting: true,
                new: 2,
                old: 8,
                urgent_old: 2,
                ..MwiState::default()
            },
        ),
        (
            "8001",
            "Messages-Waiting: no\r\nVoice-Message: 0/3\r\n",
            MwiState::voice(false, 0, 3),
        ),
        ("8002", "Messages-Waiting: yes\r\n", MwiState::voice(true, 0, 0)),
    ];
    for (i, (number, body, _)) in states.iter().enumerate() {
        kam.publish(number, body, i as u32);
    }
    for (number, _, want) in &states {
        wait_for(10, &format!("state of {number} in the table"), || {
            (sipd.table_state(number) == Some(*want)).then_some(())
        });
    }
    let st = sipd.status().expect("status");
    assert!(st
        .numbers
        .iter()
        .any(|n| n.number == "8000" && n.mwi && n.new == 2));

    // expires = 6: a refresh (in-dialog SUBSCRIBE, CSeq 3 after the challenged CSeq 1 and 2)
    // goes out within 6 s and is accepted.
    wait_for(10, "a refresh SUBSCRIBE on the wire", || {
        sipd.log().contains("CSeq: 3 SUBSCRIBE").then_some(())
    });
    sipd.wait_active(10);

    // Kamailio restarted (subscriptions were in memory): the next refresh gets 481 (or fails
    // on the wire) and sipd subscribes again; a new PUBLISH reaches the table.
    let renewals = |log: String| log.matches("new subscription in").count();
    let before = renewals(sipd.log());
    kam.restart();
    wait_for(60, "subscriptions renewed after the restart", || {
        (renewals(sipd.log()) >= before + NUMBERS.len()).then_some(())
    });
    sipd.wait_active(60);
    kam.publish("8000", "Messages-Waiting: no\r\nVoice-Message: 0/9\r\n", 10);
    wait_for(10, "state after the restart", || {
        (sipd.table_state("8000") == Some(MwiState::voice(false, 0, 9))).then_some(())
    });
}

#[test]
fn kamailio_md5_over_udp() {
    flow("MD5", "udp");
}

#[test]
fn kamailio_sha256_over_tcp() {
    flow("SHA-256", "tcp");
}
