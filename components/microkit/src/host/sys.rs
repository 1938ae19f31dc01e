//! Thin wrappers over the Linux calls the host backend and runner need. All
//! `unsafe` of the host side that touches the OS lives here.
#![allow(unsafe_code)]

use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;
use std::ffi::CString;
use std::io;

/// Blocks while `*word == expected` (shared, i.e. cross-process, futex).
/// Returns on a wake, a signal, or if the value differs.
pub fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call; a
    // non-private FUTEX_WAIT with a null timeout only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            core::ptr::null::<libc::timespec>(),
        );
    }
}

/// Wakes up to `n` waiters on `word`.
pub fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key; it stays valid.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n);
    }
}

/// `PROT_*` bits for a permission triple.
pub fn prot(read: bool, write: bool, execute: bool) -> i32 {
    let mut p = libc::PROT_NONE;
    if read {
        p |= libc::PROT_READ;
    }
    if write {
        p |= libc::PROT_WRITE;
    }
    if execute {
        p |= libc::PROT_EXEC;
    }
    p
}

/// Maps `size` bytes of `fd` shared. With `at`, tries exactly that address
/// first (`MAP_FIXED_NOREPLACE`, never clobbering an existing mapping), and
/// falls back to an address of the kernel's choice. Returns the address and
/// whether it is the requested one.
pub fn map_shared(
    fd: i32,
    size: usize,
    prot: i32,
    at: Option<u64>,
) -> io::Result<(NonNull<u8>, bool)> {
    if let Some(addr) = at.filter(|a| *a != 0) {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping, so
        // this cannot invalidate memory the program uses; on failure nothing
        // is mapped.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                size,
                prot,
                libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE,
                fd,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            if p as u64 == addr {
                return Ok((
                    NonNull::new(p.cast()).ok_or_else(io::Error::last_os_error)?,
                    true,
                ));
            }
            // Old kernels treat the flag as a hint: keep what we got.
            return Ok((
                NonNull::new(p.cast()).ok_or_else(io::Error::last_os_error)?,
                false,
            ));
        }
    }
    // SAFETY: a fresh mapping at an address of the kernel's choice cannot
    // overlap anything in use.
    let p = unsafe { libc::mmap(core::ptr::null_mut(), size, prot, libc::MAP_SHARED, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast())
        .map(|p| (p, false))
        .ok_or_else(io::Error::last_os_error)
}

/// A new zero-filled memfd of `size` bytes (close-on-exec).
pub fn memfd(name: &str, size: u64) -> io::Result<i32> {
    let cname = CString::new(name.replace('\0', "_")).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let size = i64::try_from(size).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `fd` is the memfd just created.
    if unsafe { libc::ftruncate(fd, size) } != 0 {
        let e = io::Error::last_os_error();
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// Closes `fd`, ignoring errors.
pub fn close(fd: i32) {
    // SAFETY: closing an fd we own; at worst EBADF.
    unsafe {
        libc::close(fd);
    }
}

static SIGNAL: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(0);

extern "C" fn record_signal(sig: libc::c_int) {
    SIGNAL.store(sig, core::sync::atomic::Ordering::SeqCst);
}

/// Records SIGINT and SIGTERM instead of dying; see [`take_signal`].
pub fn catch_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe);
        // the sigaction struct is fully initialised.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = record_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, core::ptr::null_mut());
        }
    }
}

/// The last stop signal received, if any.
pub fn take_signal() -> Option<i32> {
    match SIGNAL.swap(0, core::sync::atomic::Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

/// Reaps `pid` if it has ended (`block`: wait for it).
pub fn reap(pid: i32, block: bool) -> Option<Exit> {
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, if block { 0 } else { libc::WNOHANG }) };
    if r != pid {
        return None;
    }
    if libc::WIFSIGNALED(status) {
        Some(Exit::Signal(libc::WTERMSIG(status)))
    } else {
        Some(Exit::Code(libc::WEXITSTATUS(status)))
    }
}

/// Sends SIGKILL to the process group `pid` (the PD and anything it
/// started) and to `pid` itself.
pub fn kill_group(pid: i32) {
    // SAFETY: plain kill(2) calls on our child's pid and process group.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
}

/// The usual name of a signal.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// How the runner asks the kernel to schedule a PD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedRequest {
    /// Leave it alone.
    None,
    /// `setpriority` with this nice value, relative to the runner's.
    Nice(i32),
    /// SCHED_FIFO at this priority (1..=99), falling back to `Nice`.
    Fifo(i32, i32),
}

/// Prepares a PD's `Command`: dies with the runner, own process group,
/// inherits `fds`, scheduled as `sched`.
pub fn prepare_child(
    cmd: &mut std::process::Command,
    fds: std::vec::Vec<i32>,
    sched: SchedRequest,
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is always safe.
    let parent = unsafe { libc::getpid() };
    // Nice values are relative to the runner's own (which may be niced).
    // SAFETY: getpriority has no memory effects; -1 is also a valid nice, so
    // errors are not distinguished (the runner's nice is always readable).
    let base = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let nice = move |n: i32| (base + n).min(19);
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls (prctl, getppid, setpgid, fcntl,
    // sched_setscheduler, setpriority, _exit); it allocates nothing (`fds`
    // was allocated before the fork).
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1); // the runner died before prctl took effect
            }
            libc::setpgid(0, 0);
            for &fd in &fds {
                libc::fcntl(fd, libc::F_SETFD, 0);
            }
            match sched {
                SchedRequest::None => {}
                SchedRequest::Nice(n) => {
                    libc::setpriority(libc::PRIO_PROCESS, 0, nice(n));
                }
                SchedRequest::Fifo(p, n) => {
                    let param = libc::sched_param { sched_priority: p };
                    if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) != 0 {
                        libc::setpriority(libc::PRIO_PROCESS, 0, nice(n));
                    }
                }
            }
            Ok(())
        });
    }
}
