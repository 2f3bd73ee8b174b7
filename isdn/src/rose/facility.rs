//! The Facility IE content (ECMA-165 §8.1): protocol profile, the optional network facility
//! extension, network protocol profile and interpretation, then the ROSE APDUs.

use super::{Component, Error, PROFILE_NETWORKING_EXTENSIONS, PROFILE_ROSE};
use crate::ber::{self, Class, Reader, Tag, Tlv, Writer};

/// NetworkFacilityExtension entity type (ECMA-165 §8.1.2, `EntityType ENUMERATED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    /// 0: endPINX, the PINX at the end of the call-independent connection.
    EndPinx,
    /// 1: anyTypeOfPINX.
    AnyTypeOfPinx,
}

/// NetworkFacilityExtension, `[10] IMPLICIT SEQUENCE` (ECMA-165 §8.1.2). The optional
/// entity addresses are skipped on decode and never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkFacilityExtension {
    /// sourceEntity `[0] IMPLICIT EntityType`.
    pub source_entity: EntityType,
    /// destinationEntity `[2] IMPLICIT EntityType`.
    pub destination_entity: EntityType,
}

impl NetworkFacilityExtension {
    /// endPINX to endPINX, what libpri and PBXs send for SS-MWI.
    pub const END_TO_END: NetworkFacilityExtension = NetworkFacilityExtension {
        source_entity: EntityType::EndPinx,
        destination_entity: EntityType::EndPinx,
    };
}

/// InterpretationApdu, `[11] IMPLICIT ENUMERATED` (ECMA-165 §8.1.3): what the receiver does
/// with an Invoke it does not recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpretation {
    /// 0: discardAnyUnrecognisedInvokePdu.
    DiscardUnrecognisedInvoke,
    /// 1: clearCallIfAnyInvokePduNotRecognised.
    ClearCallIfNotRecognised,
    /// 2: rejectAnyUnrecognisedInvokePdu.
    RejectUnrecognisedInvoke,
}

const TAG_NFE: Tag = Tag::context_constructed(10);
const TAG_NPP: Tag = Tag::context(18);
const TAG_INTERPRETATION: Tag = Tag::context(11);

fn entity(tlv: Tlv<'_>) -> Result<EntityType, Error> {
    match tlv.integer()? {
        0 => Ok(EntityType::EndPinx),
        1 => Ok(EntityType::AnyTypeOfPinx),
        _ => Err(ber::Error::BadValue.into()),
    }
}

fn entity_value(e: EntityType) -> i64 {
    match e {
        EntityType::EndPinx => 0,
        EntityType::AnyTypeOfPinx => 1,
    }
}

/// The content of a QSIG Facility IE (after the IE identifier and length octets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facility<'a> {
    /// NetworkFacilityExtension, if present.
    pub nfe: Option<NetworkFacilityExtension>,
    /// NetworkProtocolProfile `[18] IMPLICIT INTEGER`, if present (rarely used).
    pub network_protocol_profile: Option<i64>,
    /// InterpretationApdu, if present. ECMA-165 says absent means
    /// [`Interpretation::RejectUnrecognisedInvoke`].
    pub interpretation: Option<Interpretation>,
    /// The ROSE APDUs, at least one.
    pub components: Vec<Component<'a>>,
}

impl<'a> Facility<'a> {
    /// The usual SS-MWI facility: one component, NFE endPINX→endPINX and
    /// InterpretationApdu discardAnyUnrecognisedInvokePdu, as libpri sends.
    pub fn qsig(component: Component<'a>) -> Facility<'a> {
        Facility {
            nfe: Some(NetworkFacilityExtension::END_TO_END),
            network_protocol_profile: None,
            interpretation: Some(Interpretation::DiscardUnrecognisedInvoke),
            components: vec![component],
        }
    }

    /// Parses Facility IE content (profile octet first).
    ///
    /// Errors: [`Error::Empty`], [`Error::Profile`] for any profile but `0x9f`,
    /// [`Error::NoComponent`], [`Error::UnknownComponent`], [`Error::Ber`].
    pub fn parse(content: &'a [u8]) -> Result<Facility<'a>, Error> {
        let (&profile, rest) = content.split_first().ok_or(Error::Empty)?;
        if profile != PROFILE_NETWORKING_EXTENSIONS {
            return Err(Error::Profile(profile));
        }
        let mut r = Reader::new(rest);
        let mut nfe = None;
        let mut network_protocol_profile = None;
        let mut interpretation = None;
        let mut components = Vec::new();
        while let Some(tlv) = r.next_tlv()? {
            if tlv.tag == TAG_NFE && components.is_empty() {
                let mut s = tlv.reader()?;
                let mut source = None;
                let mut destination = None;
                while let Some(e) = s.next_tlv()? {
                    match (e.tag.class, e.tag.number) {
                        (Class::Context, 0) => source = Some(entity(e)?),
                        (Class::Context, 2) => destination = Some(entity(e)?),
                        // sourceEntityAddress [1], destinationEntityAddress [3], extensions.
                        _ => {}
                    }
                }
                nfe = Some(NetworkFacilityExtension {
                    source_entity: source.ok_or(ber::Error::Missing)?,
                    destination_entity: destination.ok_or(ber::Error::Missing)?,
                });
            } else if tlv.tag == TAG_NPP && components.is_empty() {
                network_protocol_profile = Some(tlv.integer()?);
            } else if tlv.tag == TAG_INTERPRETATION && components.is_empty() {
                interpretation = Some(match tlv.integer()? {
                    0 => Interpretation::DiscardUnrecognisedInvoke,
                    1 => Interpretation::ClearCallIfNotRecognised,
                    2 => Interpretation::RejectUnrecognisedInvoke,
                    _ => return Err(ber::Error::BadValue.into()),
                });
            } else {
                components.push(Component::parse(tlv)?);
            }
        }
        if components.is_empty() {
            return Err(Error::NoComponent);
        }
        Ok(Facility {
            nfe,
            network_protocol_profile,
            interpretation,
            components,
        })
    }

    /// Appends the IE content (profile octet, header elements, components) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(PROFILE_NETWORKING_EXTENSIONS);
        let mut w = Writer::new();
        if let Some(nfe) = &self.nfe {
            w.constructed(TAG_NFE, |w| {
                w.integer(Tag::context(0), entity_value(nfe.source_entity));
                w.integer(Tag::context(2), entity_value(nfe.destination_entity));
            });
        }
        if let Some(p) = self.network_protocol_profile {
            w.integer(TAG_NPP, p);
        }
        if let Some(i) = self.interpretation {
            let v = match i {
                Interpretation::DiscardUnrecognisedInvoke => 0,
                Interpretation::ClearCallIfNotRecognised => 1,
                Interpretation::RejectUnrecognisedInvoke => 2,
            };
            w.integer(TAG_INTERPRETATION, v);
        }
        for c in &self.components {
            c.emit(&mut w);
        }
        out.extend_from_slice(w.as_slice());
    }

    /// The IE content as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }
}

/// The content of a Facility IE with the plain ROSE protocol profile `0x91` (ETSI EN 300 196-1
/// §D.1, ITU-T Q.932 §8.2.3): the profile octet, then the ROSE APDUs, without QSIG's network
/// facility extension or interpretation elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoseFacility<'a> {
    /// The ROSE APDUs, at least one.
    pub components: Vec<Component<'a>>,
}

impl<'a> RoseFacility<'a> {
    /// Parses Facility IE content (profile octet first). Never panics.
    ///
    /// Errors: [`Error::Empty`], [`Error::Profile`] for any profile but `0x91`,
    /// [`Error::NoComponent`], [`Error::UnknownComponent`], [`Error::Ber`].
    pub fn parse(content: &'a [u8]) -> Result<RoseFacility<'a>, Error> {
        let (&profile, rest) = content.split_first().ok_or(Error::Empty)?;
        if profile != PROFILE_ROSE {
            return Err(Error::Profile(profile));
        }
        let mut r = Reader::new(rest);
        let mut components = Vec::new();
        while let Some(tlv) = r.next_tlv()? {
            components.push(Component::parse(tlv)?);
        }
        if components.is_empty() {
            return Err(Error::NoComponent);
        }
        Ok(RoseFacility { components })
    }

    /// The IE content (profile octet `0x91`, then each component) as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut w = Writer::new();
        for c in &self.components {
            c.emit(&mut w);
        }
        let mut out = vec![PROFILE_ROSE];
        out.extend_from_slice(w.as_slice());
        out
    }
}
