//! Rules that span several keys (duplicates, channel layout, numbers claimed twice), checked
//! after parsing.
//!
//! A broken rule is reported at a key path (`fxs[1].number`); [`locate`] turns the path into a
//! byte span of the file with toml_edit's span-preserving document. The SIP side's rules are in
//! `sip`; the line side's (tone plans, spans, `[[fxs]]`, `[[pri]]`) and the routing ones are here.

use std::collections::HashMap;
use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

use fxs::PlanError;

use super::{Config, MsgCentreId, MwiProtocol, Pri, ResyncMode, SpanType};
use mwi_core::route::{self, Claimant};
use Seg::{Index, Key};

mod sip;

use sip::{check_auth, check_notifier, check_sip};

/// One step of a key path.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seg {
    /// A key of a table.
    Key(&'static str),
    /// An element of an array or array of tables.
    Index(usize),
}

/// A broken rule: where (key path) and which.
#[derive(Debug)]
pub(crate) struct Violation {
    pub(crate) path: Vec<Seg>,
    pub(crate) message: String,
}

fn at(path: Vec<Seg>, message: String) -> Violation {
    Violation { path, message }
}

/// The first broken rule of `c`, checking section by section in the order below.
pub(crate) fn check(c: &Config) -> Option<Violation> {
    check_sip(c)
        .or_else(|| check_tone_plans(c))
        .or_else(|| check_spans(c))
        .or_else(|| check_fxs(c))
        .or_else(|| check_pri(c))
        .or_else(|| check_claims(c))
        .or_else(|| check_capacity(c))
        .or_else(|| check_notifier(c))
}

/// `[table] capacity` below the numbers served (mwi_core::route::served_count): a NOTIFY for a
/// number beyond it would find the table full (sipd answers 500 with Retry-After).
fn check_capacity(c: &Config) -> Option<Violation> {
    let served = route::served_count(c.fxs_claims(), c.pri_claims());
    let capacity = c.table.capacity;
    (served > u64::from(capacity)).then(|| {
        at(
            vec![Key("table"), Key("capacity")],
            format!(
                "capacity = {capacity}, but the [[fxs]] ports and [[pri]] numbers serve \
                 {served}{} numbers: raise it to at least that",
                if served == u64::MAX { " or more" } else { "" }
            ),
        )
    })
}

fn check_tone_plans(c: &Config) -> Option<Violation> {
    let err = fxs::TonePlans::new(&c.tone_plan).err()?;
    let index_of = |name: &str| c.tone_plan.iter().position(|p| p.name == name);
    let (i, field) = match &err {
        PlanError::Tone { plan, field, .. } => (index_of(plan), *field),
        PlanError::Level { plan, .. } => (index_of(plan), "level_dbm0"),
        // The first use of a built-in name, else the second use of a custom one.
        PlanError::DuplicateName(name) if fxs::cptone(name).is_some() => (index_of(name), "name"),
        PlanError::DuplicateName(name) => (
            c.tone_plan
                .iter()
                .enumerate()
                .filter(|(_, p)| p.name == *name)
                .nth(1)
                .map(|(i, _)| i),
            "name",
        ),
    };
    let message = match &err {
        PlanError::DuplicateName(name) if fxs::cptone(name).is_some() => {
            format!("tone plan {name:?} is a built-in plan's name")
        }
        PlanError::DuplicateName(name) => format!("tone plan {name:?} is defined twice"),
        _ => err.to_string(),
    };
    let mut path = vec![Key("tone_plan")];
    if let Some(i) = i {
        path.extend([Index(i), Key(field)]);
    }
    Some(at(path, message))
}

fn check_spans(c: &Config) -> Option<Violation> {
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for (i, s) in c.span.iter().enumerate() {
        let path = |k| vec![Key("span"), Index(i), Key(k)];
        if s.span == 0 {
            return Some(at(
                path("span"),
                "span = 0: spans are numbered from 1".into(),
            ));
        }
        if s.first_channel == 0 {
            return Some(at(
                path("first_channel"),
                "first_channel = 0: channels are numbered from 1".into(),
            ));
        }
        if s.channels == 0 {
            return Some(at(
                path("channels"),
                "channels = 0: a span has channels".into(),
            ));
        }
        if let Some(first) = seen.insert(s.span, i) {
            return Some(at(
                path("span"),
                format!(
                    "span {} is listed twice (also [[span]] #{})",
                    s.span,
                    first + 1
                ),
            ));
        }
        if let Some((j, o)) = c.span[..i].iter().enumerate().find(|(_, o)| {
            o.first_channel <= *s.channel_range().end()
                && s.first_channel <= *o.channel_range().end()
        }) {
            return Some(at(
                path("first_channel"),
                format!(
                    "span {} (channels {}..={}) overlaps span {} (channels {}..={}, [[span]] #{})",
                    s.span,
                    s.channel_range().start(),
                    s.channel_range().end(),
                    o.span,
                    o.channel_range().start(),
                    o.channel_range().end(),
                    j + 1
                ),
            ));
        }
    }
    None
}

fn check_fxs(c: &Config) -> Option<Violation> {
    let mut channels: HashMap<u32, usize> = HashMap::new();
    for (i, f) in c.fxs.iter().enumerate() {
        let path = |k| vec![Key("fxs"), Index(i), Key(k)];
        if f.channel == 0 {
            return Some(at(
                path("channel"),
                "channel = 0: DAHDI channels are numbered from 1".into(),
            ));
        }
        if let Some(first) = channels.insert(f.channel, i) {
            return Some(at(
                path("channel"),
                format!(
                    "channel {} is on two FXS ports (also number {})",
                    f.channel, c.fxs[first].number
                ),
            ));
        }
        let name = f.cptone.as_str();
        if fxs::cptone(name).is_none() && !c.tone_plan.iter().any(|p| p.name == name) {
            let builtin: Vec<&str> = fxs::plans::builtin_names().collect();
            return Some(at(
                path("cptone"),
                format!(
                    "unknown cptone {name:?}: expected a [[tone_plan]] name or one of {}",
                    builtin.join(", ")
                ),
            ));
        }
        if let Some(p) = c.pri.iter().find(|p| p.dchannel == f.channel) {
            return Some(at(
                path("channel"),
                format!(
                    "channel {} is both an FXS port and the D-channel of PRI span {}",
                    f.channel, p.span
                ),
            ));
        }
        if let Some(p) = c
            .pri
            .iter()
            .find(|p| c.b_channels(p).iter().any(|&(_, ch)| ch == f.channel))
        {
            return Some(at(
                path("channel"),
                format!(
                    "channel {} is both an FXS port and a B-channel of PRI span {} \
                     ([pri.calls] timeslots)",
                    f.channel, p.span
                ),
            ));
        }
        // Only an explicit layout says where PRI spans are; the implicit one is a guess that
        // must not reject an FXS card numbered before the PRI card.
        let on_pri = c.pri.iter().find_map(|p| {
            c.pri_channels(p)
                .filter(|r| !c.span.is_empty() && r.contains(&f.channel))
                .map(|r| (p.span, r))
        });
        if let Some((span, r)) = on_pri {
            return Some(at(
                path("channel"),
                format!(
                    "FXS channel {} is on PRI span {span} (channels {}..={})",
                    f.channel,
                    r.start(),
                    r.end()
                ),
            ));
        }
        if !c.span.is_empty()
            && !c
                .span
                .iter()
                .any(|s| s.channel_range().contains(&f.channel))
        {
            return Some(at(
                path("channel"),
                format!("FXS channel {} is not on any [[span]]", f.channel),
            ));
        }
        if let Some(v) = f
            .auth
            .as_ref()
            .and_then(|a| check_auth(a, vec![Key("fxs"), Index(i), Key("auth")]))
        {
            return Some(v);
        }
        if f.register && c.registrar.is_none() {
            return Some(at(
                path("register"),
                "register = true needs a [registrar] section to register at".into(),
            ));
        }
        if f.register && f.auth.is_none() && c.sip.auth.is_none() {
            return Some(at(
                path("register"),
                "register = true needs credentials: [fxs.auth] or [sip.auth]".into(),
            ));
        }
    }
    None
}

/// Keys of a `[[pri]]` that ETSI MWI (EN 300 745-1) cannot honour: it has no MWIInterrogate,
/// and names the message centre by number only (controllingUserNr).
fn etsi_conflict(i: usize, p: &Pri) -> Option<Violation> {
    if p.mwi_protocol != MwiProtocol::Etsi {
        return None;
    }
    let path = |k| vec![Key("pri"), Index(i), Key(k)];
    if p.resync == ResyncMode::Interrogate {
        return Some(at(
            path("resync"),
            "resync = \"interrogate\" needs mwi_protocol = \"qsig\": ETSI MWI (EN 300 745-1) \
             has no MWIInterrogate"
                .into(),
        ));
    }
    if let Some(MsgCentreId::Integer(v)) = p.msg_centre_id {
        return Some(at(
            path("msg_centre_id"),
            format!(
                "msg_centre_id = {v}: ETSI MWI names the message centre by number \
                 (controllingUserNr); give its digits as a string"
            ),
        ));
    }
    None
}

fn check_pri(c: &Config) -> Option<Violation> {
    let mut spans: HashMap<u32, usize> = HashMap::new();
    for (i, p) in c.pri.iter().enumerate() {
        let path = |k| vec![Key("pri"), Index(i), Key(k)];
        if p.span == 0 {
            return Some(at(
                path("span"),
                "span = 0: spans are numbered from 1".into(),
            ));
        }
        if let Some(first) = spans.insert(p.span, i) {
            return Some(at(
                path("span"),
                format!(
                    "span {} has two [[pri]] entries (also [[pri]] #{})",
                    p.span,
                    first + 1
                ),
            ));
        }
        let Some(range) = c.pri_channels(p) else {
            return Some(at(
                path("span"),
                format!("PRI span {} is not in the [[span]] layout", p.span),
            ));
        };
        let want = p.span_type.channels();
        let have = *range.end() - *range.start() + 1;
        if have != want {
            return Some(at(
                path("span"),
                format!(
                    "PRI span {} has {have} channels in [[span]], but span_type = \"{}\" has {want}",
                    p.span, p.span_type
                ),
            ));
        }
        if !range.contains(&p.dchannel) {
            return Some(at(
                path("dchannel"),
                format!(
                    "D-channel {} is not on span {} (channels {}..={})",
                    p.dchannel,
                    p.span,
                    range.start(),
                    range.end()
                ),
            ));
        }
        if let Some(v) = etsi_conflict(i, p) {
            return Some(v);
        }
        if p.calls.is_some() {
            // Q.931 §4.5.13 / G.704: the D-channel is timeslot 24 of a T1 and 16 of an E1;
            // the others are the B-channels chand may open for calls (`timeslots`).
            let d = match p.span_type {
                SpanType::T1 => 24,
                SpanType::E1 => 16,
            };
            let timeslot = p.dchannel - range.start() + 1;
            if timeslot != d {
                return Some(at(
                    path("dchannel"),
                    format!(
                        "D-channel {} is timeslot {timeslot} of span {}: with [pri.calls] it must \
                         be timeslot {d} (channel {}), the others are the B-channels",
                        p.dchannel,
                        p.span,
                        range.start() + d - 1
                    ),
                ));
            }
            if u16::try_from(p.span).is_err() {
                return Some(at(
                    path("span"),
                    format!(
                        "span = {}: with [pri.calls] spans are numbered up to 65535 (callctl)",
                        p.span
                    ),
                ));
            }
        }
        let d_timeslot = p.dchannel - *range.start() + 1;
        let listed = p.calls.as_ref().and_then(|k| k.timeslots.as_ref());
        if let Some(t) = listed.and_then(|ts| {
            ts.as_slice()
                .iter()
                .find(|&&t| u32::from(t) > want || u32::from(t) == d_timeslot)
        }) {
            return Some(at(
                vec![Key("pri"), Index(i), Key("calls"), Key("timeslots")],
                if u32::from(*t) == d_timeslot {
                    format!("timeslot {t} is the D-channel of span {}", p.span)
                } else {
                    format!(
                        "timeslot {t} is not on a {} span ({want} channels)",
                        p.span_type
                    )
                },
            ));
        }
        if p.numbers.is_empty() {
            return Some(at(
                path("numbers"),
                "numbers is empty: give at least one pattern of served users".into(),
            ));
        }
        if let Some(short) = p.numbers.iter().find(|n| {
            p.served_prefix.as_str().is_empty() && n.as_str().len() <= p.served_strip as usize
        }) {
            return Some(at(
                path("served_strip"),
                format!(
                    "served_strip = {} leaves nothing of pattern {:?}: servedUserNr needs a digit \
                     (give a served_prefix or strip fewer)",
                    p.served_strip,
                    short.as_str()
                ),
            ));
        }
        if !p.served_prefix.is_numeric() {
            return Some(at(
                path("served_prefix"),
                format!(
                    "served_prefix = {:?}: servedUserNr takes digits only (ECMA-155 NumberDigits)",
                    p.served_prefix.as_str()
                ),
            ));
        }
    }
    None
}

/// A number claimed twice (mwi_core::route::double_claim): reported at the second claim.
fn check_claims(c: &Config) -> Option<Violation> {
    let d = route::double_claim(c.fxs_claims(), c.pri_claims())?;
    let (path, what) = match d.second {
        Claimant::Fxs { index } => (
            vec![Key("fxs"), Index(index), Key("number")],
            format!("number {}", d.number),
        ),
        Claimant::Pri { index, pattern } => (
            vec![Key("pri"), Index(index), Key("numbers"), Index(pattern)],
            if d.number.contains('.') {
                format!("pattern {:?}", d.number)
            } else {
                format!("number {}", d.number)
            },
        ),
    };
    let message = match d.first {
        Claimant::Fxs { index } => format!(
            "{what} is on two FXS ports (also channel {})",
            c.fxs[index].channel
        ),
        Claimant::Pri { index, .. } => format!(
            "{what} is claimed twice in [[pri]] numbers (also span {}): the second claim would \
             never be used",
            c.pri[index].span
        ),
    };
    Some(at(path, message))
}

/// Byte span in `text` of the value at `path` (or of the nearest enclosing item that has one).
pub(crate) fn locate(text: &str, path: &[Seg]) -> Option<Range<usize>> {
    let doc = ImDocument::parse(text).ok()?;
    let mut best = None;
    let mut node = Node::Item(doc.as_item());
    for seg in path {
        node = match node.child(*seg) {
            Some(n) => n,
            None => break,
        };
        best = node.span().or(best);
    }
    best
}

/// A position in the document tree: toml_edit has distinct types for standard and inline forms.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn child(self, seg: Seg) -> Option<Node<'a>> {
        match (self, seg) {
            (Node::Item(Item::Table(t)), Key(k)) => t.get(k).map(Node::Item),
            (Node::Item(Item::ArrayOfTables(a)), Index(i)) => a.get(i).map(Node::Table),
            (Node::Item(Item::Value(v)), s) | (Node::Value(v), s) => match (v, s) {
                (Value::InlineTable(t), Key(k)) => t.get(k).map(Node::Value),
                (Value::Array(a), Index(i)) => a.get(i).map(Node::Value),
                _ => None,
            },
            (Node::Table(t), Key(k)) => t.get(k).map(Node::Item),
            _ => None,
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }
}
