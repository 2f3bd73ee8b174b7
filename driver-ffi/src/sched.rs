//! Real-time scheduling of the thread that paces DAHDI audio (sched(7)).

use nix::errno::Errno;

/// Put the calling thread under `SCHED_FIFO` at `priority` (1..=99), so that the 20 ms audio
/// blocks are written on time even when the machine is busy (sched_setscheduler(2)).
///
/// Errors: `EPERM` without `CAP_SYS_NICE` (or an `RLIMIT_RTPRIO` that allows it), `EINVAL`
/// for a priority outside 1..=99.
pub fn set_realtime(priority: i32) -> Result<(), Errno> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid, initialised sched_param that outlives the call; pid 0 is the
    // calling thread. The kernel only reads the struct.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}
