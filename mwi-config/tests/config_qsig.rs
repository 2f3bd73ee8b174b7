//! `[[pri]]` keys of QSIG and ETSI MWI as a PBX administrator sets them (ECMA-242 msgCentreId,
//! originatingNr, the SETUP's calling number, servedUserNr manipulation, resync), their
//! defaults and their errors with position.

use mwi_config::*;

const BASE: &str = "[mwi_server]\nserver = \"ipv4:192.0.2.10\"\n\
                    [[pri]]\nspan = 1\ndchannel = 24\nnumbers = [\"2...\"]\n";

fn load(extra: &str) -> Result<Config, String> {
    Config::from_str(&format!("{BASE}{extra}"), "dahdi-mwi.toml").map_err(|e| e.to_string())
}

fn err(extra: &str) -> String {
    let e = load(extra).expect_err("config must be rejected");
    e.strip_prefix("dahdi-mwi.toml:")
        .unwrap_or_else(|| panic!("error does not start with the file name: {e}"))
        .to_owned()
}

#[test]
fn defaults_send_nothing_extra() {
    let c = load("").unwrap();
    let p = &c.pri[0];
    assert_eq!(p.msg_centre_id, None);
    assert_eq!(p.originating_nr, None);
    assert_eq!(p.calling_number, None);
    assert_eq!(
        (p.calling_type, p.calling_plan),
        (NumberType::Unknown, NumberPlan::Unknown)
    );
    assert_eq!((p.served_strip, p.served_prefix.as_str()), (0, ""));
    assert_eq!(p.resync, ResyncMode::Send);
}

#[test]
fn every_key_loads() {
    let c = load(
        "msg_centre_id = \"8000\"\noriginating_nr = \"8001\"\ncalling_number = \"8000\"\n\
         calling_type = \"subscriber\"\ncalling_plan = \"private\"\nserved_strip = 1\n\
         served_prefix = \"55\"\nresync = \"interrogate\"\n",
    )
    .unwrap();
    let p = &c.pri[0];
    assert_eq!(
        p.msg_centre_id,
        Some(MsgCentreId::Number("8000".parse().unwrap()))
    );
    assert_eq!(p.originating_nr.as_ref().map(Digits::as_str), Some("8001"));
    assert_eq!(p.calling_number.as_ref().map(Digits::as_str), Some("8000"));
    assert_eq!(
        (p.calling_type, p.calling_plan),
        (NumberType::Subscriber, NumberPlan::Private)
    );
    assert_eq!(p.served_prefix.apply(p.served_strip, "2001"), "55001");
    assert_eq!(p.resync, ResyncMode::Interrogate);
    let c = load("msg_centre_id = 42\n").unwrap();
    assert_eq!(c.pri[0].msg_centre_id, Some(MsgCentreId::Integer(42)));
}

#[test]
fn bad_values_are_errors_at_their_position() {
    assert_eq!(
        err("msg_centre_id = 65536\n"),
        "7:17: msg_centre_id = 65536 is out of range 0..=65535"
    );
    assert_eq!(
        err("msg_centre_id = \"80a\"\n"),
        "7:17: bad number \"80a\": expected 1 to 20 digits"
    );
    assert_eq!(
        err("msg_centre_id = true\n"),
        "7:17: invalid type: boolean `true`, expected a string of digits or an integer 0..=65535"
    );
    assert_eq!(
        err("originating_nr = \"+4930\"\n"),
        "7:18: bad number \"+4930\": expected 1 to 20 digits"
    );
    assert_eq!(
        err("calling_number = \"\"\n"),
        "7:18: bad number \"\": expected 1 to 20 digits"
    );
    assert_eq!(
        err("calling_type = \"local\"\n"),
        "7:16: unknown type of number \"local\": expected one of unknown, international, \
         national, network, subscriber, abbreviated"
    );
    assert_eq!(
        err("served_strip = 33\n"),
        "7:16: served_strip = 33 is out of range 0..=32"
    );
    assert_eq!(
        err("served_prefix = \"9#\"\n"),
        "7:17: served_prefix = \"9#\": servedUserNr takes digits only (ECMA-155 NumberDigits)"
    );
    assert_eq!(
        err("served_strip = 4\n"),
        "7:16: served_strip = 4 leaves nothing of pattern \"2...\": servedUserNr needs a digit \
         (give a served_prefix or strip fewer)"
    );
    assert!(load("served_strip = 4\nserved_prefix = \"9\"\n").is_ok());
    assert_eq!(
        err("resync = \"all\"\n"),
        "7:10: unknown resync \"all\": expected one of send, interrogate"
    );
}

#[test]
fn mwi_protocol_defaults_to_qsig_and_etsi_refuses_what_it_lacks() {
    assert_eq!(load("").unwrap().pri[0].mwi_protocol, MwiProtocol::Qsig);
    let c = load("mwi_protocol = \"etsi\"\nmsg_centre_id = \"8000\"\n").unwrap();
    assert_eq!(c.pri[0].mwi_protocol, MwiProtocol::Etsi);
    assert_eq!(
        err("mwi_protocol = \"dss1\"\n"),
        "7:16: unknown mwi_protocol \"dss1\": expected one of qsig, etsi"
    );
    assert_eq!(
        err("mwi_protocol = \"etsi\"\nresync = \"interrogate\"\n"),
        "8:10: resync = \"interrogate\" needs mwi_protocol = \"qsig\": ETSI MWI \
         (EN 300 745-1) has no MWIInterrogate"
    );
    assert_eq!(
        err("mwi_protocol = \"etsi\"\nmsg_centre_id = 42\n"),
        "8:17: msg_centre_id = 42: ETSI MWI names the message centre by number \
         (controllingUserNr); give its digits as a string"
    );
}
