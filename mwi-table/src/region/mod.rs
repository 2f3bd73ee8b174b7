//! The shared mapping: file creation and the creation race, header validation, the mmap, the
//! writer lock and the futex. This module holds all the `unsafe` code of the table; the layout
//! of the mapped file is in [`layout`].

mod layout;
mod sigbus;

use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

use super::protocol::SlotCell;
use super::{TableConfig, TableError, LAYOUT_VERSION, MODE};
use layout::{build_id, layout_hash, RawHeader, BUILD_LEN, MAGIC, STATE_READY};
pub(crate) use layout::{Geometry, Header};

/// Byte of the file locked (OFD lock) while a process initialises or validates the header.
const INIT_LOCK_BYTE: i64 = 0;
/// Byte of the file locked (OFD lock) for as long as the single writer lives.
const WRITER_LOCK_BYTE: i64 = 1;

/// A mapped, validated table region.
pub(crate) struct Region {
    base: NonNull<u8>,
    geometry: Geometry,
    file: File,
    path: PathBuf,
    /// The mapping's entry in the SIGBUS handler's list.
    guard: sigbus::Guard,
    /// The header's initialisation stamp when this process mapped it.
    created: u64,
}

/// A new, non-zero initialisation stamp (wall-clock nanoseconds).
fn init_stamp() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64).max(1)
}

// SAFETY: the mapping is plain shared memory accessed only through atomics (`Header`,
// `SlotCell`, `AtomicU64` ring entries); the pointer stays valid until `Drop`, which needs
// `&mut self`. Nothing in it is tied to the creating thread.
unsafe impl Send for Region {}
// SAFETY: as above; all shared access goes through atomics, so `&Region` may be used from
// several threads at once.
unsafe impl Sync for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        self.guard.release();
        // SAFETY: `base`/`len` are exactly what `mmap` returned in `Region::map`, and no reference
        // into the mapping outlives `self` (they all borrow from it).
        let r = unsafe { munmap(self.base.cast(), self.geometry.len()) };
        if let Err(e) = r {
            log::warn!("munmap of {}: {e}", self.path.display());
        }
    }
}

/// What [`Region::open`] found.
pub(crate) struct Opened {
    pub(crate) region: Region,
    /// The region's contents were (re)initialised by this call: load the snapshot, then call
    /// [`Region::finish_init`] (until then the init lock keeps every other process out).
    pub(crate) fresh: bool,
}

fn io_err(path: &Path, what: &str, e: io::Error) -> TableError {
    TableError::Io {
        path: path.to_path_buf(),
        what: what.to_string(),
        source: e,
    }
}

fn refused(path: &Path, why: String) -> TableError {
    TableError::Refused {
        path: path.to_path_buf(),
        why,
    }
}

/// Refuse an existing region another user could have planted or could change under us: not a
/// regular file, owned by neither this user nor `group`, or with mode bits beyond [`MODE`].
fn verify_owner(file: &File, path: &Path, group: Option<u32>) -> Result<(), TableError> {
    let m = file.metadata().map_err(|e| io_err(path, "fstat", e))?;
    if !m.file_type().is_file() {
        return Err(refused(path, "it is not a regular file".into()));
    }
    let euid = nix::unistd::geteuid().as_raw();
    if m.uid() != euid && group != Some(m.gid()) {
        return Err(refused(
            path,
            format!(
                "it is owned by uid {} gid {}, neither this user (uid {euid}) nor the table's \
                 group{}",
                m.uid(),
                m.gid(),
                group.map(|g| format!(" (gid {g})")).unwrap_or_default()
            ),
        ));
    }
    let extra = m.mode() & 0o7777 & !MODE;
    if extra != 0 {
        return Err(refused(
            path,
            format!(
                "its mode {:04o} grants {extra:04o} beyond {MODE:04o}",
                m.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Allocate every page of the region now (posix_fallocate), so that a full tmpfs fails here
/// with ENOSPC instead of a SIGBUS at the first touch of an unbacked page.
fn allocate(file: &File, geometry: Geometry, path: &Path) -> Result<(), TableError> {
    let len = geometry.len() as libc::off_t;
    nix::fcntl::posix_fallocate(file.as_raw_fd(), 0, len).map_err(|e| {
        io_err(
            path,
            &format!("allocate {len} octets (is its file system full?)"),
            e.into(),
        )
    })
}

fn ofd_lock(file: &File, byte: i64, kind: i32, wait: bool) -> nix::Result<()> {
    let lock = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: byte,
        l_len: 1,
        l_pid: 0,
    };
    let arg = if wait {
        FcntlArg::F_OFD_SETLKW(&lock)
    } else {
        FcntlArg::F_OFD_SETLK(&lock)
    };
    fcntl(file.as_raw_fd(), arg).map(drop)
}

impl Region {
    /// Open the region at `cfg.path`, creating and initialising it if it does not exist (or if
    /// its creator died before finishing). Whoever wins the `O_CREAT|O_EXCL|O_NOFOLLOW` race
    /// sets mode 0660 and the group; initialisation itself happens under an OFD lock on byte 0,
    /// so a process that opens the file while another initialises it waits, then validates.
    ///
    /// An existing file is opened with `O_NOFOLLOW` and refused ([`TableError::Refused`]) if it
    /// is a symbolic link or not a regular file, if neither this user nor the configured group
    /// owns it, or if its mode grants more than [`MODE`]. Its pages are allocated up front
    /// (posix_fallocate), so a full tmpfs is an error here rather than a SIGBUS later.
    pub(crate) fn open(cfg: &TableConfig) -> Result<Opened, TableError> {
        let geometry = Geometry::new(cfg.capacity, cfg.ring_capacity)?;
        let path = &cfg.path;
        let created = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(MODE)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path);
        let file = match created {
            Ok(file) => {
                // The umask may have narrowed the mode; the group must be able to read and write.
                file.set_permissions(std::fs::Permissions::from_mode(MODE))
                    .map_err(|e| io_err(path, "chmod 0660", e))?;
                if let Some(gid) = cfg.group {
                    std::os::unix::fs::fchown(&file, None, Some(gid))
                        .map_err(|e| io_err(path, &format!("chgrp to gid {gid}"), e))?;
                }
                file
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                    .open(path)
                    .map_err(|e| match e.raw_os_error() {
                        Some(libc::ELOOP) => refused(path, "it is a symbolic link".into()),
                        _ => io_err(path, "open", e),
                    })?;
                verify_owner(&file, path, cfg.group)?;
                file
            }
            Err(e) => return Err(io_err(path, "create", e)),
        };
        ofd_lock(&file, INIT_LOCK_BYTE, libc::F_WRLCK, true)
            .map_err(|e| io_err(path, "lock (init)", e.into()))?;
        // On error the file is closed, which drops the lock.
        let opened = Self::validate_or_init(file, geometry, path)?;
        if !opened.fresh {
            opened.region.unlock_init()?;
        }
        Ok(opened)
    }

    /// Whether the file behind the mapping is still the region at its path, full size, as this
    /// process mapped it (same initialisation stamp), and no page of the mapping vanished
    /// under an access: a cheap check (fstat + stat + two loads) for a region truncated,
    /// re-initialised, removed or replaced by another process. A page past a truncation
    /// reads as zeroes once touched (the SIGBUS handler of `sigbus`), so callers re-open the
    /// region on an error.
    ///
    /// Errors: [`TableError::Replaced`] saying what happened.
    pub(crate) fn check(&self) -> Result<(), TableError> {
        let m = self.check_mapped()?;
        match std::fs::symlink_metadata(&self.path) {
            Ok(now) if (now.dev(), now.ino()) != (m.dev(), m.ino()) => {
                Err(self.replaced("another file took its place".into()))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(self.replaced("the file was removed".into()))
            }
            Err(e) => Err(self.replaced(format!("its path cannot be read: {e}"))),
        }
    }

    /// The part of [`Region::check`] that guards reads of the mapping (fstat + two loads, no
    /// path lookup): the file is full size, no page vanished under an access, and no other
    /// process re-initialised it. A removed or replaced path leaves the mapping readable, so
    /// that part can wait for the next full check. Returns the file's metadata.
    ///
    /// Errors: [`TableError::Replaced`] saying what happened.
    pub(crate) fn check_mapped(&self) -> Result<std::fs::Metadata, TableError> {
        let m = self
            .file
            .metadata()
            .map_err(|e| io_err(&self.path, "fstat", e))?;
        if m.len() != self.geometry.len() as u64 {
            return Err(self.replaced(format!(
                "the file was truncated to {} octets (the region has {})",
                m.len(),
                self.geometry.len()
            )));
        }
        if self.guard.damaged() {
            return Err(self.replaced(
                "it was truncated and grown again while mapped (an access faulted)".into(),
            ));
        }
        let created = self.header().meta.created.load(Ordering::Acquire);
        if created != self.created {
            return Err(self.replaced(format!(
                "another process re-initialised it after it was truncated (stamp {created:x}, \
                 mapped {:x})",
                self.created
            )));
        }
        Ok(m)
    }

    fn replaced(&self, why: String) -> TableError {
        TableError::Replaced {
            path: self.path.clone(),
            why,
        }
    }

    fn unlock_init(&self) -> Result<(), TableError> {
        ofd_lock(&self.file, INIT_LOCK_BYTE, libc::F_UNLCK, false)
            .map_err(|e| io_err(&self.path, "unlock (init)", e.into()))
    }

    fn validate_or_init(file: File, geometry: Geometry, path: &Path) -> Result<Opened, TableError> {
        let raw = RawHeader::read(&file).map_err(|e| io_err(path, "read header", e))?;
        let expected_build = build_id();
        match raw {
            Some(h) if h.magic != 0 && h.magic != MAGIC => {
                return Err(TableError::NotATable {
                    path: path.to_path_buf(),
                });
            }
            Some(h)
                if h.magic == MAGIC && (h.version != LAYOUT_VERSION || h.hash != layout_hash()) =>
            {
                return Err(TableError::LayoutMismatch {
                    path: path.to_path_buf(),
                    found_version: h.version,
                    found_build: h.build,
                    expected_version: LAYOUT_VERSION,
                    expected_build,
                });
            }
            Some(h) if h.magic == MAGIC && h.state == STATE_READY => {
                let found = Geometry {
                    capacity: h.capacity,
                    slot_count: h.slot_count,
                    ring_capacity: h.ring_capacity,
                };
                if found != geometry {
                    return Err(TableError::GeometryMismatch {
                        path: path.to_path_buf(),
                        found: (found.capacity, found.ring_capacity),
                        expected: (geometry.capacity, geometry.ring_capacity),
                    });
                }
                let size = file.metadata().map_err(|e| io_err(path, "stat", e))?.len();
                if size != geometry.len() as u64 {
                    return Err(TableError::Corrupt {
                        path: path.to_path_buf(),
                        why: format!("size {size} octets, the header implies {}", geometry.len()),
                    });
                }
                allocate(&file, geometry, path)?;
                let mut region = Self::map(file, geometry, path)?;
                region.created = region.header().meta.created.load(Ordering::Acquire);
                return Ok(Opened {
                    region,
                    fresh: false,
                });
            }
            _ => {}
        }
        // New, or left half-initialised by a creator that died: start from zeroes.
        file.set_len(0).map_err(|e| io_err(path, "truncate", e))?;
        file.set_len(geometry.len() as u64)
            .map_err(|e| io_err(path, "size", e))?;
        allocate(&file, geometry, path)?;
        let mut region = Self::map(file, geometry, path)?;
        region.created = init_stamp();
        let m = &region.header().meta;
        m.created.store(region.created, Ordering::Release);
        m.magic.store(MAGIC, Ordering::Relaxed);
        m.layout_version.store(LAYOUT_VERSION, Ordering::Relaxed);
        m.capacity.store(geometry.capacity, Ordering::Relaxed);
        m.slot_count.store(geometry.slot_count, Ordering::Relaxed);
        m.ring_capacity
            .store(geometry.ring_capacity, Ordering::Relaxed);
        m.layout_hash.store(layout_hash(), Ordering::Relaxed);
        let mut build = [0u8; BUILD_LEN];
        let src = expected_build.as_bytes();
        let n = src.len().min(BUILD_LEN - 1);
        build[..n].copy_from_slice(&src[..n]);
        for (cell, chunk) in m.build.iter().zip(build.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            cell.store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        Ok(Opened {
            region,
            fresh: true,
        })
    }

    /// Mark a freshly initialised region ready (after the snapshot is loaded into it) and let
    /// the processes waiting to open it in.
    pub(crate) fn finish_init(&self) -> Result<(), TableError> {
        self.header()
            .meta
            .state
            .store(STATE_READY, Ordering::Release);
        self.unlock_init()
    }

    fn map(file: File, geometry: Geometry, path: &Path) -> Result<Self, TableError> {
        let len = NonZeroUsize::new(geometry.len())
            .ok_or_else(|| TableError::Config("empty region".into()))?;
        // SAFETY: a fresh shared mapping of a file we hold open, at an address of the kernel's
        // choosing; its size was checked (or set) to `geometry.len()` under the init lock, so
        // every access below stays within the file. Our processes only resize it while
        // uninitialised and under that lock; if another process truncates it, a touched page
        // past the end is replaced by a zero page (`sigbus`) instead of killing us.
        let ptr = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                file.as_fd(),
                0,
            )
        }
        .map_err(|e| io_err(path, "mmap", e.into()))?;
        let guard = match sigbus::Guard::register(ptr.as_ptr() as usize, len.get()) {
            Ok(guard) => guard,
            Err(e) => {
                // SAFETY: the mapping made just above, not yet referenced by anything.
                let _ = unsafe { munmap(ptr, len.get()) };
                return Err(e);
            }
        };
        Ok(Self {
            base: ptr.cast(),
            geometry,
            file,
            path: path.to_path_buf(),
            guard,
            created: 0,
        })
    }

    /// Whether a page of the mapping vanished under an access (SIGBUS, the file was truncated)
    /// and reads as zeroes now: re-open the region. One atomic load.
    pub(crate) fn damaged(&self) -> bool {
        self.guard.damaged()
    }

    pub(crate) fn geometry(&self) -> Geometry {
        self.geometry
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the mapping starts page-aligned (mmap) and is at least `HEADER_SIZE` long; the
        // header is made only of atomics, valid for any bit pattern (zeroes included), and is
        // only ever accessed through them, by every process.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    pub(crate) fn ring(&self) -> &[AtomicU64] {
        let g = self.geometry;
        // SAFETY: `ring_offset` (= HEADER_SIZE, a multiple of 64) plus `ring_capacity` words lie
        // inside the mapping (`Geometry::len`); `AtomicU64` is valid for any bits and the
        // entries are only accessed atomically.
        unsafe {
            std::slice::from_raw_parts(
                self.base.as_ptr().add(g.ring_offset()).cast::<AtomicU64>(),
                g.ring_capacity as usize,
            )
        }
    }

    pub(crate) fn slots(&self) -> &[SlotCell] {
        let g = self.geometry;
        // SAFETY: `slots_offset` is 64-aligned from a page-aligned base, and `slot_count` slots
        // of `SLOT_SIZE` end exactly at `Geometry::len`; `SlotCell` is atomics only (any bits
        // valid) and is only accessed through them.
        unsafe {
            std::slice::from_raw_parts(
                self.base.as_ptr().add(g.slots_offset()).cast::<SlotCell>(),
                g.slot_count as usize,
            )
        }
    }

    /// Take the writer lock (OFD lock on byte 1), held until this region is dropped; the kernel
    /// releases it when the process dies, even by SIGKILL.
    pub(crate) fn lock_writer(&self) -> Result<(), TableError> {
        match ofd_lock(&self.file, WRITER_LOCK_BYTE, libc::F_WRLCK, false) {
            Ok(()) => Ok(()),
            Err(nix::Error::EAGAIN | nix::Error::EACCES) => Err(TableError::WriterBusy {
                path: self.path.clone(),
                pid: self.header().meta.writer_pid.load(Ordering::Relaxed),
            }),
            Err(e) => Err(io_err(&self.path, "lock (writer)", e.into())),
        }
    }

    /// Release the writer lock (before re-opening a region that was truncated under us).
    pub(crate) fn unlock_writer(&self) -> Result<(), TableError> {
        ofd_lock(&self.file, WRITER_LOCK_BYTE, libc::F_UNLCK, false)
            .map_err(|e| io_err(&self.path, "unlock (writer)", e.into()))
    }

    fn futex_word(&self) -> *const u32 {
        self.header().wake.0.seq.as_ptr().cast_const()
    }

    /// FUTEX_WAIT on the wake sequence while it equals `expected`, at most `timeout`.
    /// Spurious and early returns are fine: callers re-check their condition.
    pub(crate) fn futex_wait(&self, expected: u32, timeout: Option<Duration>) {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the futex word is an aligned u32 inside our live mapping; FUTEX_WAIT (shared,
        // not PRIVATE: the other side is another process) only reads it; `ts_ptr` is null or
        // points to a timespec that lives until the call returns.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.futex_word(),
                libc::FUTEX_WAIT,
                expected,
                ts_ptr,
                0usize,
                0u32,
            );
        }
    }

    /// FUTEX_WAKE every waiter on the wake sequence (in any process).
    pub(crate) fn futex_wake(&self) {
        // SAFETY: as in `futex_wait`; FUTEX_WAKE takes no pointers besides the futex word.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.futex_word(),
                libc::FUTEX_WAKE,
                i32::MAX,
                0usize,
                0usize,
                0u32,
            );
        }
    }
}
