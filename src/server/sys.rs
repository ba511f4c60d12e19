//! The engine's only `unsafe` code: POSIX signal handlers for SIGTERM/SIGINT, the
//! `RLIMIT_NOFILE` bump and the listen backlog. Owns one process-wide self-pipe; touches nothing else.
//!
//! A signal handler may only do async-signal-safe things, so ours stores a flag and
//! writes one byte to a non-blocking pipe. The acceptor thread polls the read end (any
//! number of servers in one process may register it) and starts a clean shutdown.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

/// Set by the handler; never cleared: a signalled process is on its way out.
static SIGNALLED: AtomicBool = AtomicBool::new(false);
/// Write end of the self-pipe, read by the handler (-1 until installed).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Read end of the self-pipe, or the error that prevented creating it.
static PIPE_READ: OnceLock<Result<RawFd, i32>> = OnceLock::new();

/// Whether SIGTERM or SIGINT arrived since the handlers were installed.
pub(crate) fn signalled() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

extern "C" fn on_signal(_signum: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: `__errno_location` returns this thread's errno slot, valid for the
        // thread's lifetime; `write` is async-signal-safe (POSIX.1 §2.4.3) and `byte` is a
        // live one-byte buffer. The pipe is non-blocking, so a full pipe cannot hang the
        // handler (a full pipe already guarantees a wake-up). errno is restored so the
        // interrupted code does not see our write's errno.
        unsafe {
            let errno = libc::__errno_location();
            let saved = *errno;
            let byte = 1u8;
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *errno = saved;
        }
    }
}

/// Installs the SIGTERM/SIGINT handlers (once per process) and returns the self-pipe's
/// read end, to be registered for readability and drained with [`drain_pipe`].
pub(crate) fn install_signal_handlers() -> io::Result<RawFd> {
    let read = PIPE_READ.get_or_init(|| {
        let mut fds = [-1 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints, as pipe2 requires.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO));
        }
        PIPE_WRITE.store(fds[1], Ordering::SeqCst);
        for signum in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: a zeroed `sigaction` is a valid value (empty mask, no flags); we set
            // a handler of the type `sa_handler` expects (`extern "C" fn(c_int)`), which
            // only performs async-signal-safe operations (see `on_signal`), and pass valid
            // pointers to `sigemptyset`/`sigaction`.
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signum, &action, std::ptr::null_mut())
            };
            if rc != 0 {
                return Err(io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO));
            }
        }
        Ok(fds[0])
    });
    read.map_err(io::Error::from_raw_os_error)
}

/// Reads and discards whatever the handler wrote, so the next signal gives a new edge.
pub(crate) fn drain_pipe(fd: RawFd) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes and `fd` is the
        // pipe's read end, which is never closed while the process runs.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
    }
}

/// Listen backlog we ask for; the kernel caps it at `net.core.somaxconn`.
const BACKLOG: libc::c_int = 4096;

/// Re-issues `listen` with a deeper backlog than the 128 `mio` uses: clients reconnecting
/// all at once after a restart would otherwise overflow it, and each dropped SYN costs
/// its client a 1 s retransmit. Linux applies a new backlog to a listening socket.
pub(crate) fn deepen_backlog(listener: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: `listen` takes a descriptor and an int and touches no caller memory; the
    // descriptor is valid for the duration of the call because `listener` borrows it.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so a server is not capped at the
/// common default of 1024 sockets. Returns the soft limit now in force.
pub(crate) fn raise_nofile_limit() -> io::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid `rlimit` that does not exceed the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        return Ok(raised.rlim_cur);
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nofile_limit_is_at_least_what_it_was() {
        let mut before = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid writable rlimit.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) },
            0
        );
        let now = raise_nofile_limit().unwrap();
        assert!(now >= before.rlim_cur);
        assert_eq!(now, before.rlim_max);
    }
}
