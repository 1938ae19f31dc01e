//! The tool's error type.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while building an SD-card image.
#[derive(Debug)]
pub enum Error {
    /// A host program is not installed; `package` is the Debian package that provides it.
    MissingTool {
        /// The program that was looked for.
        tool: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A file could not be read, written or created.
    Io {
        /// What was being done.
        what: String,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A host program ran but failed.
    CommandFailed {
        /// The command line, for the user to re-run.
        command: String,
        /// Its exit status (or how it ended).
        status: String,
        /// The end of its standard error output.
        stderr: String,
    },
    /// apt could not fetch a Debian package (no network, or the package is not in the archive).
    Fetch {
        /// The package that was asked for.
        package: String,
        /// What apt said.
        detail: String,
    },
    /// A file the image needs is not in the Debian package it should come from.
    FileNotInPackage {
        /// The file that was looked for.
        file: String,
        /// The package (extracted) that was searched.
        package: PathBuf,
    },
    /// The board name is not a Raspberry Pi 4 board of the Microkit SDK.
    UnknownBoard(String),
    /// The loader image is unusable (empty, an ELF instead of the raw image, ...).
    BadLoader(String),
    /// The loader image does not match the SDK's loader for the board.
    LoaderMismatch(String),
    /// An ELF file could not be parsed.
    BadElf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// A partition table could not be parsed or built.
    Mbr(&'static str),
    /// A command-line argument is wrong.
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingTool { tool, package } => write!(
                f,
                "`{tool}` not found: install the Debian package `{package}` \
                 (`bash ci/sdcard.sh packages` lists everything this tool needs)"
            ),
            Error::Io { what, path, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            Error::CommandFailed {
                command,
                status,
                stderr,
            } => write!(f, "`{command}` failed ({status}): {stderr}"),
            Error::Fetch { package, detail } => write!(
                f,
                "could not fetch the Debian package `{package}` from deb.debian.org \
                 (network needed on the first run; later runs use the cache): {detail}"
            ),
            Error::FileNotInPackage { file, package } => {
                write!(f, "`{file}` not found in {}", package.display())
            }
            Error::UnknownBoard(b) => write!(
                f,
                "unknown board `{b}`: use rpi4b_1gb, rpi4b_2gb, rpi4b_4gb or rpi4b_8gb \
                 (the Pi's RAM size)"
            ),
            Error::BadLoader(m) => write!(f, "bad loader image: {m}"),
            Error::LoaderMismatch(m) => write!(f, "{m}"),
            Error::BadElf { path, detail } => write!(f, "{}: {detail}", path.display()),
            Error::Mbr(m) => write!(f, "partition table: {m}"),
            Error::Usage(m) => write!(f, "{m}"),
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

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Wraps an I/O error with what was done and to which path.
pub(crate) fn io(what: &str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.to_string();
    let path = path.into();
    move |source| Error::Io { what, path, source }
}
