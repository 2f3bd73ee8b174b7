//! Sans-IO FXS line logic for dahdi-mwi: tone plans (the DAHDI/Asterisk tone-string grammar and
//! the built-in zones), G.711 tone generation in 160-sample blocks, the FXS line state machine
//! (stutter dial tone on off-hook when a message is waiting) and visual MWI (DAHDI VMWI
//! ioctls, on-hook FSK MDMF spill with optional RP-AS).
//!
//! No sockets, devices or threads: chand's event loop feeds events and the time (an `Instant`,
//! first, as every core of the `sansio` contract) to an [`FxsLine`] and performs the
//! [`Action`]s it returns:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use sansio::Core;
//! use fxs::{cptone, Action, CompiledPlan, FxsLine, Law, LineConfig, LineEvent, VmwiMode};
//!
//! let plan = Arc::new(CompiledPlan::new(&cptone("us").unwrap(), Law::Mulaw));
//! let t0 = Instant::now();
//! let ms = |n| t0 + Duration::from_millis(n);
//! let mut line = FxsLine::new(LineConfig { plan, vmwi: VmwiMode::None }, t0);
//! line.set_mwi(t0, true, 2);
//! line.handle_event(ms(10), LineEvent::OffHook);
//! let mut blocks = 0;
//! while let Some(action) = line.poll_action() {
//!     if let Action::Write(block) = action {
//!         assert_eq!(block.len(), 160); // write(2) it to the channel
//!         blocks += 1;
//!     }
//! }
//! assert_eq!(blocks, 3); // the block due now and `line::LEAD_MS` (40 ms) ahead
//! assert_eq!(line.poll_timeout(), Some(ms(30))); // next block written 20 ms later
//! ```
#![forbid(unsafe_code)]

pub mod calltones;
pub mod digitmap;
pub mod dtmf;
pub mod fsk;
pub mod gen;
pub mod law;
pub mod line;
pub mod measure;
pub mod plans;
pub mod ring;
pub mod toneplan;

pub use fsk::FskStandard;
pub use gen::{CompiledPlan, ToneGen, ToneKind, TonePlans};
pub use law::{Block, Law, BLOCK_MS, BLOCK_SAMPLES, SAMPLE_RATE};
pub use line::{Action, FxsLine, Hook, LineConfig, LineEvent, LineStatus, Notice, VmwiMode};
pub use plans::{cptone, CustomPlan, PlanError, TonePlan};
pub use toneplan::{Mix, ParseError, ParseErrorKind, ToneElement, ToneSeq};
