//! `chand trace on|off`: the runtime D-channel trace, one line per frame
//! ([`crate::trace::frame_line`]) at info whatever `[log] level` says
//! ([`mwi_service::trace`]), under the target `chand::trace`.

use crate::trace::{frame_line, Direction};

/// The log target of the trace lines.
const TARGET: &str = "chand::trace";

/// What the D-channel trace does now: off at start.
#[derive(Debug, Default)]
pub(super) struct Tracer {
    on: bool,
}

impl Tracer {
    /// Switch the trace on or off (by command); says so in the trace itself.
    pub(super) fn switch(&mut self, on: bool) {
        self.on = on;
        mwi_service::trace(
            TARGET,
            &format!(
                "D-channel trace {} by command",
                if on { "on" } else { "off" }
            ),
        );
    }

    /// Frame `frame` went `dir` on span `span`'s D-channel.
    pub(super) fn frame(&mut self, span: u32, dir: Direction, frame: &[u8]) {
        if self.on {
            mwi_service::trace(TARGET, &frame_line(span, dir, frame));
        }
    }
}
