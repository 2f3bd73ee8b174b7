//! SDP offer/answer for G.711 calls with telephone-events (RFC 3264, RFC 4566, RFC 4733 §7),
//! sans-IO: bodies in, bodies and the [`callctl::Media`] chand needs out.
//!
//! Parsing and writing use the `sdp-types` crate: of the candidates it alone parsed every real
//! peer's SDP captured here (baresip's offers, answers and hold re-INVITE, SIPp's uac/uas
//! bodies, `sipd/tests/sdp/`) strictly and rewrote each byte for byte, where `webrtc-sdp`
//! refuses baresip's `a=tool` unless warnings are ignored and needs a newer Rust than ours.
//!
//! One audio stream per call: the first `m=audio` with `RTP/AVP` and a non-zero port is the
//! call's; any other m-line is rejected in the answer with port 0 (RFC 3264 §6).

use std::net::{IpAddr, SocketAddr};

use callctl::{Codec, Direction, Media};
use sdp_types::{AddrType, Attribute, Connection, NetType, Origin, Session, Time};

/// The telephone-event events we send and take: the 16 DTMF keys (RFC 4733 §3.2 Table 3).
const EVENTS: &str = "0-15";

/// Packetisation time when the peer names none, in ms (RFC 3551 §4.5: 20 ms for G.711).
pub const DEFAULT_PTIME_MS: u8 = 20;

/// Our side of a call's media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    /// chand's RTP address and port for this call (`c=` and `m=`).
    pub rtp: SocketAddr,
    /// Our codecs in order of preference (config `[media] codecs`).
    pub codecs: Vec<Codec>,
    /// The dynamic payload type we offer for telephone-event (96..=127; 101 is common).
    pub telephone_event_pt: u8,
    /// The packetisation time we want to receive, in ms (`a=ptime`).
    pub ptime_ms: u8,
    /// `o=` session id: constant for the dialog (RFC 4566 §5.2).
    pub session_id: u64,
    /// `o=` version: one more for each new offer in the dialog (RFC 3264 §8).
    pub version: u64,
}

impl Local {
    /// Our usual side: telephone-event on payload type 101 (the common choice for RFC 4733 §7's
    /// dynamic type), [`DEFAULT_PTIME_MS`], version 1 of session `session_id`.
    pub fn new(rtp: SocketAddr, codecs: Vec<Codec>, session_id: u64) -> Self {
        Self {
            rtp,
            codecs,
            telephone_event_pt: 101,
            ptime_ms: DEFAULT_PTIME_MS,
            session_id,
            version: 1,
        }
    }
}

/// Why an SDP body was not taken. Each maps to 488 Not Acceptable Here (RFC 3261 §21.4.26)
/// for an offer, or to ending the call for an answer; its `Display` text is the reason for
/// the log and a Warning header (RFC 3261 §20.43, code 304/305).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not SDP at all (RFC 4566 §5 syntax).
    Syntax(String),
    /// No `m=audio` line over RTP/AVP with a non-zero port.
    NoAudio,
    /// No `c=` line for the audio stream, or an address that is not IPv4/IPv6 unicast.
    NoAddress,
    /// None of the offered or answered payload types is one of our codecs.
    NoCodec,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax(e) => write!(f, "SDP syntax: {e}"),
            Self::NoAudio => f.write_str("no RTP/AVP audio stream"),
            Self::NoAddress => f.write_str("no usable connection address for audio"),
            Self::NoCodec => f.write_str("no common codec (PCMU, PCMA)"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The SIP status for a refused offer (RFC 3261 §13.3.1.3).
    pub fn status(&self) -> u16 {
        488
    }
}

/// Our offer (RFC 3264 §5): our codecs in preference order, then telephone-event with events
/// 0-15, `a=ptime`, and `direction` (sendrecv, or sendonly/inactive to hold, §8.4).
pub fn offer(local: &Local, direction: Direction) -> Vec<u8> {
    let mut pts: Vec<u8> = local.codecs.iter().map(|c| c.payload_type()).collect();
    pts.push(local.telephone_event_pt);
    write(local, &pts, local.telephone_event_pt, direction, 0, &[])
}

/// Answers a peer's `offer` (RFC 3264 §6.1): the first offered payload type that is one of our
/// codecs, the offerer's telephone-event payload type if it offers one, our direction the
/// reverse of the offer's. Returns our answer and the media chand must run.
///
/// # Errors
/// [`Error`]: answer 488 with its text.
pub fn answer(offer: &[u8], local: &Local) -> Result<(Vec<u8>, Media), Error> {
    let session = parse(offer)?;
    let (index, remote) = stream(&session)?;
    let codec = remote.codec(local)?;
    let mut pts = vec![codec.payload_type()];
    pts.extend(remote.telephone_event_pt);
    let rejected: Vec<_> = session
        .medias
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != index)
        .map(|(_, m)| (m.media.clone(), m.proto.clone(), m.fmt.clone()))
        .collect();
    let te = remote
        .telephone_event_pt
        .unwrap_or(local.telephone_event_pt);
    let body = write(
        local,
        &pts,
        te,
        remote.direction.reversed(),
        index,
        &rejected,
    );
    Ok((body, remote.media(codec)))
}

/// Takes the peer's answer to our offer (RFC 3264 §5.1 from the offerer's side): the codec it
/// chose must be one of ours.
///
/// # Errors
/// [`Error`]: the call ends (CANCEL or BYE) with that reason.
pub fn process_answer(answer: &[u8], local: &Local) -> Result<Media, Error> {
    let session = parse(answer)?;
    let (_, remote) = stream(&session)?;
    Ok(remote.media(remote.codec(local)?))
}

/// The audio stream of a peer's SDP, from the peer's point of view.
struct Remote {
    rtp: SocketAddr,
    pts: Vec<u8>,
    telephone_event_pt: Option<u8>,
    ptime_ms: u8,
    direction: Direction,
}

impl Remote {
    /// The first of the peer's payload types that is one of our codecs.
    fn codec(&self, local: &Local) -> Result<Codec, Error> {
        self.pts
            .iter()
            .filter_map(|&pt| Codec::from_payload_type(pt))
            .find(|c| local.codecs.contains(c))
            .ok_or(Error::NoCodec)
    }

    fn media(&self, codec: Codec) -> Media {
        Media {
            remote_rtp: self.rtp,
            codec,
            ptime_ms: self.ptime_ms,
            telephone_event_pt: self.telephone_event_pt,
            direction: self.direction.reversed(),
        }
    }
}

fn parse(body: &[u8]) -> Result<Session, Error> {
    Session::parse(body).map_err(|e| Error::Syntax(e.to_string()))
}

fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| match a.attribute.as_str() {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    })
}

/// Finds the call's audio stream and reads it (RFC 4566 §5.7, §5.14, §6; RFC 4733 §7).
fn stream(session: &Session) -> Result<(usize, Remote), Error> {
    let (index, m) = session
        .medias
        .iter()
        .enumerate()
        .find(|(_, m)| m.media == "audio" && m.proto == "RTP/AVP" && m.port != 0)
        .ok_or(Error::NoAudio)?;
    let c = m
        .connections
        .first()
        .or(session.connection.as_ref())
        .ok_or(Error::NoAddress)?;
    let ip = c
        .connection_address
        .parse::<IpAddr>()
        .map_err(|_| Error::NoAddress)?;
    if ip.is_multicast() {
        return Err(Error::NoAddress);
    }
    let pts: Vec<u8> = m
        .fmt
        .split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p <= 127)
        .collect();
    let telephone_event_pt = m
        .attributes
        .iter()
        .filter(|a| a.attribute == "rtpmap")
        .filter_map(|a| a.value.as_deref()?.split_once(' '))
        .find(|(_, enc)| enc.eq_ignore_ascii_case("telephone-event/8000"))
        .and_then(|(pt, _)| pt.parse::<u8>().ok())
        // RFC 4733 §7 / RFC 3551 §3: a dynamic payload type; an rtpmap that gives a static one
        // (e.g. 8, PCMA's) to telephone-event is ignored, not obeyed.
        .filter(|pt| (96..=127).contains(pt) && pts.contains(pt));
    let ptime_ms = m
        .get_first_attribute_value("ptime")
        .flatten()
        .and_then(|v| v.trim().parse::<u8>().ok())
        .filter(|p| (10..=60).contains(p))
        .unwrap_or(DEFAULT_PTIME_MS);
    let mut direction = direction_of(&m.attributes)
        .or_else(|| direction_of(&session.attributes))
        .unwrap_or(Direction::SendRecv);
    // RFC 2543 hold, still sent by older peers: c=0.0.0.0 means "do not send to me"
    // (RFC 3264 §8.4).
    if ip.is_unspecified() {
        direction = match direction {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        };
    }
    Ok((
        index,
        Remote {
            rtp: SocketAddr::new(ip, m.port),
            pts,
            telephone_event_pt,
            ptime_ms,
            direction,
        },
    ))
}

/// Writes a body with our audio m-line at `index` among the `rejected` ones (port 0), so an
/// answer keeps the offer's m-line order (RFC 3264 §6).
fn write(
    local: &Local,
    pts: &[u8],
    te: u8,
    direction: Direction,
    index: usize,
    rejected: &[(String, String, String)],
) -> Vec<u8> {
    let addrtype = if local.rtp.is_ipv4() {
        AddrType::Ip4
    } else {
        AddrType::Ip6
    };
    let ip = local.rtp.ip().to_string();
    let mut origin = Origin::new(
        local.session_id,
        local.version,
        NetType::In,
        addrtype.clone(),
        &ip,
    );
    origin.username = Some("-".into());
    let mut session = Session::new(origin, "-");
    session.connection = Some(Connection::new(NetType::In, addrtype, &ip));
    session.times.push(Time::new(0, 0));
    let fmt: Vec<String> = pts.iter().map(u8::to_string).collect();
    let mut audio = sdp_types::Media::new(
        sdp_types::MediaType::Audio,
        local.rtp.port(),
        sdp_types::TransportProto::RtpAvp,
        fmt.join(" "),
    );
    for &pt in pts {
        let value = match Codec::from_payload_type(pt) {
            Some(c) => format!("{pt} {}/8000", c.name()),
            None => format!("{pt} telephone-event/8000"),
        };
        audio
            .attributes
            .push(Attribute::with_value("rtpmap", value));
    }
    if pts.contains(&te) {
        audio
            .attributes
            .push(Attribute::with_value("fmtp", format!("{te} {EVENTS}")));
    }
    audio
        .attributes
        .push(Attribute::with_value("ptime", local.ptime_ms));
    audio.attributes.push(Attribute::new(direction.attribute()));
    let template = audio.clone();
    let mut others = rejected.iter().map(|(media, proto, fmt)| {
        let mut m = template.clone();
        m.media.clone_from(media);
        m.port = 0;
        m.proto.clone_from(proto);
        m.fmt.clone_from(fmt);
        m.attributes.clear();
        m
    });
    session.medias.extend(others.by_ref().take(index));
    session.medias.push(audio);
    session.medias.extend(others);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = session.write(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies captured from the peers on loopback (baresip 1.0.0, SIPp's built-in scenarios).
    fn vector(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/sdp/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn local() -> Local {
        Local::new(
            "192.0.2.1:10000".parse().unwrap(),
            vec![Codec::Pcmu, Codec::Pcma],
            7,
        )
    }

    #[test]
    fn our_offer_lists_g711_and_telephone_event() {
        let body = String::from_utf8(offer(&local(), Direction::SendRecv)).unwrap();
        assert_eq!(
            body,
            "v=0\r\no=- 7 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
             a=sendrecv\r\n"
        );
        // baresip's answer to an offer like ours, and SIPp's, are taken.
        let m = process_answer(&vector("baresip-answer-pcma.sdp"), &local()).unwrap();
        assert_eq!(m.codec, Codec::Pcma);
        assert_eq!(m.telephone_event_pt, Some(101));
        assert_eq!(m.remote_rtp, "192.0.2.2:43290".parse().unwrap());
        let m = process_answer(&vector("sipp-uas-answer.sdp"), &local()).unwrap();
        assert_eq!((m.codec, m.telephone_event_pt), (Codec::Pcmu, None));
        assert_eq!(m.remote_rtp, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(m.direction, Direction::SendRecv);
    }

    #[test]
    fn baresips_offer_is_answered_with_pcmu_and_its_event_pt() {
        let (body, m) = answer(&vector("baresip-offer.sdp"), &local()).unwrap();
        // Opus and G.722 come first in baresip's list; we take the first of ours.
        assert_eq!(m.codec, Codec::Pcmu);
        assert_eq!(m.telephone_event_pt, Some(101));
        assert_eq!(m.ptime_ms, 20);
        assert_eq!(m.remote_rtp, "192.0.2.2:20454".parse().unwrap());
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains("m=audio 10000 RTP/AVP 0 101\r\n"), "{text}");
        assert!(text.contains("a=sendrecv\r\n"));
        // Our answer is itself SDP the same parser reads back as an answer to us.
        assert_eq!(process_answer(&body, &local()).unwrap().codec, Codec::Pcmu);
    }

    #[test]
    fn telephone_event_on_a_static_payload_type_is_ignored() {
        // Found by the sdp fuzz target: PT 8 mapped to telephone-event made our answer
        // announce PCMA and telephone-event on one payload type.
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n\
                     m=audio 43290 RTP/AVP 8 101\r\na=rtpmap:8 telephone-event/8000\r\n";
        let local = Local::new("192.0.2.1:10000".parse().unwrap(), vec![Codec::Pcma], 1);
        let (body, m) = answer(offer.as_bytes(), &local).unwrap();
        assert_eq!((m.codec, m.telephone_event_pt), (Codec::Pcma, None));
        let back = process_answer(&body, &local).unwrap();
        assert_eq!(back.telephone_event_pt, None);
    }

    #[test]
    fn the_offerers_telephone_event_pt_is_kept() {
        let (body, m) = answer(&vector("sipp-uac-pcap-offer.sdp"), &local()).unwrap();
        assert_eq!((m.codec, m.telephone_event_pt), (Codec::Pcma, Some(101)));
        let offer = String::from_utf8(vector("sipp-uac-pcap-offer.sdp"))
            .unwrap()
            .replace("101", "96");
        let (body96, m) = answer(offer.as_bytes(), &local()).unwrap();
        assert_eq!(m.telephone_event_pt, Some(96));
        let text = String::from_utf8(body96).unwrap();
        assert!(text.contains("m=audio 10000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n"), "{text}");
        assert!(!body.is_empty());
        let (plain, m) = answer(&vector("sipp-uac-offer.sdp"), &local()).unwrap();
        assert_eq!(m.telephone_event_pt, None);
        assert!(!String::from_utf8(plain)
            .unwrap()
            .contains("telephone-event"));
    }

    #[test]
    fn hold_is_reported_as_a_direction() {
        // baresip's hold re-INVITE: a=sendonly from it means chand only receives.
        let (body, m) = answer(&vector("baresip-hold-offer.sdp"), &local()).unwrap();
        assert_eq!(m.direction, Direction::RecvOnly);
        assert!(String::from_utf8(body).unwrap().contains("a=recvonly\r\n"));
        let base = String::from_utf8(vector("sipp-uac-offer.sdp")).unwrap();
        let inactive = base.replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000\r\na=inactive");
        assert_eq!(
            answer(inactive.as_bytes(), &local()).unwrap().1.direction,
            Direction::Inactive
        );
        // RFC 2543 hold: c=0.0.0.0, no attribute.
        let old = base.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert_eq!(
            answer(old.as_bytes(), &local()).unwrap().1.direction,
            Direction::RecvOnly
        );
        // Session-level attribute applies to the stream.
        let session = base.replace("t=0 0", "t=0 0\r\na=sendonly");
        assert_eq!(
            answer(session.as_bytes(), &local()).unwrap().1.direction,
            Direction::RecvOnly
        );
    }

    #[test]
    fn offers_we_cannot_take_get_488_with_a_reason() {
        let base = String::from_utf8(vector("baresip-offer.sdp")).unwrap();
        let opus_only = base.replace("RTP/AVP 96 9 0 8 101", "RTP/AVP 96 9 101");
        let e = answer(opus_only.as_bytes(), &local()).unwrap_err();
        assert_eq!(
            (e.status(), e.to_string().as_str()),
            (488, "no common codec (PCMU, PCMA)")
        );
        let pcma_only = Local {
            codecs: vec![Codec::Pcma],
            ..local()
        };
        assert_eq!(
            answer(&vector("sipp-uac-offer.sdp"), &pcma_only),
            Err(Error::NoCodec)
        );
        let video = base.replace("m=audio", "m=video");
        assert_eq!(answer(video.as_bytes(), &local()), Err(Error::NoAudio));
        let no_c = base.replace("c=IN IP4 192.0.2.2\r\n", "");
        assert_eq!(answer(no_c.as_bytes(), &local()), Err(Error::NoAddress));
        assert!(matches!(answer(b"hello", &local()), Err(Error::Syntax(_))));
    }

    #[test]
    fn other_streams_are_rejected_in_the_offers_order() {
        let base = String::from_utf8(vector("sipp-uac-offer.sdp")).unwrap();
        let two = base.replace("m=audio", "m=video 5000 RTP/AVP 31\r\nm=audio");
        let (body, m) = answer(two.as_bytes(), &local()).unwrap();
        assert_eq!(m.codec, Codec::Pcmu);
        let text = String::from_utf8(body).unwrap();
        let video = text.find("m=video 0 RTP/AVP 31\r\n").unwrap();
        assert!(video < text.find("m=audio 10000").unwrap(), "{text}");
    }

    #[test]
    fn every_captured_vector_parses() {
        for name in [
            "baresip-offer.sdp",
            "baresip-hold-offer.sdp",
            "baresip-answer-pcmu.sdp",
            "baresip-answer-pcma.sdp",
            "sipp-uac-offer.sdp",
            "sipp-uac-pcap-offer.sdp",
            "sipp-uas-answer.sdp",
        ] {
            assert!(process_answer(&vector(name), &local()).is_ok(), "{name}");
        }
    }
}
