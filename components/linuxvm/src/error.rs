//! The crate's error type.

use std::fmt;
use std::io;

/// Everything that can go wrong while preparing, booting or driving a guest.
#[derive(Debug)]
pub enum Error {
    /// A prerequisite is missing on this machine (QEMU, busybox, `ip`, the
    /// kernel package); the text says what and how to get it. Tests skip on it
    /// unless `LINUXVM_REQUIRE=1`.
    Unavailable(String),
    /// An operating-system call failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A helper program (apt-get, dpkg-deb, ldd) failed or printed something unexpected.
    Tool {
        /// The command that failed.
        command: String,
        /// Its exit status and error output.
        detail: String,
    },
    /// The kernel package lacks a module the guest needs (and it is not built in).
    MissingModule(String),
    /// The guest did not answer in time.
    Timeout {
        /// What we were waiting for.
        waiting_for: String,
        /// The end of the serial console transcript.
        console_tail: String,
    },
    /// QEMU exited (or closed the console) while we were waiting.
    GuestExited {
        /// The end of the serial console transcript.
        console_tail: String,
    },
    /// A command in the guest exited with a non-zero status.
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: i32,
        /// What it printed (stdout and stderr).
        output: String,
    },
    /// The user-space network stack failed a check (no reply, data mismatch, ...).
    Net(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(s) => write!(f, "prerequisite missing: {s}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Tool { command, detail } => write!(f, "`{command}` failed: {detail}"),
            Error::MissingModule(m) => {
                write!(f, "kernel module {m} is neither a module nor built in")
            }
            Error::Timeout {
                waiting_for,
                console_tail,
            } => write!(
                f,
                "timed out waiting for {waiting_for}; console ends with:\n{console_tail}"
            ),
            Error::GuestExited { console_tail } => {
                write!(f, "QEMU exited; console ends with:\n{console_tail}")
            }
            Error::CommandFailed {
                command,
                status,
                output,
            } => write!(
                f,
                "guest command `{command}` exited with {status}:\n{output}"
            ),
            Error::Net(s) => write!(f, "network check failed: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
