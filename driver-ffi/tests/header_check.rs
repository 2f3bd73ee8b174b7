//! Proves `driver_ffi::sys` against the real dahdi/user.h: extracts `include/dahdi/` from
//! Debian's dahdi-source (`/usr/src/dahdi.tar.bz2`), compiles a C probe with gcc that prints
//! every constant, ioctl number, struct size, field offset and field size that `sys` defines,
//! and compares each one with the Rust value. Any mismatch fails the test; so does a missing
//! dahdi-source or gcc, and so does an item of `src/sys/` this file does not check.

use driver_ffi::sys::*;
use std::collections::{BTreeMap, BTreeSet};
use std::mem::{offset_of, size_of, size_of_val};
use std::path::{Path, PathBuf};
use std::process::Command;

const DAHDI_SOURCE: &str = "/usr/src/dahdi.tar.bz2";

/// One value to compare: its key in the probe's output, the Rust value, and the C expression
/// that computes it.
struct Check {
    key: String,
    rust: i64,
    c_expr: String,
}

macro_rules! consts {
    ($($name:ident),* $(,)?) => {
        vec![$(Check {
            key: format!("const {}", stringify!($name)),
            rust: $name as i64,
            c_expr: format!("(long long)({})", stringify!($name)),
        }),*]
    };
}

/// Size of the struct, then offset and size of every field. The destructuring pattern fails
/// to compile if a field of the Rust struct is missing from the list.
macro_rules! layout {
    ($rust:ident = $c:ident { $($field:ident),* $(,)? }) => {{
        #[allow(unused)]
        fn exhaustive(v: &$rust) {
            let $rust { $($field: _),* } = v;
        }
        let v = <$rust>::default();
        let mut checks = vec![Check {
            key: format!("size {}", stringify!($rust)),
            rust: size_of::<$rust>() as i64,
            c_expr: format!("(long long)sizeof(struct {})", stringify!($c)),
        }];
        $(
            checks.push(Check {
                key: format!("offset {}.{}", stringify!($rust), stringify!($field)),
                rust: offset_of!($rust, $field) as i64,
                c_expr: format!(
                    "(long long)offsetof(struct {}, {})",
                    stringify!($c),
                    stringify!($field)
                ),
            });
            checks.push(Check {
                key: format!("fieldsize {}.{}", stringify!($rust), stringify!($field)),
                // A block copies the field out, which also works for packed structs.
                rust: size_of_val(&{ v.$field }) as i64,
                c_expr: format!(
                    "(long long)sizeof(((struct {} *)0)->{})",
                    stringify!($c),
                    stringify!($field)
                ),
            });
        )*
        checks
    }};
}

fn checks() -> Vec<Check> {
    let mut all = consts![
        DAHDI_CODE,
        ELAST,
        DAHDI_MAJOR,
        DAHDI_MAX_BLOCKSIZE,
        DAHDI_DEFAULT_BLOCKSIZE,
        DAHDI_MAX_NUM_BUFS,
        DAHDI_MAX_BUF_SPACE,
        DAHDI_DEFAULT_MTU_MRU,
        DAHDI_MAX_CADENCE,
        DAHDI_MAX_ECHOCANPARAMS,
        DAHDI_TONE_ZONE_MAX,
        DAHDI_TONE_ZONE_DEFAULT,
        DAHDI_SIG_NONE,
        DAHDI_SIG_FXSLS,
        DAHDI_SIG_FXSGS,
        DAHDI_SIG_FXSKS,
        DAHDI_SIG_FXOLS,
        DAHDI_SIG_FXOGS,
        DAHDI_SIG_FXOKS,
        DAHDI_SIG_EM,
        DAHDI_SIG_CLEAR,
        DAHDI_SIG_HDLCRAW,
        DAHDI_SIG_HDLCFCS,
        DAHDI_SIG_HDLCNET,
        DAHDI_SIG_SLAVE,
        DAHDI_SIG_SF,
        DAHDI_SIG_CAS,
        DAHDI_SIG_DACS,
        DAHDI_SIG_EM_E1,
        DAHDI_SIG_DACS_RBS,
        DAHDI_SIG_HARDHDLC,
        DAHDI_SIG_MTP2,
        DAHDI_SIG_BROKEN,
        DAHDI_LAW_DEFAULT,
        DAHDI_LAW_MULAW,
        DAHDI_LAW_ALAW,
        DAHDI_POLICY_IMMEDIATE,
        DAHDI_POLICY_WHEN_FULL,
        DAHDI_POLICY_HALF_FULL,
        DAHDI_ONHOOK,
        DAHDI_OFFHOOK,
        DAHDI_WINK,
        DAHDI_FLASH,
        DAHDI_START,
        DAHDI_RING,
        DAHDI_RINGOFF,
        DAHDI_FLUSH_READ,
        DAHDI_FLUSH_WRITE,
        DAHDI_FLUSH_BOTH,
        DAHDI_FLUSH_EVENT,
        DAHDI_FLUSH_ALL,
        DAHDI_ALARM_NONE,
        DAHDI_ALARM_RECOVER,
        DAHDI_ALARM_LOOPBACK,
        DAHDI_ALARM_YELLOW,
        DAHDI_ALARM_RED,
        DAHDI_ALARM_BLUE,
        DAHDI_ALARM_NOTOPEN,
        DAHDI_ALARM_LOS,
        DAHDI_ALARM_LFA,
        DAHDI_ALARM_LMFA,
        DAHDI_EVENT_NONE,
        DAHDI_EVENT_ONHOOK,
        DAHDI_EVENT_RINGOFFHOOK,
        DAHDI_EVENT_WINKFLASH,
        DAHDI_EVENT_ALARM,
        DAHDI_EVENT_NOALARM,
        DAHDI_EVENT_ABORT,
        DAHDI_EVENT_OVERRUN,
        DAHDI_EVENT_BADFCS,
        DAHDI_EVENT_DIALCOMPLETE,
        DAHDI_EVENT_RINGERON,
        DAHDI_EVENT_RINGEROFF,
        DAHDI_EVENT_HOOKCOMPLETE,
        DAHDI_EVENT_BITSCHANGED,
        DAHDI_EVENT_PULSE_START,
        DAHDI_EVENT_TIMER_EXPIRED,
        DAHDI_EVENT_TIMER_PING,
        DAHDI_EVENT_POLARITY,
        DAHDI_EVENT_RINGBEGIN,
        DAHDI_EVENT_EC_DISABLED,
        DAHDI_EVENT_REMOVED,
        DAHDI_EVENT_NEONMWI_ACTIVE,
        DAHDI_EVENT_NEONMWI_INACTIVE,
        DAHDI_EVENT_TX_CED_DETECTED,
        DAHDI_EVENT_RX_CED_DETECTED,
        DAHDI_EVENT_TX_CNG_DETECTED,
        DAHDI_EVENT_RX_CNG_DETECTED,
        DAHDI_EVENT_EC_NLP_DISABLED,
        DAHDI_EVENT_EC_NLP_ENABLED,
        DAHDI_EVENT_READ_OVERRUN,
        DAHDI_EVENT_WRITE_UNDERRUN,
        DAHDI_EVENT_PULSEDIGIT,
        DAHDI_EVENT_DTMFDOWN,
        DAHDI_EVENT_DTMFUP,
        DAHDI_TONE_STOP,
        DAHDI_TONE_DIALTONE,
        DAHDI_TONE_BUSY,
        DAHDI_TONE_RINGTONE,
        DAHDI_TONE_CONGESTION,
        DAHDI_TONE_CALLWAIT,
        DAHDI_TONE_DIALRECALL,
        DAHDI_TONE_RECORDTONE,
        DAHDI_TONE_INFO,
        DAHDI_TONE_CUST1,
        DAHDI_TONE_CUST2,
        DAHDI_TONE_STUTTER,
        DAHDI_TONE_MAX,
        DAHDI_TONE_DTMF_BASE,
        DAHDI_VMWI_LREV,
        DAHDI_VMWI_HVDC,
        DAHDI_VMWI_HVAC,
        DAHDI_GET_BLOCKSIZE,
        DAHDI_SET_BLOCKSIZE,
        DAHDI_FLUSH,
        DAHDI_GET_PARAMS,
        DAHDI_SET_PARAMS,
        DAHDI_HOOK,
        DAHDI_GETEVENT,
        DAHDI_SPANSTAT,
        DAHDI_SENDTONE,
        DAHDI_SETTONEZONE,
        DAHDI_LOADZONE,
        DAHDI_GET_BUFINFO,
        DAHDI_SET_BUFINFO,
        DAHDI_AUDIOMODE,
        DAHDI_ECHOCANCEL_PARAMS,
        DAHDI_CHANNO,
        DAHDI_HDLCFCSMODE,
        DAHDI_SPECIFY,
        DAHDI_SETLAW,
        DAHDI_SETLINEAR,
        DAHDI_SETCADENCE,
        DAHDI_ONHOOKTRANSFER,
        DAHDI_GETVERSION,
        DAHDI_SETPOLARITY,
        DAHDI_VMWI,
        DAHDI_VMWI_CONFIG,
        DAHDI_BUFFER_EVENTS,
    ];
    all.extend(layout!(
        DahdiParams = dahdi_params {
            channo,
            spanno,
            chanpos,
            sigtype,
            sigcap,
            rxisoffhook,
            rxbits,
            txbits,
            txhooksig,
            rxhooksig,
            curlaw,
            idlebits,
            name,
            prewinktime,
            preflashtime,
            winktime,
            flashtime,
            starttime,
            rxwinktime,
            rxflashtime,
            debouncetime,
            pulsebreaktime,
            pulsemaketime,
            pulseaftertime,
            chan_alarms,
        }
    ));
    all.extend(layout!(
        DahdiSpanInfo = dahdi_spaninfo {
            spanno,
            name,
            desc,
            alarms,
            txlevel,
            rxlevel,
            bpvcount,
            crc4count,
            ebitcount,
            fascount,
            fecount,
            cvcount,
            becount,
            prbs,
            errsec,
            irqmisses,
            syncsrc,
            numchans,
            totalchans,
            totalspans,
            lbo,
            lineconfig,
            lboname,
            location,
            manufacturer,
            devicetype,
            irq,
            linecompat,
            spantype,
        }
    ));
    all.extend(layout!(
        DahdiBufferInfo = dahdi_bufferinfo {
            txbufpolicy,
            rxbufpolicy,
            numbufs,
            bufsize,
            readbufs,
            writebufs,
        }
    ));
    all.extend(layout!(
        DahdiVersionInfo = dahdi_versioninfo {
            version,
            echo_canceller,
        }
    ));
    all.extend(layout!(
        DahdiRingCadence = dahdi_ring_cadence { ringcadence }
    ));
    all.extend(layout!(DahdiVmwiInfo = dahdi_vmwi_info { vmwi_type }));
    all.extend(layout!(
        DahdiToneDefHeader = dahdi_tone_def_header {
            count,
            zone,
            ringcadence,
            name,
        }
    ));
    all.extend(layout!(
        DahdiToneDef = dahdi_tone_def {
            tone,
            next,
            samples,
            shift,
            fac1,
            init_v2_1,
            init_v3_1,
            fac2,
            init_v2_2,
            init_v3_2,
            modulate,
        }
    ));
    all.extend(layout!(
        DahdiEchoCanParams = dahdi_echocanparams {
            tap_length,
            param_count,
        }
    ));
    all.extend(layout!(
        DahdiEchoCanParam = dahdi_echocanparam { name, value }
    ));
    // The C structs end in flexible arrays that the Rust structs leave out: they must start
    // right at the end of the Rust struct.
    all.push(Check {
        key: "offset DahdiToneDefHeader.tones".into(),
        rust: size_of::<DahdiToneDefHeader>() as i64,
        c_expr: "(long long)offsetof(struct dahdi_tone_def_header, tones)".into(),
    });
    all.push(Check {
        key: "offset DahdiEchoCanParams.params".into(),
        rust: size_of::<DahdiEchoCanParams>() as i64,
        c_expr: "(long long)offsetof(struct dahdi_echocanparams, params)".into(),
    });
    all
}

/// Every `pub const` and `pub struct` name declared in the files of src/sys/.
fn declared_items() -> (BTreeSet<String>, BTreeSet<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sys");
    let mut src = String::new();
    for entry in std::fs::read_dir(&dir).expect("read src/sys/") {
        let path = entry.expect("read src/sys/").path();
        src += &std::fs::read_to_string(&path).expect("read a file of src/sys/");
    }
    let mut consts = BTreeSet::new();
    let mut structs = BTreeSet::new();
    for line in src.lines() {
        let word = |prefix: &str| {
            line.strip_prefix(prefix).map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
        };
        if let Some(name) = word("pub const ") {
            consts.insert(name);
        } else if let Some(name) = word("pub struct ") {
            structs.insert(name);
        }
    }
    (consts, structs)
}

/// Extracts include/dahdi/ from dahdi-source; returns the directory to pass to `-I`.
fn extract_headers(dir: &Path) -> PathBuf {
    assert!(
        Path::new(DAHDI_SOURCE).exists(),
        "{DAHDI_SOURCE} is missing: install Debian's dahdi-source (scripts/install-deps)"
    );
    let out = Command::new("tar")
        .arg("-xjf")
        .arg(DAHDI_SOURCE)
        .arg("-C")
        .arg(dir)
        .arg("--wildcards")
        .arg("*/include/dahdi/*")
        .output()
        .expect("run tar (needs tar and bzip2)");
    assert!(
        out.status.success(),
        "tar failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user_h = find(dir, Path::new("include/dahdi/user.h"))
        .expect("include/dahdi/user.h not found in dahdi-source");
    user_h
        .parent()
        .and_then(Path::parent)
        .expect("include dir")
        .to_path_buf()
}

fn find(dir: &Path, tail: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.ends_with(tail) {
            return Some(p);
        }
        if p.is_dir() {
            if let Some(found) = find(&p, tail) {
                return Some(found);
            }
        }
    }
    None
}

/// Compiles and runs the probe; returns its `key -> value` lines.
fn run_probe(dir: &Path, include: &Path, checks: &[Check]) -> BTreeMap<String, i64> {
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <dahdi/user.h>\nint main(void)\n{\n",
    );
    for ch in checks {
        c.push_str(&format!(
            "\tprintf(\"%s\\t%lld\\n\", \"{}\", {});\n",
            ch.key, ch.c_expr
        ));
    }
    c.push_str("\treturn 0;\n}\n");
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, c).expect("write probe.c");
    let out = Command::new("gcc")
        .arg("-std=gnu11")
        .arg("-Wall")
        .arg("-I")
        .arg(include)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("run gcc (install gcc: scripts/install-deps)");
    assert!(
        out.status.success(),
        "gcc could not compile the probe against dahdi/user.h:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().expect("run the probe");
    assert!(out.status.success(), "probe failed");
    String::from_utf8(out.stdout)
        .expect("probe output is UTF-8")
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once('\t').expect("key<TAB>value");
            (k.to_string(), v.parse().expect("integer"))
        })
        .collect()
}

#[test]
fn every_sys_item_is_checked() {
    let checks = checks();
    let checked: BTreeSet<&str> = checks.iter().map(|c| c.key.as_str()).collect();
    let (consts, structs) = declared_items();
    let mut missing = Vec::new();
    for name in &consts {
        if !checked.contains(format!("const {name}").as_str()) {
            missing.push(format!("pub const {name}"));
        }
    }
    for name in &structs {
        if !checked.contains(format!("size {name}").as_str()) {
            missing.push(format!("pub struct {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "items of src/sys/ not compared with user.h (add them to tests/header_check.rs): {missing:?}"
    );
    assert!(
        consts.len() > 100 && structs.len() == 10,
        "source scan works"
    );
}

#[test]
fn sys_matches_dahdi_user_h() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let include = extract_headers(tmp.path());
    let checks = checks();
    let c_values = run_probe(tmp.path(), &include, &checks);
    let mut mismatches = Vec::new();
    for ch in &checks {
        match c_values.get(&ch.key) {
            Some(&c) if c == ch.rust => {}
            Some(&c) => mismatches.push(format!("{}: Rust {} != C {}", ch.key, ch.rust, c)),
            None => mismatches.push(format!("{}: missing from the probe output", ch.key)),
        }
    }
    assert!(
        mismatches.is_empty(),
        "driver_ffi::sys disagrees with dahdi/user.h:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(c_values.len(), checks.len(), "one probe line per check");
}
