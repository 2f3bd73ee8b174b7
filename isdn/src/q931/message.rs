//! The message: the checked header view ([`Packet`]), the parsed form ([`Message`]) and the
//! Q.931 §5.8 verdict on it ([`Verdict`]).

use super::elements::parse_display;
use super::{
    cause, ie, BearerCapability, CallReference, Cause, ChannelId, Error, MessageType,
    PartyNumberIe, ProgressIndicator, RawIe, RestartClass, PROTOCOL_DISCRIMINATOR,
};

/// What Q.931 §5.8 says about a received message (see [`Message::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing wrong.
    Ok,
    /// §5.8.4: message type unknown or not implemented; do not act. Cause 97.
    UnknownMessageType(u8),
    /// §5.8.6.1 / §5.8.7.1: a mandatory IE is missing, or an unrecognised IE is
    /// comprehension-required; do not act. Cause 96, diagnostic = IE identifier.
    MandatoryMissing(u8),
    /// §5.8.6.2: a mandatory IE has invalid content; do not act. Cause 100.
    MandatoryInvalid(u8),
    /// §5.8.7.1: an unrecognised, non-comprehension-required IE; act on the rest, then
    /// optionally STATUS cause 99.
    UnrecognisedIe(u8),
    /// §5.8.7.2: an optional IE has invalid content; act on the rest as if it were absent,
    /// then optionally STATUS cause 100.
    OptionalInvalid(u8),
}

impl Verdict {
    /// `true` when the message must not be acted upon (the first three error kinds).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Verdict::UnknownMessageType(_)
                | Verdict::MandatoryMissing(_)
                | Verdict::MandatoryInvalid(_)
        )
    }

    /// The cause value to report and its one-octet diagnostic, `None` for [`Verdict::Ok`].
    pub fn cause(&self) -> Option<(u8, u8)> {
        match *self {
            Verdict::Ok => None,
            Verdict::UnknownMessageType(t) => Some((cause::MESSAGE_TYPE_NONEXISTENT, t)),
            Verdict::MandatoryMissing(i) => Some((cause::MANDATORY_IE_MISSING, i)),
            Verdict::MandatoryInvalid(i) | Verdict::OptionalInvalid(i) => {
                Some((cause::INVALID_IE_CONTENTS, i))
            }
            Verdict::UnrecognisedIe(i) => Some((cause::IE_NONEXISTENT, i)),
        }
    }
}

/// Checked view of a Q.931 message header (smoltcp-style `Packet`).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks protocol discriminator, call reference length and that the message type is
    /// present. Errors: see [`Error`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let b = buffer.as_ref();
        let pd = *b.first().ok_or(Error::Truncated)?;
        if pd != PROTOCOL_DISCRIMINATOR {
            return Err(Error::ProtocolDiscriminator(pd));
        }
        let crl = *b.get(1).ok_or(Error::Truncated)?;
        if crl > 2 {
            return Err(Error::CallReferenceLength(crl));
        }
        if b.len() < 3 + usize::from(crl) {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn cr_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[1])
    }

    /// The call reference.
    pub fn call_reference(&self) -> CallReference {
        let b = self.buffer.as_ref();
        match self.cr_len() {
            0 => CallReference::Dummy,
            1 => CallReference::Call {
                value: u16::from(b[2] & 0x7f),
                flag: b[2] & 0x80 != 0,
            },
            _ => CallReference::Call {
                value: u16::from(b[2] & 0x7f) << 8 | u16::from(b[3]),
                flag: b[2] & 0x80 != 0,
            },
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        MessageType::from_value(self.buffer.as_ref()[2 + self.cr_len()])
    }

    /// The information element octets after the message type.
    pub fn ies(&self) -> &[u8] {
        &self.buffer.as_ref()[3 + self.cr_len()..]
    }
}

/// A Q.931 message (`Repr`): header and information elements.
///
/// Recognised IEs are in their fields; a repeated non-repeatable IE keeps the first
/// occurrence (Q.931 §5.8.7.3). [`Message::emit`] writes codeset-0 IEs in ascending identifier
/// order (Q.931 §4.5.1), then the IEs of other codesets, each behind a non-locking shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Call reference.
    pub call_reference: CallReference,
    /// Message type.
    pub message_type: MessageType,
    /// Bearer capability (`04`).
    pub bearer_capability: Option<BearerCapability>,
    /// Cause (`08`).
    pub cause: Option<Cause<'a>>,
    /// Call state (`14`), the 6-bit state value (see [`call_state`](super::call_state)).
    pub call_state: Option<u8>,
    /// Channel identification (`18`).
    pub channel_id: Option<ChannelId>,
    /// Facility IEs (`1c`), content after the length octet; decode with
    /// [`crate::rose::Facility::parse`]. Repeatable.
    pub facility: Vec<&'a [u8]>,
    /// Progress indicator (`1e`); Q.931 allows two in a SETUP, the first is kept.
    pub progress: Option<ProgressIndicator>,
    /// Display (`28`), the IA5 text.
    pub display: Option<&'a str>,
    /// Calling party number (`6c`).
    pub calling_party_number: Option<PartyNumberIe<'a>>,
    /// Called party number (`70`).
    pub called_party_number: Option<PartyNumberIe<'a>>,
    /// Restart indicator (`79`).
    pub restart_indicator: Option<RestartClass>,
    /// IEs this module does not interpret (other codesets and single-octet IEs included).
    pub unknown: Vec<RawIe<'a>>,
    /// Recognised IEs whose content is malformed (Q.931 §5.8.6.2 / §5.8.7.2), kept raw.
    pub invalid: Vec<RawIe<'a>>,
}

impl<'a> Message<'a> {
    /// A message with no IEs.
    pub fn new(call_reference: CallReference, message_type: MessageType) -> Message<'a> {
        Message {
            call_reference,
            message_type,
            bearer_capability: None,
            cause: None,
            call_state: None,
            channel_id: None,
            facility: Vec::new(),
            progress: None,
            display: None,
            calling_party_number: None,
            called_party_number: None,
            restart_indicator: None,
            unknown: Vec::new(),
            invalid: Vec::new(),
        }
    }

    /// SETUP of a call-independent signalling connection (ECMA-165 §7.1): bearer capability
    /// `04 02 a8 80`, channel identification `18 01 ac`, one Facility IE, optional calling and
    /// called party numbers. With the facility of [`crate::qsig::MwiInvoke::facility`] and
    /// numbers as in docs/qsig.md, the bytes equal libpri's.
    pub fn setup_cis(
        call_reference: CallReference,
        facility: &'a [u8],
        calling: Option<PartyNumberIe<'a>>,
        called: Option<PartyNumberIe<'a>>,
    ) -> Message<'a> {
        Message {
            bearer_capability: Some(BearerCapability::CIS),
            channel_id: Some(ChannelId::D_CHANNEL),
            facility: vec![facility],
            calling_party_number: calling,
            called_party_number: called,
            ..Message::new(call_reference, MessageType::Setup)
        }
    }

    /// SETUP of a basic call (Q.931 §3.1.14, §5.1.1): bearer capability, channel
    /// identification (mandatory from the network side, optional from the user side), calling
    /// and called party numbers.
    pub fn setup(
        call_reference: CallReference,
        bearer: BearerCapability,
        channel: Option<ChannelId>,
        calling: Option<PartyNumberIe<'a>>,
        called: PartyNumberIe<'a>,
    ) -> Message<'a> {
        Message {
            bearer_capability: Some(bearer),
            channel_id: channel,
            calling_party_number: calling,
            called_party_number: Some(called),
            ..Message::new(call_reference, MessageType::Setup)
        }
    }

    /// RESTART or RESTART ACKNOWLEDGE on the global call reference (Q.931 §5.5): `class`
    /// with the channel identification of `channel` for [`RestartClass::Indicated`].
    pub fn restart(
        message_type: MessageType,
        flag: bool,
        class: RestartClass,
        channel: Option<ChannelId>,
    ) -> Message<'a> {
        Message {
            restart_indicator: Some(class),
            channel_id: channel,
            ..Message::new(CallReference::Call { value: 0, flag }, message_type)
        }
    }

    /// FACILITY with one Facility IE; with [`CallReference::Dummy`] this is the
    /// connectionless transport (ECMA-165 §7.3, `08 00 62 1c ..`).
    pub fn new_facility(call_reference: CallReference, facility: &'a [u8]) -> Message<'a> {
        Message {
            facility: vec![facility],
            ..Message::new(call_reference, MessageType::Facility)
        }
    }

    /// RELEASE COMPLETE, with an optional cause.
    pub fn release_complete(
        call_reference: CallReference,
        cause: Option<Cause<'a>>,
    ) -> Message<'a> {
        Message {
            cause,
            ..Message::new(call_reference, MessageType::ReleaseComplete)
        }
    }

    /// RELEASE, with an optional cause (mandatory only in the first clearing message).
    pub fn release(call_reference: CallReference, cause: Option<Cause<'a>>) -> Message<'a> {
        Message {
            cause,
            ..Message::new(call_reference, MessageType::Release)
        }
    }

    /// DISCONNECT with its mandatory cause.
    pub fn disconnect(call_reference: CallReference, cause: Cause<'a>) -> Message<'a> {
        Message {
            cause: Some(cause),
            ..Message::new(call_reference, MessageType::Disconnect)
        }
    }

    /// STATUS (Q.931 §5.8.11 / §3.1.16): cause and current call state, both mandatory.
    /// E.g. cause 97 with the unknown message type as diagnostic, cause 30 in answer to
    /// STATUS ENQUIRY.
    pub fn status(call_reference: CallReference, cause: Cause<'a>, state: u8) -> Message<'a> {
        Message {
            cause: Some(cause),
            call_state: Some(state),
            ..Message::new(call_reference, MessageType::Status)
        }
    }

    /// Parses a message. Only header errors fail (see [`Error`]); IE problems are recorded in
    /// [`Message::unknown`] / [`Message::invalid`] and judged by [`Message::check`].
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, Error> {
        let packet = Packet::new_checked(buf)?;
        let mut m = Message::new(packet.call_reference(), packet.message_type());
        let ies = &buf[buf.len() - packet.ies().len()..];
        let mut pos = 0;
        let mut locked = 0u8;
        let mut next_only: Option<u8> = None;
        while let Some(&id) = ies.get(pos) {
            let codeset = next_only.take().unwrap_or(locked);
            if id & 0x80 != 0 {
                pos += 1;
                if id & 0xf0 == 0x90 {
                    // Shift (Q.931 §4.5.3-4): bit 4 set = non-locking, for the next IE only.
                    if id & 0x08 != 0 {
                        next_only = Some(id & 7);
                    } else {
                        locked = id & 7;
                    }
                } else {
                    m.unknown.push(RawIe {
                        codeset,
                        id,
                        content: &[],
                    });
                }
                continue;
            }
            let len = ies.get(pos + 1).map(|&l| usize::from(l));
            let content = len.and_then(|l| ies.get(pos + 2..pos + 2 + l));
            let Some(content) = content else {
                // The IE runs past the end of the message: keep what is there as invalid.
                m.invalid.push(RawIe {
                    codeset,
                    id,
                    content: ies.get(pos + 2..).unwrap_or(&[]),
                });
                break;
            };
            pos += 2 + content.len();
            let raw = RawIe {
                codeset,
                id,
                content,
            };
            if codeset != 0 {
                m.unknown.push(raw);
                continue;
            }
            let ok = match id {
                ie::BEARER_CAPABILITY => {
                    set_first(&mut m.bearer_capability, BearerCapability::parse(content))
                }
                ie::CAUSE => set_first(&mut m.cause, Cause::parse(content)),
                ie::CALL_STATE => set_first(
                    &mut m.call_state,
                    (content.len() == 1).then(|| content[0] & 0x3f),
                ),
                ie::CHANNEL_IDENTIFICATION => {
                    set_first(&mut m.channel_id, ChannelId::parse(content))
                }
                ie::FACILITY => {
                    m.facility.push(content);
                    true
                }
                ie::CALLING_PARTY_NUMBER => {
                    set_first(&mut m.calling_party_number, PartyNumberIe::parse(content))
                }
                ie::CALLED_PARTY_NUMBER => {
                    set_first(&mut m.called_party_number, PartyNumberIe::parse(content))
                }
                ie::PROGRESS_INDICATOR => {
                    set_first(&mut m.progress, ProgressIndicator::parse(content))
                }
                ie::DISPLAY => set_first(&mut m.display, parse_display(content)),
                ie::RESTART_INDICATOR => {
                    set_first(&mut m.restart_indicator, RestartClass::parse(content))
                }
                _ => {
                    m.unknown.push(raw);
                    true
                }
            };
            if !ok {
                m.invalid.push(raw);
            }
        }
        Ok(m)
    }

    /// The mandatory IEs of this message type in both directions (Q.931 §3.1 and §3.2,
    /// ECMA-165 §7). Channel identification, mandatory only network to user (§3.1.14), is
    /// checked by the call state machine.
    pub fn mandatory_ies(&self) -> &'static [u8] {
        match self.message_type {
            MessageType::Setup => &[ie::BEARER_CAPABILITY],
            MessageType::Disconnect => &[ie::CAUSE],
            MessageType::Progress => &[ie::PROGRESS_INDICATOR],
            MessageType::Restart | MessageType::RestartAcknowledge => &[ie::RESTART_INDICATOR],
            MessageType::Status => &[ie::CAUSE, ie::CALL_STATE],
            MessageType::Facility => &[ie::FACILITY],
            _ => &[],
        }
    }

    fn has_ie(&self, id: u8) -> bool {
        match id {
            ie::BEARER_CAPABILITY => self.bearer_capability.is_some(),
            ie::CAUSE => self.cause.is_some(),
            ie::CALL_STATE => self.call_state.is_some(),
            ie::FACILITY => !self.facility.is_empty(),
            ie::PROGRESS_INDICATOR => self.progress.is_some(),
            ie::RESTART_INDICATOR => self.restart_indicator.is_some(),
            _ => false,
        }
    }

    /// The Q.931 §5.8 verdict on a received message, most severe first: unknown message type,
    /// missing or invalid mandatory IE, unrecognised comprehension-required IE, then the
    /// non-fatal unrecognised IE and invalid optional IE.
    pub fn check(&self) -> Verdict {
        if let MessageType::Other(t) = self.message_type {
            return Verdict::UnknownMessageType(t);
        }
        let invalid_codeset0 = |id: u8| self.invalid.iter().any(|r| r.codeset == 0 && r.id == id);
        for &id in self.mandatory_ies() {
            if !self.has_ie(id) {
                return if invalid_codeset0(id) {
                    Verdict::MandatoryInvalid(id)
                } else {
                    Verdict::MandatoryMissing(id)
                };
            }
        }
        if let Some(r) = self.unknown.iter().find(|r| r.comprehension_required()) {
            return Verdict::MandatoryMissing(r.id);
        }
        if let Some(r) = self
            .unknown
            .iter()
            .find(|r| r.codeset == 0 && !r.is_single_octet())
        {
            return Verdict::UnrecognisedIe(r.id);
        }
        if let Some(r) = self.invalid.first() {
            return Verdict::OptionalInvalid(r.id);
        }
        Verdict::Ok
    }

    /// Appends the encoded message to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(PROTOCOL_DISCRIMINATOR);
        match self.call_reference {
            CallReference::Dummy => out.push(0),
            CallReference::Call { value, flag } => {
                out.push(2);
                out.push(u8::from(flag) << 7 | ((value >> 8) & 0x7f) as u8);
                out.push((value & 0xff) as u8);
            }
        }
        out.push(self.message_type.value());

        // (codeset, identifier, content) gathered, then sorted for §4.5.1 ordering.
        let mut ies: Vec<(u8, u8, Vec<u8>)> = Vec::new();
        let mut put = |id: u8, f: &dyn Fn(&mut Vec<u8>)| {
            let mut c = Vec::new();
            f(&mut c);
            ies.push((0, id, c));
        };
        if let Some(b) = &self.bearer_capability {
            put(ie::BEARER_CAPABILITY, &|c| b.emit(c));
        }
        if let Some(x) = &self.cause {
            put(ie::CAUSE, &|c| x.emit(c));
        }
        if let Some(s) = self.call_state {
            put(ie::CALL_STATE, &|c| c.push(s & 0x3f));
        }
        if let Some(ch) = &self.channel_id {
            put(ie::CHANNEL_IDENTIFICATION, &|c| ch.emit(c));
        }
        for f in &self.facility {
            put(ie::FACILITY, &|c| c.extend_from_slice(f));
        }
        if let Some(p) = &self.progress {
            put(ie::PROGRESS_INDICATOR, &|c| p.emit(c));
        }
        if let Some(d) = self.display {
            put(ie::DISPLAY, &|c| c.extend_from_slice(d.as_bytes()));
        }
        if let Some(p) = &self.calling_party_number {
            put(ie::CALLING_PARTY_NUMBER, &|c| p.emit(c));
        }
        if let Some(p) = &self.called_party_number {
            put(ie::CALLED_PARTY_NUMBER, &|c| p.emit(c));
        }
        if let Some(r) = self.restart_indicator {
            put(ie::RESTART_INDICATOR, &|c| c.push(0x80 | (r.value() & 7)));
        }
        for r in self.unknown.iter().chain(&self.invalid) {
            ies.push((r.codeset, r.id, r.content.to_vec()));
        }
        // Stable sort: equal identifiers (repeated Facility IEs) keep their order.
        ies.sort_by_key(|&(cs, id, _)| (cs, id));
        for (codeset, id, content) in ies {
            if codeset != 0 {
                out.push(0x98 | (codeset & 7));
            }
            out.push(id);
            if id & 0x80 == 0 {
                // IE content is at most 255 octets; longer content is cut, never a panic.
                let len = content.len().min(255);
                out.push(len as u8);
                out.extend_from_slice(&content[..len]);
            }
        }
    }

    /// The encoded message as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }
}

/// Stores `value` into an empty slot; a repeated IE keeps the first (returns `true`).
/// Returns `false` when the content did not parse.
fn set_first<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    match value {
        Some(v) => {
            if slot.is_none() {
                *slot = Some(v);
            }
            true
        }
        None => false,
    }
}
