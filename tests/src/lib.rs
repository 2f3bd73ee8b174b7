//! End-to-end test helpers for dahdi-mwi: the daemons as child processes in isolated temp
//! installations ([`env`], [`daemon`]), what a sim phone hears ([`tone`]), and PBXs on the sim
//! D-channel socket: libpri ([`libpri`]) and a small QSIG PBX on the isdn crate ([`pbx`]); SIP
//! peers: a scripted voice-mail server ([`sip`]), SIPp ([`sipp`]), Kamailio ([`kamailio`]) and
//! baresip ([`baresip`]); marked audio for measuring chand's media path ([`rtpmark`]); one FXS port as a SIP line for the call tests ([`line`]); each daemon's far end of the call-control socket ([`fakechand`],
//! [`fakesipd`]).
#![forbid(unsafe_code)]

pub mod baresip;
pub mod daemon;
pub mod dns;
pub mod env;
pub mod fakechand;
pub mod fakesipd;
pub mod fsk;
pub mod kamailio;
pub mod libpri;
pub mod line;
pub mod pbx;
pub mod plot;
pub mod rtpmark;
pub mod sip;
pub mod sipp;
pub mod tone;
pub mod tshark;
pub mod vmcheck;
pub mod vmload;
