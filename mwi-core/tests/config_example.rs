//! The shipped `dahdi-mwi.toml.example` loads, validates, and says what the sample
//! configuration of the gateway we model says (docs/sip.md).

use mwi_core::config::*;

#[test]
fn example_is_the_reference_sample() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dahdi-mwi.toml.example");
    let c = Config::load(path).unwrap_or_else(|e| panic!("{e}"));

    let auth = c.sip.auth.as_ref().expect("[sip.auth]");
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("user1", "password1")
    );
    assert_eq!(auth.realm.as_deref(), Some("example.com"));

    let r = c.registrar.as_ref().expect("[registrar]");
    assert_eq!(
        r.server,
        ServerSpec::Dns("csps-release.test.example.com".into())
    );
    assert_eq!(r.expires, 3600);

    // mwi-server dns:test.example.com expires 60 port 5060 transport udp unsolicited
    let m = &c.mwi_server;
    assert_eq!(m.server, ServerSpec::Dns("test.example.com".into()));
    assert_eq!((m.expires, m.port, m.transport), (60, 5060, Transport::Udp));
    assert!(m.unsolicited);

    // voice-port 2/0 and 2/1: mwi, station-id number 8000 and 8001.
    let ports: Vec<_> = c.fxs.iter().map(|f| (f.number.as_str(), f.mwi)).collect();
    assert_eq!(ports, [("8000", true), ("8001", true)]);

    // E1 QSIG towards the PBX, destination-pattern 789...
    let p = &c.pri[0];
    assert_eq!((p.span_type, p.dchannel), (SpanType::E1, 20));
    assert!(p.numbers[0].matches("789123") && !p.numbers[0].matches("78912"));
    assert_eq!(c.dahdi.backend, Backend::Kernel);
}
