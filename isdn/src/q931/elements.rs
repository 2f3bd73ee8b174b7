//! The contents of the information elements SS-MWI and basic call interpret (Q.931 §4.5), and
//! the raw form of every other one.

use crate::ber::int_enum;

/// Bearer capability IE content (Q.931 §4.5.5), the fields SS-MWI needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BearerCapability {
    /// Coding standard, 2 bits (0 ITU-T, 1 ISO/IEC, 2 national, 3 network-specific).
    pub coding_standard: u8,
    /// Information transfer capability, 5 bits (0 speech, 8 unrestricted digital, 16 3.1 kHz
    /// audio).
    pub transfer_capability: u8,
    /// Transfer mode, 2 bits (0 circuit, 2 packet).
    pub transfer_mode: u8,
    /// Information transfer rate, 5 bits (0 packet/none, 16 64 kbit/s, 24 multirate).
    pub transfer_rate: u8,
    /// User information layer 1 protocol, 5 bits (2 µ-law, 3 A-law), if present.
    pub layer1: Option<u8>,
}

impl BearerCapability {
    /// `a8 80`: what QSIG call-independent signalling connections use (ECMA-165 §7.1.1).
    pub const CIS: BearerCapability = BearerCapability {
        coding_standard: 1,
        transfer_capability: 8,
        transfer_mode: 0,
        transfer_rate: 0,
        layer1: None,
    };

    /// Speech, circuit mode, 64 kbit/s, G.711 `law` in layer 1 (Q.931 §4.5.5): `04 03 80 90 a2`
    /// (µ-law) or `.. a3` (A-law), the bearer capability of a telephone call.
    pub const fn speech(law: Layer1) -> BearerCapability {
        BearerCapability {
            coding_standard: 0,
            transfer_capability: transfer_capability::SPEECH,
            transfer_mode: 0,
            transfer_rate: 0x10,
            layer1: Some(law as u8),
        }
    }

    /// 3.1 kHz audio, circuit mode, 64 kbit/s, G.711 `law` in layer 1 (Q.931 §4.5.5):
    /// `04 03 90 90 a2` / `.. a3`, what a modem or fax call (and some PBXs) use.
    pub const fn audio_3k1(law: Layer1) -> BearerCapability {
        BearerCapability {
            transfer_capability: transfer_capability::AUDIO_3K1,
            ..BearerCapability::speech(law)
        }
    }

    /// Whether this is a voice call this crate can carry on a B-channel: ITU-T coding, speech
    /// or 3.1 kHz audio, circuit mode, 64 kbit/s (Q.931 §4.5.5). Anything else is answered
    /// with cause 65 "bearer capability not implemented".
    pub fn is_voice(&self) -> bool {
        self.coding_standard == 0
            && matches!(
                self.transfer_capability,
                transfer_capability::SPEECH | transfer_capability::AUDIO_3K1
            )
            && self.transfer_mode == 0
            && self.transfer_rate == 0x10
    }

    pub(super) fn parse(c: &[u8]) -> Option<BearerCapability> {
        let o3 = *c.first()?;
        let o4 = *c.get(1)?;
        let mut i = 2;
        // Octets 4a/4b (extension bit 0 on octet 4), then the multirate multiplier.
        if o4 & 0x80 == 0 {
            while c.get(i)? & 0x80 == 0 {
                i += 1;
            }
            i += 1;
        }
        let transfer_rate = o4 & 0x1f;
        if transfer_rate == 0x18 {
            i += 1;
        }
        let layer1 = c.get(i).filter(|&&b| b & 0x60 == 0x20).map(|&b| b & 0x1f);
        Some(BearerCapability {
            coding_standard: (o3 >> 5) & 3,
            transfer_capability: o3 & 0x1f,
            transfer_mode: (o4 >> 5) & 3,
            transfer_rate,
            layer1,
        })
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.coding_standard & 3) << 5 | (self.transfer_capability & 0x1f));
        out.push(0x80 | (self.transfer_mode & 3) << 5 | (self.transfer_rate & 0x1f));
        if let Some(l1) = self.layer1 {
            out.push(0xa0 | (l1 & 0x1f));
        }
    }
}

/// Information transfer capabilities of the bearer capability (Q.931 §4.5.5, octet 3).
pub mod transfer_capability {
    /// 0 speech.
    pub const SPEECH: u8 = 0x00;
    /// 8 unrestricted digital information.
    pub const UNRESTRICTED_DIGITAL: u8 = 0x08;
    /// 16 3.1 kHz audio.
    pub const AUDIO_3K1: u8 = 0x10;
}

/// User information layer 1 protocol of the bearer capability (Q.931 §4.5.5, octet 5): the
/// G.711 law of the B-channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Layer1 {
    /// 2 G.711 µ-law (T1, North America and Japan).
    MuLaw = 2,
    /// 3 G.711 A-law (E1).
    ALaw = 3,
}

/// Channel identification IE content (Q.931 §4.5.13), primary-rate form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelId {
    /// Interface type: `true` = primary rate ("other interface").
    pub pri: bool,
    /// `true` = exclusive, `false` = preferred.
    pub exclusive: bool,
    /// D-channel indicator: the D-channel itself is identified.
    pub d_channel: bool,
    /// Information channel selection, 2 bits (0 no channel, 1 as indicated / B1, 3 any).
    pub selection: u8,
    /// B-channel number (octet 3.3), primary rate only.
    pub channel: Option<u8>,
}

impl ChannelId {
    /// `ac`: PRI, exclusive, D-channel, no B-channel: the CIS SETUP of ECMA-165.
    pub const D_CHANNEL: ChannelId = ChannelId {
        pri: true,
        exclusive: true,
        d_channel: true,
        selection: 0,
        channel: None,
    };

    /// PRI B-channel `channel` (Q.931 §4.5.13: `18 03 a9 83 8n` exclusive, `a1 83 8n`
    /// preferred). The number is the timeslot: 1-23 on a T1 (24 is the D-channel), 1-15 and
    /// 17-31 on an E1 (16 is the D-channel).
    pub const fn b_channel(channel: u8, exclusive: bool) -> ChannelId {
        ChannelId {
            pri: true,
            exclusive,
            d_channel: false,
            selection: 1,
            channel: Some(channel),
        }
    }

    pub(super) fn parse(c: &[u8]) -> Option<ChannelId> {
        let o3 = *c.first()?;
        let mut i = 1;
        if o3 & 0x40 != 0 {
            // Interface identifier octets, up to the one with the extension bit set.
            while c.get(i)? & 0x80 == 0 {
                i += 1;
            }
            i += 1;
        }
        let pri = o3 & 0x20 != 0;
        let channel = match c.get(i) {
            Some(&o32) if pri => {
                // Only "channel number, B-channel units" (type 3) is represented; a slot map
                // or H-channel units are not. Number 0 is no channel.
                if o32 & 0x10 != 0 || o32 & 0x0f != 3 {
                    return None;
                }
                Some(c.get(i + 1)? & 0x7f).filter(|&n| n != 0)
            }
            _ => None,
        };
        Some(ChannelId {
            pri,
            exclusive: o3 & 0x08 != 0,
            d_channel: o3 & 0x04 != 0,
            selection: o3 & 3,
            channel,
        })
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.push(
            0x80 | u8::from(self.pri) << 5
                | u8::from(self.exclusive) << 3
                | u8::from(self.d_channel) << 2
                | (self.selection & 3),
        );
        if let (true, Some(n)) = (self.pri, self.channel) {
            out.push(0x83);
            out.push(0x80 | (n & 0x7f));
        }
    }
}

int_enum!(
    u8,
    /// Type of number of a party number IE (Q.931 §4.5.8, 3 bits).
    TypeOfNumber {
        /// 0 unknown.
        Unknown = 0,
        /// 1 international number.
        International = 1,
        /// 2 national number.
        National = 2,
        /// 3 network specific number.
        NetworkSpecific = 3,
        /// 4 subscriber number.
        Subscriber = 4,
        /// 6 abbreviated number.
        Abbreviated = 6,
    }
);

int_enum!(
    u8,
    /// Numbering plan of a party number IE (Q.931 §4.5.8, 4 bits).
    NumberingPlan {
        /// 0 unknown.
        Unknown = 0,
        /// 1 ISDN/telephony (E.164).
        Isdn = 1,
        /// 3 data (X.121).
        Data = 3,
        /// 4 telex (F.69).
        Telex = 4,
        /// 8 national standard.
        National = 8,
        /// 9 private.
        Private = 9,
    }
);

/// Octet 3a of the calling party number (Q.931 §4.5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Presentation {
    /// Presentation indicator, 2 bits (0 allowed, 1 restricted, 2 not available).
    pub indicator: u8,
    /// Screening indicator, 2 bits (0 user-provided not screened, 3 network provided).
    pub screening: u8,
}

/// Calling or called party number IE content (Q.931 §4.5.8, §4.5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartyNumberIe<'a> {
    /// Type of number.
    pub ton: TypeOfNumber,
    /// Numbering plan identification.
    pub plan: NumberingPlan,
    /// Octet 3a (calling party number only); `None` leaves it out.
    pub presentation: Option<Presentation>,
    /// Number digits, IA5 characters (`0`-`9`, `*`, `#`, ...).
    pub digits: &'a str,
}

impl<'a> PartyNumberIe<'a> {
    /// Type and plan unknown, no octet 3a: the called party number of the golden SETUP.
    pub fn unknown(digits: &'a str) -> PartyNumberIe<'a> {
        PartyNumberIe {
            ton: TypeOfNumber::Unknown,
            plan: NumberingPlan::Unknown,
            presentation: None,
            digits,
        }
    }

    pub(super) fn parse(c: &'a [u8]) -> Option<PartyNumberIe<'a>> {
        let o3 = *c.first()?;
        let (presentation, rest) = if o3 & 0x80 == 0 {
            let o3a = *c.get(1)?;
            let p = Presentation {
                indicator: (o3a >> 5) & 3,
                screening: o3a & 3,
            };
            (Some(p), c.get(2..)?)
        } else {
            (None, c.get(1..)?)
        };
        if !rest.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        Some(PartyNumberIe {
            ton: TypeOfNumber::from_value((o3 >> 4) & 7),
            plan: NumberingPlan::from_value(o3 & 0x0f),
            presentation,
            digits: std::str::from_utf8(rest).ok()?,
        })
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let o3 = (self.ton.value() & 7) << 4 | (self.plan.value() & 0x0f);
        match self.presentation {
            Some(p) => {
                out.push(o3);
                out.push(0x80 | (p.indicator & 3) << 5 | (p.screening & 3));
            }
            None => out.push(0x80 | o3),
        }
        out.extend_from_slice(self.digits.as_bytes());
    }
}

int_enum!(
    u8,
    /// Cause location (Q.850 §2.2.3, 4 bits).
    Location {
        /// 0 user.
        User = 0,
        /// 1 private network serving the local user.
        PrivateLocal = 1,
        /// 2 public network serving the local user.
        PublicLocal = 2,
        /// 3 transit network.
        Transit = 3,
        /// 4 public network serving the remote user.
        PublicRemote = 4,
        /// 5 private network serving the remote user.
        PrivateRemote = 5,
        /// 7 international network.
        International = 7,
        /// 10 network beyond interworking point.
        BeyondInterworking = 10,
    }
);

/// Cause IE content (Q.931 §4.5.12, Q.850).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cause<'a> {
    /// Coding standard, 2 bits (0 = ITU-T).
    pub coding_standard: u8,
    /// Location.
    pub location: Location,
    /// Cause value, 7 bits (see [`cause`](super::cause)).
    pub value: u8,
    /// Diagnostics octets (e.g. the IE identifier for causes 96/99/100, the message type for
    /// 97/98/101).
    pub diagnostics: &'a [u8],
}

impl<'a> Cause<'a> {
    /// ITU-T coding, no diagnostics.
    pub fn new(location: Location, value: u8) -> Cause<'a> {
        Cause {
            coding_standard: 0,
            location,
            value,
            diagnostics: &[],
        }
    }

    pub(super) fn parse(c: &'a [u8]) -> Option<Cause<'a>> {
        let o3 = *c.first()?;
        // Octet 3a (recommendation) is present when octet 3 has the extension bit clear.
        let i = if o3 & 0x80 == 0 { 2 } else { 1 };
        let o4 = *c.get(i)?;
        Some(Cause {
            coding_standard: (o3 >> 5) & 3,
            location: Location::from_value(o3 & 0x0f),
            value: o4 & 0x7f,
            diagnostics: c.get(i + 1..)?,
        })
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.coding_standard & 3) << 5 | (self.location.value() & 0x0f));
        out.push(0x80 | (self.value & 0x7f));
        out.extend_from_slice(self.diagnostics);
    }
}

/// An information element kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawIe<'a> {
    /// Codeset (0 = Q.931, 5 = national, 6 = network, 7 = user; via shift, Q.931 §4.5.2).
    pub codeset: u8,
    /// Identifier. Single-octet IEs (bit 8 set) carry their value in it.
    pub id: u8,
    /// Content octets (empty for single-octet IEs).
    pub content: &'a [u8],
}

impl RawIe<'_> {
    /// Codeset-0 variable-length IEs with identifier bits 8-5 = `0000` are "comprehension
    /// required" (Q.931 §4.5.1): an unrecognised one is treated like a missing mandatory IE.
    pub fn comprehension_required(&self) -> bool {
        self.codeset == 0 && self.id < 0x10
    }

    pub(super) fn is_single_octet(&self) -> bool {
        self.id & 0x80 != 0
    }
}

/// Progress indicator IE content (Q.931 §4.5.23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgressIndicator {
    /// Coding standard, 2 bits (0 = ITU-T).
    pub coding_standard: u8,
    /// Where the interworking happens.
    pub location: Location,
    /// Progress description, 7 bits (see [`progress`](super::progress)).
    pub description: u8,
}

impl ProgressIndicator {
    /// ITU-T coding.
    pub fn new(location: Location, description: u8) -> ProgressIndicator {
        ProgressIndicator {
            coding_standard: 0,
            location,
            description,
        }
    }

    pub(super) fn parse(c: &[u8]) -> Option<ProgressIndicator> {
        let (&o3, &o4) = (c.first()?, c.get(1)?);
        Some(ProgressIndicator {
            coding_standard: (o3 >> 5) & 3,
            location: Location::from_value(o3 & 0x0f),
            description: o4 & 0x7f,
        })
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.coding_standard & 3) << 5 | (self.location.value() & 0x0f));
        out.push(0x80 | (self.description & 0x7f));
    }
}

int_enum!(
    u8,
    /// Class of the restart indicator IE (Q.931 §4.5.25, 3 bits).
    RestartClass {
        /// 0 the channels indicated in the channel identification IE.
        Indicated = 0,
        /// 6 the single interface.
        SingleInterface = 6,
        /// 7 all interfaces.
        AllInterfaces = 7,
    }
);

impl RestartClass {
    pub(super) fn parse(c: &[u8]) -> Option<RestartClass> {
        match c {
            [o3] => Some(RestartClass::from_value(o3 & 7)),
            _ => None,
        }
    }
}

/// Display IE content (Q.931 §4.5.16): IA5 characters, at most [`DISPLAY_MAX`]. A leading
/// octet with bit 8 set (ETSI and national variants put a display type there) is skipped.
pub(super) fn parse_display(c: &[u8]) -> Option<&str> {
    let text = match c.first() {
        Some(b) if b & 0x80 != 0 => &c[1..],
        _ => c,
    };
    if text.len() > DISPLAY_MAX || !text.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    std::str::from_utf8(text).ok()
}

/// Longest display text accepted (Q.931 §4.5.16: 34 octets in a SETUP; 82 is the network
/// maximum of Q.931 Table 4-3 note).
pub const DISPLAY_MAX: usize = 82;
