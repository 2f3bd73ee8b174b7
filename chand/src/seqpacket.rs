//! Listening `SOCK_SEQPACKET` Unix sockets (unix(7)): one packet per message, as the sim
//! back-end's channel sockets and the call-control socket carry them.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};

/// A non-blocking, close-on-exec socket listening on `path` with room for `backlog` waiting
/// connections. A stale file at `path` is removed first; with `mode`, the file gets that mode
/// before the socket listens, so no one outside it can connect in between.
///
/// # Errors
/// The `io::Error` of the step that failed (remove, socket, bind, chmod, listen).
pub fn listen_at(path: &Path, backlog: i32, mode: Option<u32>) -> io::Result<OwnedFd> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    listen(&fd, Backlog::new(backlog)?)?;
    Ok(fd)
}
