//! Surviving a region truncated by another process. Pages of a shared file mapping past the
//! end of the file fault with SIGBUS (`BUS_ADRERR`) when touched, so a `truncate -s 0` of the
//! table would kill both daemons. The handler installed here does what Wayland compositors do
//! for client shm pools: if the faulting address lies in a registered region it maps private
//! zero pages over the rest of that region (MAP_FIXED anonymous mmap, async-signal-safe per
//! POSIX.1-2017 §2.4.3 and mmap(2)), marks the region damaged, and returns, so the access
//! completes on the zero page. Zero slots read as empty, so a reader delivers nothing from
//! them, and writes to them are lost only until the owner sees the damaged flag (or its
//! once-a-second file check) and re-opens the region. Any other SIGBUS gets the default action.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::TableError;

/// Regions one process can have mapped at once (a daemon maps one or two).
pub(super) const MAX_MAPPED: usize = 128;

/// One registered mapping; `base == 0` while the entry is being (un)registered or free.
struct Mapped {
    used: AtomicBool,
    base: AtomicUsize,
    len: AtomicUsize,
    damaged: AtomicBool,
}

static MAPPED: [Mapped; MAX_MAPPED] = [const {
    Mapped {
        used: AtomicBool::new(false),
        base: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        damaged: AtomicBool::new(false),
    }
}; MAX_MAPPED];

/// The page size, read once at installation (sysconf is not async-signal-safe).
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// The result of installing the handler, once per process.
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// A region's entry in the handler's list; [`Guard::release`] it before unmapping.
pub(super) struct Guard {
    index: usize,
}

impl Guard {
    /// Install the handler (once per process) and register `len` octets mapped at `base`.
    ///
    /// Errors: [`TableError::Config`] if sigaction fails or [`MAX_MAPPED`] regions are mapped.
    pub(super) fn register(base: usize, len: usize) -> Result<Self, TableError> {
        INSTALLED
            .get_or_init(install)
            .clone()
            .map_err(TableError::Config)?;
        let index = MAPPED
            .iter()
            .position(|m| {
                m.used
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })
            .ok_or_else(|| {
                TableError::Config(format!("more than {MAX_MAPPED} regions mapped at once"))
            })?;
        let m = &MAPPED[index];
        m.damaged.store(false, Ordering::Relaxed);
        m.len.store(len, Ordering::Relaxed);
        m.base.store(base, Ordering::Release);
        Ok(Self { index })
    }

    /// Whether a page of the region vanished under an access (the file was truncated) and was
    /// replaced by a zero page: what is read from the region is no longer shared.
    pub(super) fn damaged(&self) -> bool {
        MAPPED[self.index].damaged.load(Ordering::Acquire)
    }

    /// Take the region off the handler's list (before unmapping it).
    pub(super) fn release(&self) {
        let m = &MAPPED[self.index];
        m.base.store(0, Ordering::Release);
        m.len.store(0, Ordering::Relaxed);
        m.used.store(false, Ordering::Release);
    }
}

fn install() -> Result<(), String> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    PAGE.store(usize::try_from(page).unwrap_or(4096), Ordering::Relaxed);
    // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags); every field used is
    // set below. `on_sigbus` has the SA_SIGINFO signature and only does async-signal-safe
    // work (atomics, mmap, sigaction, raise).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
            return Err(format!(
                "cannot install the SIGBUS handler: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; `si_addr` is the
    // faulting address for a kernel-generated SIGBUS (checked by `si_code`).
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code == libc::BUS_ADRERR && zero_fill(addr) {
        return;
    }
    // SAFETY: resetting the disposition and raising are async-signal-safe; SIGBUS is blocked
    // while this handler runs, so the raised signal is delivered, with the default action,
    // when it returns (a repeated fault would be too).
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
        libc::raise(sig);
    }
}

/// If `addr` lies in a registered region, map zero pages from its page to the region's end
/// and mark the region damaged; returns whether it did.
fn zero_fill(addr: usize) -> bool {
    let page = PAGE.load(Ordering::Relaxed);
    for m in &MAPPED {
        let base = m.base.load(Ordering::Acquire);
        let len = m.len.load(Ordering::Relaxed);
        if base == 0 || addr < base || addr - base >= len {
            continue;
        }
        let from = base + (addr - base) / page * page;
        // SAFETY: errno is thread-local; the interrupted code must find it as it left it.
        let errno = unsafe { *libc::__errno_location() };
        // SAFETY: [from, base + len) lies inside this process's mapping of the region (base is
        // page-aligned, `from` a page boundary in it), which stays mapped while registered;
        // replacing it with private zero pages changes no memory any Rust reference relies on
        // beyond its value, and every access to the region goes through atomics.
        let p = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                base + len - from,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
        if p == libc::MAP_FAILED {
            return false;
        }
        m.damaged.store(true, Ordering::Release);
        return true;
    }
    false
}
