//! The configuration schema, its defaults, and every validation rule with its position.

use std::net::IpAddr;

use fxs::{Law, VmwiMode};
use mwi_config::*;
use mwi_core::route::{NotServed, Route};

const BASE: &str = "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\n";

/// The error `text` (a whole file) gives, as `LINE:COLUMN: MESSAGE`.
fn err(text: &str) -> String {
    let e = Config::from_str(text, "dahdi-mwi.toml").expect_err("config must be rejected");
    let s = e.to_string();
    s.strip_prefix("dahdi-mwi.toml:")
        .unwrap_or_else(|| panic!("error does not start with the file name: {s}"))
        .to_owned()
}

fn ok(text: &str) -> Config {
    Config::from_str(text, "dahdi-mwi.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn design_sketch_loads_with_every_key() {
    let c = ok(r#"
[sip]
listen = ["udp:0.0.0.0:5060", "tcp:[::1]:5070"]
[sip.auth]
username = "user1"
password = "password1"
realm = "example.com"
[registrar]
server = "dns:registrar.example.com"
port = 5061
transport = "tcp"
expires = 3600
[mwi_server]
server = "ipv4:192.0.2.10"
port = 5060
transport = "udp"
expires = 60
unsolicited = true
allow = ["192.0.2.10/32", "2001:db8::/32"]
options_interval = 30
options_failures = 5
[dahdi]
backend = "sim"
sim_dir = "/tmp/sim"
[[fxs]]
channel = 2
number = "8000"
mwi = false
cptone = "de"
vmwi = "neon"
law = "alaw"
[[pri]]
span = 1
span_type = "t1"
dchannel = 24
side = "network"
numbers = ["2...", "31."]
mwi_transport = "facility"
party_number = "private"
message_count = false
[state]
dir = "/var/lib/dahdi-mwi"
runtime_dir = "/run/x"
[table]
path = "/dev/shm/x"
capacity = 1024
[log]
level = "debug"
"#);
    assert_eq!(c.sip.listen[1].transport, Transport::Tcp);
    assert_eq!(c.sip.listen[1].addr, "[::1]:5070".parse().unwrap());
    assert_eq!(
        c.sip.auth.as_ref().unwrap().realm.as_deref(),
        Some("example.com")
    );
    let r = c.registrar.as_ref().unwrap();
    assert_eq!(r.server, ServerSpec::Dns("registrar.example.com".into()));
    assert_eq!(
        (r.port, r.transport, r.expires),
        (5061, Transport::Tcp, 3600)
    );
    let m = &c.mwi_server;
    assert_eq!(m.server, ServerSpec::Ipv4("192.0.2.10".parse().unwrap()));
    assert_eq!((m.expires, m.unsolicited), (60, true));
    assert_eq!((m.options_interval, m.options_failures), (30, 5));
    assert!(m.allow[1].contains("2001:db8:1::5".parse().unwrap()));
    assert_eq!(c.dahdi.backend, Backend::Sim);
    let f = &c.fxs[0];
    assert_eq!((f.channel, f.number.as_str(), f.mwi), (2, "8000", false));
    assert_eq!(
        (f.cptone.as_str(), f.vmwi, f.law),
        ("de", VmwiMode::Neon, Law::Alaw)
    );
    let p = &c.pri[0];
    assert_eq!((p.span, p.dchannel, p.side), (1, 24, Side::Network));
    assert!(p.numbers[0].matches("2345") && p.numbers[1].matches("319"));
    assert_eq!(p.mwi_transport, MwiTransport::Facility);
    assert_eq!(p.party_number, PartyNumberKind::Private);
    assert!(!p.message_count);
    assert_eq!(c.table.capacity, 1024);
    assert_eq!(c.log.level, LogLevel::Debug);
}

#[test]
fn defaults_fill_what_an_admin_omits() {
    let c = ok(&format!("{BASE}[[fxs]]\nchannel = 1\nnumber = \"8000\"\n"));
    assert_eq!(
        c.sip
            .listen
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]
    );
    assert!(c.sip.auth.is_none() && c.registrar.is_none());
    let m = &c.mwi_server;
    assert_eq!(
        (m.port, m.transport, m.expires),
        (5060, Transport::Udp, 3600)
    );
    assert!(!m.unsolicited && m.allow.is_empty());
    assert_eq!((m.options_interval, m.options_failures), (60, 3));
    assert_eq!(c.dahdi.backend, Backend::Kernel);
    assert_eq!(c.dahdi.sim_dir, std::path::Path::new("/run/dahdi-mwi/sim"));
    let f = &c.fxs[0];
    assert!(f.mwi);
    assert_eq!(
        (f.cptone.as_str(), f.vmwi, f.law),
        ("us", VmwiMode::None, Law::Mulaw)
    );
    assert_eq!(c.state.dir, std::path::Path::new("/var/lib/dahdi-mwi"));
    assert_eq!(c.table.capacity, 65536);
    assert_eq!(c.log.level, LogLevel::Info);
    let c = ok(&format!(
        "{BASE}[[pri]]\nspan = 2\ndchannel = 48\nnumbers = [\"2...\"]\n"
    ));
    let p = &c.pri[0];
    assert_eq!((p.span_type, p.side), (SpanType::T1, Side::User));
    assert_eq!(
        (p.mwi_transport, p.party_number),
        (MwiTransport::Setup, PartyNumberKind::Unknown)
    );
    assert!(p.message_count);
}

#[test]
fn mwi_server_is_required() {
    assert_eq!(
        err("[log]\nlevel = \"info\"\n"),
        "1:1: missing field `mwi_server`"
    );
}

#[test]
fn toml_syntax_error_names_line_and_column() {
    assert_eq!(
        err(&format!("{BASE}[dahdi]\nbackend = sim\n")),
        "4:11: invalid string\nexpected `\"`, `'`"
    );
    assert!(err(&format!("{BASE}[[fxs]\n")).starts_with("3:6: "));
}

#[test]
fn unknown_keys_are_rejected_where_they_are() {
    assert_eq!(
        err(&format!("{BASE}expirse = 60\n")),
        "3:1: unknown field `expirse`, expected one of `server`, `port`, `transport`, `expires`, \
         `unsolicited`, `allow`, `unsolicited_transport`, `notify_auth`, `options_interval`, \
         `options_failures`, `backup`, `backup_port`, `fallback_answers`"
    );
    assert!(err(&format!("[foo]\n{BASE}")).starts_with("1:2: unknown field `foo`"));
    assert!(err(&format!(
        "{BASE}[[fxs]]\nchannel = 1\nnumber = \"1\"\nlamp = true\n"
    ))
    .starts_with("6:1: unknown field `lamp`"));
}

#[test]
fn wrong_types_are_rejected() {
    assert_eq!(
        err(&format!("{BASE}port = \"5060\"\n")),
        "3:8: invalid type: string \"5060\", expected u16"
    );
    assert_eq!(
        err(&format!("{BASE}[[fxs]]\nchannel = 1\nnumber = 8000\n")),
        "5:10: invalid type: integer `8000`, expected a string"
    );
    assert_eq!(
        err(&format!("{BASE}unsolicited = \"yes\"\n")),
        "3:15: invalid type: string \"yes\", expected a boolean"
    );
    assert!(err(&format!("{BASE}port = 70000\n")).starts_with("3:8: "));
}

#[test]
fn expires_must_be_in_range() {
    assert_eq!(
        err(&format!("{BASE}expires = 0\n")),
        "3:11: expires = 0 is out of range 1..=999999"
    );
    assert_eq!(
        err(&format!("{BASE}expires = 1000000\n")),
        "3:11: expires = 1000000 is out of range 1..=999999"
    );
    assert_eq!(
        err(&format!("{BASE}expires = -5\n")),
        "3:11: expires = -5 is out of range 1..=999999"
    );
    assert_eq!(
        err(&format!(
            "{BASE}[registrar]\nserver = \"dns:r.example.com\"\nexpires = 0\n"
        )),
        "5:11: expires = 0 is out of range 1..=999999"
    );
    assert_eq!(ok(&format!("{BASE}expires = 1\n")).mwi_server.expires, 1);
    assert_eq!(
        ok(&format!("{BASE}expires = 999999\n")).mwi_server.expires,
        999_999
    );
    assert_eq!(
        err(&format!("{BASE}options_failures = 0\n")),
        "3:20: options_failures = 0 is out of range 1..=100"
    );
    assert_eq!(
        err(&format!("{BASE}[table]\ncapacity = 0\n")),
        "4:12: capacity = 0 is out of range 1..=16777216"
    );
    assert_eq!(
        err(&format!("{BASE}[dahdi]\nrealtime_priority = 100\n")),
        "4:21: realtime_priority = 100 is out of range 0..=99"
    );
    assert_eq!(
        ok(&format!("{BASE}[dahdi]\nrealtime_priority = 50\n"))
            .dahdi
            .realtime_priority,
        50
    );
}

#[test]
fn a_capacity_below_the_numbers_served_is_rejected() {
    let pri = "[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\", \"21..\", \"3..\"]\n";
    let file = |capacity: u32| format!("{BASE}[table]\ncapacity = {capacity}\n{TWO_PORTS}{pri}");
    // 2... (1000, 21.. inside it), 3.. (100), FXS 8000 and 8001.
    assert_eq!(ok(&file(1102)).table.capacity, 1102);
    assert_eq!(
        err(&file(1101)),
        "4:12: capacity = 1101, but the [[fxs]] ports and [[pri]] numbers serve 1102 numbers: \
         raise it to at least that"
    );
    let all = format!(
        "[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"{}\"]\n",
        ".".repeat(32)
    );
    assert_eq!(
        err(&format!("{BASE}{all}")),
        "1:1: capacity = 65536, but the [[fxs]] ports and [[pri]] numbers serve \
         18446744073709551615 or more numbers: raise it to at least that"
    );
}

#[test]
fn password_or_password_file() {
    let auth = |keys: &str| format!("[sip.auth]\nusername = \"u\"\n{keys}{BASE}");
    let a = ok(&auth("password_file = \"sip-password\"\n"))
        .sip
        .auth
        .unwrap();
    assert_eq!(
        (a.password.as_str(), a.password_file.as_deref()),
        ("", Some(std::path::Path::new("sip-password")))
    );
    assert_eq!(
        ok(&auth("password = \"p\"\n")).sip.auth.unwrap().password,
        "p"
    );
    assert_eq!(
        err(&auth("password = \"p\"\npassword_file = \"/etc/x\"\n")),
        "4:17: password_file and password are exclusive: give one"
    );
    assert_eq!(
        err(&auth("password_file = \"\"\n")),
        "3:17: password_file is empty"
    );
    assert_eq!(err(&auth("")), "1:1: needs a password or a password_file");
    let port = "[[fxs]]\nchannel = 1\nnumber = \"8000\"\n[fxs.auth]\nusername = \"8000\"\n";
    assert_eq!(
        err(&format!(
            "{BASE}{port}password = \"p\"\npassword_file = \"f\"\n"
        )),
        "9:17: password_file and password are exclusive: give one"
    );
}

const TWO_PORTS: &str =
    "[[fxs]]\nchannel = 1\nnumber = \"8000\"\n[[fxs]]\nchannel = 2\nnumber = \"8001\"\n";

#[test]
fn a_number_on_two_fxs_ports_is_rejected() {
    ok(&format!("{BASE}{TWO_PORTS}"));
    assert_eq!(
        err(&format!("{BASE}{}", TWO_PORTS.replace("8001", "8000"))),
        "8:10: number 8000 is on two FXS ports (also channel 1)"
    );
}

#[test]
fn a_number_twice_in_pri_numbers_is_rejected() {
    let two = |a: &str, b: &str| {
        format!(
            "{BASE}[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [{a}]\n\
             [[pri]]\nspan = 2\ndchannel = 48\nnumbers = [{b}]\n"
        )
    };
    ok(&two("\"2...\", \"2001\"", "\"20..\", \"3...\""));
    assert_eq!(
        err(&two("\"2...\", \"2001\"", "\"3...\", \"2001\"")),
        "10:20: number 2001 is claimed twice in [[pri]] numbers (also span 1): the second claim \
         would never be used"
    );
    assert_eq!(
        err(&two("\"2...\", \"2...\"", "\"3...\"")),
        "6:20: pattern \"2...\" is claimed twice in [[pri]] numbers (also span 1): the second \
         claim would never be used"
    );
}

/// The file's routing rule: the FXS line first (also with `mwi = false`, which keeps its number
/// unserved), then the first span whose pattern matches.
#[test]
fn router_follows_the_file() {
    let c = ok(&format!(
        "{BASE}[[fxs]]\nchannel = 1\nnumber = \"2001\"\n\
         [[fxs]]\nchannel = 2\nnumber = \"2002\"\nmwi = false\n\
         [[pri]]\nspan = 2\ndchannel = 48\nnumbers = [\"2...\"]\n"
    ));
    let r = c.router();
    assert_eq!(
        r.route("2001"),
        Ok(Route::Fxs {
            index: 0,
            channel: 1
        })
    );
    assert_eq!(r.route("2002"), Err(NotServed::MwiDisabled { channel: 2 }));
    assert_eq!(r.route("2003"), Ok(Route::Pri { index: 0, span: 2 }));
    assert_eq!(r.route("3000"), Err(NotServed::NoRoute));
}

#[test]
fn a_channel_on_two_fxs_ports_is_rejected() {
    assert_eq!(
        err(&format!(
            "{BASE}{}",
            TWO_PORTS.replace("channel = 2", "channel = 1")
        )),
        "7:11: channel 1 is on two FXS ports (also number 8000)"
    );
    assert_eq!(
        err(&format!("{BASE}[[fxs]]\nchannel = 0\nnumber = \"8000\"\n")),
        "4:11: channel = 0: DAHDI channels are numbered from 1"
    );
}

#[test]
fn fxs_channel_that_is_a_d_channel_is_rejected() {
    assert_eq!(
        err(&format!(
            "{BASE}[[fxs]]\nchannel = 24\nnumber = \"8000\"\n[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n"
        )),
        "4:11: channel 24 is both an FXS port and the D-channel of PRI span 1"
    );
}

#[test]
fn d_channel_must_be_on_its_span() {
    let pri = |span, ty, d| {
        format!("{BASE}[[pri]]\nspan = {span}\nspan_type = \"{ty}\"\ndchannel = {d}\nnumbers = [\"2...\"]\n")
    };
    ok(&pri(1, "t1", 24));
    ok(&pri(2, "t1", 48));
    ok(&pri(1, "e1", 16));
    ok(&pri(2, "e1", 47));
    assert_eq!(
        err(&pri(1, "t1", 25)),
        "6:12: D-channel 25 is not on span 1 (channels 1..=24)"
    );
    assert_eq!(
        err(&pri(2, "e1", 16)),
        "6:12: D-channel 16 is not on span 2 (channels 32..=62)"
    );
    assert_eq!(
        err(&format!(
            "{}{}",
            pri(1, "t1", 24),
            "[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"3...\"]\n"
        )),
        "9:8: span 1 has two [[pri]] entries (also [[pri]] #1)"
    );
    assert_eq!(
        err(&pri(1, "t1", 24).replace("[\"2...\"]", "[]")),
        "7:11: numbers is empty: give at least one pattern of served users"
    );
}

/// A layout with an analog card first (span 1, 8 ports) and an E1 PRI card (span 2).
const LAYOUT: &str = "[[span]]\nspan = 1\nfirst_channel = 1\nchannels = 8\n\
                      [[span]]\nspan = 2\nfirst_channel = 9\nchannels = 31\n";

#[test]
fn explicit_layout_puts_every_channel_on_a_span() {
    let pri = "[[pri]]\nspan = 2\nspan_type = \"e1\"\ndchannel = 24\nnumbers = [\"2...\"]\n";
    let fxs = |ch| format!("[[fxs]]\nchannel = {ch}\nnumber = \"8000\"\n");
    let c = ok(&format!("{BASE}{LAYOUT}{pri}{}", fxs(2)));
    assert_eq!(c.span[1].channel_range(), 9..=39);
    assert_eq!(
        err(&format!("{BASE}{LAYOUT}{pri}{}", fxs(40))),
        "17:11: FXS channel 40 is not on any [[span]]"
    );
    assert_eq!(
        err(&format!("{BASE}{LAYOUT}{pri}{}", fxs(9))),
        "17:11: FXS channel 9 is on PRI span 2 (channels 9..=39)"
    );
    assert_eq!(
        err(&format!(
            "{BASE}{LAYOUT}{}",
            pri.replace("dchannel = 24", "dchannel = 5")
        )),
        "14:12: D-channel 5 is not on span 2 (channels 9..=39)"
    );
    assert_eq!(
        err(&format!(
            "{BASE}{LAYOUT}{}",
            pri.replace("span = 2", "span = 3")
        )),
        "12:8: PRI span 3 is not in the [[span]] layout"
    );
    assert_eq!(
        err(&format!("{BASE}{LAYOUT}{}", pri.replace("e1", "t1"))),
        "12:8: PRI span 2 has 31 channels in [[span]], but span_type = \"t1\" has 24"
    );
    assert_eq!(
        err(&format!(
            "{BASE}{}",
            LAYOUT.replace("first_channel = 9", "first_channel = 8")
        )),
        "9:17: span 2 (channels 8..=38) overlaps span 1 (channels 1..=8, [[span]] #1)"
    );
    assert_eq!(
        err(&format!("{BASE}{}", LAYOUT.replace("span = 2", "span = 1"))),
        "8:8: span 1 is listed twice (also [[span]] #1)"
    );
}

#[test]
fn bad_patterns_are_rejected() {
    let pri =
        |p: &str| format!("{BASE}[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\", {p}]\n");
    for bad in ["\"2x..\"", "\"\"", "\"2*\"", "\"+49\""] {
        let e = err(&pri(bad));
        assert!(e.starts_with("6:20: bad pattern "), "{bad}: {e}");
    }
}

#[test]
fn bad_cidrs_are_rejected() {
    for (bad, why) in [
        ("192.0.2.1/24", "host bits are set after the prefix"),
        ("192.0.2.0/33", "prefix length must be 0..=32"),
        ("192.0.2.0/+8", "prefix length must be 0..=32"),
        ("2001:db8::/129", "prefix length must be 0..=128"),
        ("example.com", "not an IP address"),
    ] {
        assert_eq!(
            err(&format!("{BASE}allow = [\"{bad}\"]\n")),
            format!("3:10: bad CIDR \"{bad}\": {why} (expected e.g. \"192.0.2.0/24\")")
        );
    }
    let c = ok(&format!(
        "{BASE}allow = [\"192.0.2.0/24\", \"0.0.0.0/0\", \"::1\"]\n"
    ));
    let allow = &c.mwi_server.allow;
    assert!(allow[0].contains("192.0.2.77".parse().unwrap()));
    assert!(!allow[0].contains("192.0.3.1".parse().unwrap()));
    assert!(allow[1].contains("203.0.113.9".parse().unwrap()));
    assert!(allow[2].contains(IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])));
    assert!(!allow[0].contains("::ffff:192.0.2.1".parse().unwrap()));
}

#[test]
fn bad_listen_specs_are_rejected() {
    for (bad, why) in [
        ("udp:0.0.0.0", "not an address:port"),
        ("sctp:0.0.0.0:5060", "unknown transport"),
        ("0.0.0.0:5060", "unknown transport"),
        ("udp", "no transport"),
    ] {
        assert_eq!(
            err(&format!("[sip]\nlisten = [\"{bad}\"]\n{BASE}")),
            format!(
                "2:11: bad listen spec \"{bad}\": {why} (expected \"udp:ADDR:PORT\" or \
                 \"tcp:ADDR:PORT\", e.g. \"udp:0.0.0.0:5060\")"
            )
        );
    }
    assert_eq!(
        err(&format!("[sip]\nlisten = []\n{BASE}")),
        "2:10: listen is empty: sipd needs at least one socket"
    );
    assert_eq!(
        err(&format!(
            "[sip]\nlisten = [\"udp:[::]:5060\", \"udp:[::]:5060\"]\n{BASE}"
        )),
        "2:28: listen \"udp:[::]:5060\" is given twice (also element 1)"
    );
}

#[test]
fn bad_servers_and_numbers_are_rejected() {
    assert_eq!(
        err("[mwi_server]\nserver = \"192.0.2.10\"\n"),
        "2:10: bad server \"192.0.2.10\": unknown form (expected \"ipv4:ADDRESS\" or \"dns:HOSTNAME\")"
    );
    assert!(err("[mwi_server]\nserver = \"ipv4:300.0.0.1\"\n")
        .starts_with("2:10: bad server \"ipv4:300.0.0.1\": not an IPv4 address"));
    assert!(err("[mwi_server]\nserver = \"dns:-bad-.example\"\n")
        .starts_with("2:10: bad server \"dns:-bad-.example\": not a host name"));
    assert_eq!(
        err(&format!("{BASE}[[fxs]]\nchannel = 1\nnumber = \"80a0\"\n")),
        "5:10: bad number \"80a0\": expected 1 to 32 digits, optionally after a '+'"
    );
    ok(&format!(
        "{BASE}[[fxs]]\nchannel = 1\nnumber = \"+4930123\"\n"
    ));
}

#[test]
fn unknown_keywords_are_rejected() {
    let fxs = |k: &str| format!("{BASE}[[fxs]]\nchannel = 1\nnumber = \"8000\"\n{k}\n");
    assert!(err(&fxs("cptone = \"xx\""))
        .starts_with("6:10: unknown cptone \"xx\": expected a [[tone_plan]] name or one of us, us-dahdi, uk, de,"));
    assert_eq!(
        err(&fxs("vmwi = \"lamp\"")),
        "6:8: unknown vmwi \"lamp\": expected one of none, fsk, rpas, lrev, hvdc, neon"
    );
    assert_eq!(
        err(&fxs("law = \"ulaw\"")),
        "6:7: unknown law \"ulaw\": expected one of mulaw, alaw"
    );
    assert_eq!(
        err(&format!("{BASE}transport = \"tls\"\n")),
        "3:13: unknown transport \"tls\": expected one of udp, tcp"
    );
    assert_eq!(
        err(&format!("{BASE}[dahdi]\nbackend = \"dahdi\"\n")),
        "4:11: unknown backend \"dahdi\": expected one of kernel, sim"
    );
    for zone in fxs::plans::builtin_names() {
        let c = ok(&fxs(&format!("cptone = \"{zone}\"")));
        assert_eq!(c.fxs[0].cptone.as_str(), zone);
    }
}

#[test]
fn inline_tables_are_located_too() {
    assert_eq!(
        err(&format!(
            "fxs = [{{ channel = 1, number = \"8000\" }}, {{ channel = 2, number = \"8000\" }}]\n{BASE}"
        )),
        "1:66: number 8000 is on two FXS ports (also channel 1)"
    );
}

#[test]
fn load_reads_the_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dahdi-mwi.toml");
    std::fs::write(&path, format!("{BASE}expires = 0\n")).unwrap();
    let e = Config::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:11: expires = 0 is out of range 1..=999999",
            path.display()
        )
    );
    assert_eq!(e.position(), Some((3, 11)));
    let missing = dir.path().join("missing.toml");
    let e = Config::load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e
        .to_string()
        .starts_with(&format!("{}: cannot read: ", missing.display())));
}

#[test]
fn columns_count_characters_not_bytes() {
    assert!(err(&format!(
        "# Zürich büro\n{BASE}[[fxs]]\nchannel = 1\nnumber = \"8000\"\ncptone = \"zü\"\n"
    ))
    .starts_with("7:10: unknown cptone \"zü\""));
    assert!(err("x = \"é\" é\n").starts_with("1:9: "));
}

const PLAN: &str =
    "[[tone_plan]]\nname = \"lab\"\ndial = \"425\"\nstutter = \"!425/100,!0/100,425\"\n";

#[test]
fn custom_tone_plans_can_be_named_by_cptone() {
    let c = ok(&format!(
        "{BASE}{PLAN}level_dbm0 = -10.0\nfsk = \"bell202\"\n[[fxs]]\nchannel = 1\nnumber = \"8000\"\ncptone = \"lab\"\n"
    ));
    assert_eq!(c.tone_plan[0].name, "lab");
    assert_eq!(c.fxs[0].cptone.as_str(), "lab");
    assert!(fxs::TonePlans::new(&c.tone_plan)
        .unwrap()
        .cptone("lab")
        .is_some());
}

#[test]
fn bad_tone_plans_are_rejected_where_they_are() {
    let e = err(&format!(
        "{BASE}{}",
        PLAN.replace("!425/100,!0/100,425", "!425/100!0/100")
    ));
    assert!(e.starts_with("6:11: tone plan \"lab\", stutter: "), "{e}");
    // The rule's wording is the fxs crate's; the position is ours.
    assert!(err(&format!("{BASE}{PLAN}level_dbm0 = 3.0\n"))
        .starts_with("7:14: tone plan \"lab\": level 3 dBm0"));
    assert_eq!(
        err(&format!("{BASE}{PLAN}{PLAN}")),
        "8:8: tone plan \"lab\" is defined twice"
    );
    assert_eq!(
        err(&format!("{BASE}{}", PLAN.replace("\"lab\"", "\"de\""))),
        "4:8: tone plan \"de\" is a built-in plan's name"
    );
    assert!(err(&format!("{BASE}{PLAN}volume = 3\n")).starts_with("7:1: unknown field `volume`"));
}

#[test]
fn sip_message_size_and_user_agent() {
    let c = ok(BASE);
    assert_eq!(c.sip.max_message_size, 65_536);
    assert_eq!(c.sip.user_agent, "dahdi-mwi");
    let c = ok(&format!(
        "[sip]\nmax_message_size = 1024\nuser_agent = \"PBX (lab)\"\n{BASE}"
    ));
    assert_eq!(
        (c.sip.max_message_size, c.sip.user_agent.as_str()),
        (1024, "PBX (lab)")
    );
    assert_eq!(
        err(&format!("[sip]\nmax_message_size = 1023\n{BASE}")),
        "2:20: max_message_size = 1023 is out of range 1024..=1048576"
    );
    assert_eq!(
        err(&format!("[sip]\nmax_message_size = 1048577\n{BASE}")),
        "2:20: max_message_size = 1048577 is out of range 1024..=1048576"
    );
    for bad in ["", " x", "x\\r\\nVia: evil", "t\\u00e9l", "\\u0007"] {
        let e = err(&format!("[sip]\nuser_agent = \"{bad}\"\n{BASE}"));
        assert!(e.starts_with("2:14: user_agent = "), "{bad:?}: {e}");
    }
    assert!(err(&format!(
        "[sip]\nuser_agent = \"{}\"\n{BASE}",
        "a".repeat(129)
    ))
    .starts_with("2:14: "));
}

#[test]
fn notify_trust_and_block_keys() {
    let c = ok(BASE);
    assert_eq!(
        c.mwi_server.unsolicited_transport,
        UnsolicitedTransport::Any
    );
    assert!(!c.mwi_server.notify_auth);
    assert_eq!(
        c.sip.block,
        Block {
            failures: 5,
            window: 60,
            duration: 600
        }
    );
    let c = ok(&format!(
        "[sip]\n[sip.block]\nfailures = 0\nwindow = 10\nduration = 30\n\
         [sip.auth]\nusername = \"u\"\npassword = \"p\"\n\
         {BASE}unsolicited_transport = \"tcp\"\nnotify_auth = true\n"
    ));
    assert_eq!(
        c.mwi_server.unsolicited_transport,
        UnsolicitedTransport::Tcp
    );
    assert!(c.mwi_server.notify_auth);
    assert_eq!((c.sip.block.failures, c.sip.block.window), (0, 10));
    assert_eq!(
        err(&format!("{BASE}unsolicited_transport = \"udp\"\n")),
        "3:25: unknown unsolicited_transport \"udp\": expected one of any, tcp"
    );
    assert_eq!(
        err(&format!("{BASE}notify_auth = true\n")),
        "3:15: notify_auth = true needs [sip.auth] credentials to check"
    );
    assert_eq!(
        err(&format!("[sip.block]\nfailures = 101\n{BASE}")),
        "2:12: failures = 101 is out of range 0..=100"
    );
    assert_eq!(
        err(&format!("[sip.block]\nwindow = 0\n{BASE}")),
        "2:10: window = 0 is out of range 1..=86400"
    );
    assert_eq!(
        err(&format!("[sip.block]\nduration = 604801\n{BASE}")),
        "2:12: duration = 604801 is out of range 1..=604800"
    );
}

#[test]
fn sip_limits_have_defaults_ranges_and_a_numbers_bound() {
    let d = ok(BASE).sip.limits;
    assert_eq!(d, Limits::default());
    assert_eq!(
        (
            d.tcp_connections,
            d.tcp_per_source,
            d.tcp_buffer,
            d.transactions
        ),
        (1024, 32, 131_072, 8192)
    );
    assert_eq!(
        (d.rate, d.burst, d.udp_rcvbuf, d.udp_sndbuf, d.numbers),
        (200, 400, 1 << 20, 1 << 20, 10_000)
    );
    let c = ok(&format!(
        "[sip.limits]\ntcp_connections = 10\ntcp_per_source = 2\ntcp_buffer = 65536\n\
         transactions = 16\nrate = 5\nburst = 1\nudp_rcvbuf = 4096\nudp_sndbuf = 8192\nnumbers = 1\n{BASE}"
    ));
    assert_eq!(c.sip.limits.tcp_per_source, 2);
    assert_eq!(c.sip.limits.udp_sndbuf, 8192);
    assert_eq!(
        err(&format!("[sip.limits]\ntcp_buffer = 100\n{BASE}")),
        "2:14: tcp_buffer = 100 is out of range 65536..=16777216"
    );
    assert_eq!(
        err(&format!("[sip.limits]\nrate = 0\n{BASE}")),
        "2:8: rate = 0 is out of range 1..=1000000"
    );
    assert!(
        err(&format!("[sip.limits]\nbogus = 1\n{BASE}")).starts_with("2:1: unknown field `bogus`")
    );
    assert_eq!(
        err(&format!(
            "[sip.limits]\nnumbers = 1\n{BASE}[[fxs]]\nchannel = 1\nnumber = \"100\"\n\
             [[fxs]]\nchannel = 2\nnumber = \"101\"\n"
        )),
        "2:11: numbers = 1, but the [[fxs]] ports and [[pri]] numbers give 2"
    );
}

#[test]
fn call_keys_load_and_default() {
    let c = ok(&format!(
        r#"{BASE}
[sip.proxy]
server = "ipv4:192.0.2.20"
transport = "tcp"
[sip.auth]
username = "u"
password = "p"
[registrar]
server = "ipv4:192.0.2.20"
[media]
address = "192.0.2.5"
rtp_ports = "16384-16483"
codecs = ["pcma"]
dscp = 34
[[fxs]]
channel = 2
number = "8000"
dial_plan = "(*xx|[2-9]xxx|x.T)"
voicemail = "*98"
register = true
caller_id = "v23"
[[fxs]]
channel = 3
number = "8001"
"#
    ));
    let p = c.sip.proxy.as_ref().expect("[sip.proxy]");
    assert_eq!((p.port, p.transport), (5060, Transport::Tcp));
    assert_eq!(
        c.media.address,
        Some("192.0.2.5".parse::<IpAddr>().unwrap())
    );
    let ports: Vec<u16> = c.media.rtp_ports.rtp_ports().collect();
    assert_eq!(
        (ports[0], ports[ports.len() - 1], ports.len()),
        (16384, 16482, 50)
    );
    assert_eq!(c.media.codecs, [callctl::Codec::Pcma]);
    assert_eq!(c.media.dscp, 34);
    let f = &c.fxs[0];
    assert_eq!(f.dial_plan.as_str(), "(*xx|[2-9]xxx|x.T)");
    assert_eq!(f.voicemail.as_ref().map(Pilot::as_str), Some("*98"));
    assert!(f.register);
    assert_eq!(f.caller_id, Some(CallerIdMode::V23));
    let d = &c.fxs[1];
    assert_eq!(d.dial_plan.as_str(), "x.T");
    assert_eq!(
        (d.voicemail.as_ref(), d.register, d.caller_id),
        (None, false, None)
    );
    assert_eq!(
        Media::default().codecs,
        [callctl::Codec::Pcmu, callctl::Codec::Pcma]
    );
    assert_eq!(Media::default().rtp_ports.to_string(), "10000-20000");
}

#[test]
fn bad_call_keys_are_rejected_where_written() {
    let fxs = "[[fxs]]\nchannel = 2\nnumber = \"8000\"\n";
    for (text, want) in [
        (
            "[media]\nrtp_ports = \"80-90\"\n",
            "bad port range \"80-90\": ports below 1024",
        ),
        (
            "[media]\nrtp_ports = \"10001-10001\"\n",
            "holds no even RTP port",
        ),
        ("[media]\ncodecs = [\"g729\"]\n", "unknown codec \"g729\""),
        ("[media]\ncodecs = [\"pcmu\", \"pcmu\"]\n", "listed twice"),
        ("[media]\ncodecs = []\n", "codecs is empty"),
        ("[media]\ndscp = 64\n", "dscp = 64 is out of range 0..=63"),
        (
            &format!("{fxs}dial_plan = \"(2xx\"\n"),
            "bad dial_plan \"(2xx\"",
        ),
        (
            &format!("{fxs}voicemail = \"*9a\"\n"),
            "bad voicemail pilot \"*9a\"",
        ),
        (
            &format!("{fxs}caller_id = \"fsk\"\n"),
            "unknown caller_id \"fsk\"",
        ),
        (&format!("{fxs}register = true\n"), "needs a [registrar]"),
    ] {
        let e = err(&format!("{BASE}{text}"));
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(
            e.starts_with(char::is_numeric),
            "{text:?} has no position: {e}"
        );
    }
    let e = err(&format!(
        "{BASE}[registrar]\nserver = \"ipv4:192.0.2.20\"\n{fxs}register = true\n"
    ));
    assert!(
        e.starts_with("8:") && e.contains("[fxs.auth] or [sip.auth]"),
        "{e}"
    );
}

#[test]
fn trace_capture_keys() {
    let c = ok(BASE);
    assert_eq!(c.trace.capture_dir, None);
    assert_eq!(c.trace.capture_max_bytes, 16 << 20);
    assert_eq!(c.trace.capture_files, 4);
    let c = ok(&format!(
        "{BASE}[trace]\ncapture_dir = \"/var/log/dahdi-mwi\"\ncapture_max_bytes = 4096\n\
         capture_files = 2\n"
    ));
    assert_eq!(
        c.trace.capture_dir.as_deref(),
        Some(std::path::Path::new("/var/log/dahdi-mwi"))
    );
    assert_eq!(
        (c.trace.capture_max_bytes, c.trace.capture_files),
        (4096, 2)
    );
    assert_eq!(
        err(&format!("{BASE}[trace]\ncapture_max_bytes = 100\n")),
        "4:21: capture_max_bytes = 100 is out of range 4096..=1073741824"
    );
    assert_eq!(
        err(&format!("{BASE}[trace]\ncapture_files = 0\n")),
        "4:17: capture_files = 0 is out of range 1..=1000"
    );
    assert_eq!(
        err(&format!("{BASE}[trace]\ncapture = true\n")),
        "4:1: unknown field `capture`, expected one of `capture_dir`, `capture_max_bytes`, `capture_files`"
    );
}

#[test]
fn backup_servers_default_to_the_primary_port_and_differ_from_it() {
    let c = ok(&format!(
        "{BASE}port = 5070\nbackup = \"dns:vm2.example.com\"\n"
    ));
    let m = &c.mwi_server;
    assert_eq!(m.backup, Some(ServerSpec::Dns("vm2.example.com".into())));
    assert_eq!((m.backup_port(), m.fallback_answers), (5070, 3));
    let c = ok(&format!(
        "{BASE}backup = \"ipv4:192.0.2.10\"\nbackup_port = 5062\nfallback_answers = 2\n\
         [registrar]\nserver = \"ipv4:192.0.2.1\"\nbackup = \"ipv4:192.0.2.2\"\n"
    ));
    assert_eq!(
        (c.mwi_server.backup_port(), c.mwi_server.fallback_answers),
        (5062, 2)
    );
    let r = c.registrar.expect("registrar");
    assert_eq!(
        (r.backup.clone(), r.backup_port()),
        (Some(ServerSpec::Ipv4([192, 0, 2, 2].into())), 5060)
    );
    assert_eq!(m.backup_port, None);
    assert_eq!(
        err(&format!("{BASE}backup = \"ipv4:192.0.2.10\"\n")),
        "3:10: backup \"ipv4:192.0.2.10\" is the primary server itself (port 5060)"
    );
    assert_eq!(
        err(&format!(
            "{BASE}[registrar]\nserver = \"dns:r.example.com\"\nport = 5070\n\
             backup = \"dns:r.example.com\"\nbackup_port = 5070\n"
        )),
        "6:10: backup \"dns:r.example.com\" is the primary server itself (port 5070)"
    );
    assert_eq!(
        err(&format!("{BASE}backup = \"dns:-bad\"\n")),
        "3:10: bad server \"dns:-bad\": not a host name (expected \"ipv4:ADDRESS\" or \"dns:HOSTNAME\")"
    );
    assert_eq!(
        err(&format!("{BASE}fallback_answers = 0\n")),
        "3:20: fallback_answers = 0 is out of range 1..=100"
    );
}

#[test]
fn pri_calls_take_a_law_by_span_type_and_number_rewrites() {
    let pri = |span_type: &str, calls: &str| {
        format!(
            "{BASE}[[pri]]\nspan = 1\nspan_type = \"{span_type}\"\ndchannel = 16\n\
             numbers = [\"2...\"]\n[pri.calls]\n{calls}"
        )
    };
    let c = ok(&pri(
        "e1",
        "to_sip_strip = 1\nto_sip_prefix = \"*\"\ncalled_type = \"national\"\nplan = \"isdn\"\n",
    ));
    let calls = c.pri[0].calls.as_ref().unwrap();
    assert_eq!(calls.law(c.pri[0].span_type), fxs::Law::Alaw);
    assert_eq!(calls.to_sip_prefix.apply(calls.to_sip_strip, "98"), "*8");
    assert_eq!(
        calls.to_pbx_prefix.apply(calls.to_pbx_strip, "2001"),
        "2001"
    );
    assert_eq!(calls.called_type, mwi_config::NumberType::National);
    assert_eq!(calls.plan, mwi_config::NumberPlan::Isdn);
    assert_eq!(c.pri_channels(&c.pri[0]), Some(1..=31));
    assert!(ok(&format!(
        "{BASE}[[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n"
    ))
    .pri[0]
        .calls
        .is_none());
    assert_eq!(
        err(&pri("t1", "to_pbx_prefix = \"9x\"\n")),
        "9:17: bad prefix \"9x\": expected at most 16 of the keys 0-9, * and #"
    );
    assert_eq!(
        err(&pri("t1", "calling_type = \"local\"\n")),
        "9:16: unknown type of number \"local\": expected one of unknown, international, \
         national, network, subscriber, abbreviated"
    );
    assert_eq!(
        err(&pri("t1", "to_sip_strip = 40\n")),
        "9:16: to_sip_strip = 40 is out of range 0..=32"
    );
}

#[test]
fn pri_calls_timeslots_are_the_b_channels() {
    let file = |calls: &str| {
        format!(
            "{BASE}[[fxs]]\nchannel = 2\nnumber = \"8000\"\n\
             [[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n[pri.calls]\n{calls}"
        )
    };
    let c = ok(&file("timeslots = \"1, 3-5\"\n"));
    assert_eq!(c.b_channels(&c.pri[0]), [(1, 1), (3, 3), (4, 4), (5, 5)]);
    assert_eq!(
        err(&file("")),
        "4:11: channel 2 is both an FXS port and a B-channel of PRI span 1 ([pri.calls] timeslots)"
    );
    assert_eq!(
        err(&file("timeslots = \"1,3-24\"\n")),
        "11:13: timeslot 24 is the D-channel of span 1"
    );
    assert_eq!(
        err(&file("timeslots = \"1,1\"\n")),
        "11:13: bad timeslots \"1,1\": timeslot 1 twice"
    );
    let e1 = ok(&format!(
        "{BASE}[[pri]]\nspan = 2\nspan_type = \"e1\"\ndchannel = 47\nnumbers = [\"2...\"]\n\
         [pri.calls]\n"
    ));
    let b = e1.b_channels(&e1.pri[0]);
    assert_eq!((b.len(), b[0], b[15]), (30, (1, 32), (17, 48)));
}

#[test]
fn pri_calls_need_the_d_channel_on_its_standard_timeslot() {
    let pri = |span_type: &str, dchannel: u32| {
        format!(
            "{BASE}[[pri]]\nspan = 1\nspan_type = \"{span_type}\"\ndchannel = {dchannel}\n\
             numbers = [\"2...\"]\n[pri.calls]\n"
        )
    };
    ok(&pri("t1", 24));
    ok(&pri("e1", 16));
    assert_eq!(
        err(&pri("t1", 23)),
        "6:12: D-channel 23 is timeslot 23 of span 1: with [pri.calls] it must be timeslot 24 \
         (channel 24), the others are the B-channels"
    );
    assert_eq!(
        err(&pri("e1", 31)),
        "6:12: D-channel 31 is timeslot 31 of span 1: with [pri.calls] it must be timeslot 16 \
         (channel 16), the others are the B-channels"
    );
    assert!(ok(&format!(
        "{BASE}[[pri]]\nspan = 1\ndchannel = 23\nnumbers = [\"2...\"]\n"
    ))
    .pri[0]
        .calls
        .is_none());
    assert_eq!(
        err(&format!(
            "{BASE}[[pri]]\nspan = 70000\ndchannel = 1680000\nnumbers = [\"2...\"]\n[pri.calls]\n"
        )),
        "4:8: span = 70000: with [pri.calls] spans are numbered up to 65535 (callctl)"
    );
}
