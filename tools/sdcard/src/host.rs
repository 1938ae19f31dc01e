//! Host programs: finding them (with the Debian package to install when missing) and running them.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A host program and the Debian (amd64) package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// Program name.
    pub name: &'static str,
    /// Debian package.
    pub package: &'static str,
}

/// `mkfs.vfat` from dosfstools: creates the FAT32 file system inside the image file.
pub const MKFS_VFAT: Tool = Tool {
    name: "mkfs.vfat",
    package: "dosfstools",
};
/// `mcopy` from mtools: copies files into the FAT file system, no mount needed.
pub const MCOPY: Tool = Tool {
    name: "mcopy",
    package: "mtools",
};
/// `mkimage` from u-boot-tools: compiles the boot script.
pub const MKIMAGE: Tool = Tool {
    name: "mkimage",
    package: "u-boot-tools",
};
/// `apt-get`: fetches the arm64 packages with a private configuration.
pub const APT_GET: Tool = Tool {
    name: "apt-get",
    package: "apt",
};
/// `apt-cache`: resolves the current arm64 kernel package.
pub const APT_CACHE: Tool = Tool {
    name: "apt-cache",
    package: "apt",
};
/// `dpkg-deb`: unpacks the packages.
pub const DPKG_DEB: Tool = Tool {
    name: "dpkg-deb",
    package: "dpkg",
};

/// `tar`: unpacks only the needed members of a package.
pub const TAR: Tool = Tool {
    name: "tar",
    package: "tar",
};

/// Every host program the tool runs (for `ci/sdcard.sh packages` and error messages).
pub const ALL: [Tool; 7] = [MKFS_VFAT, MCOPY, MKIMAGE, APT_GET, APT_CACHE, DPKG_DEB, TAR];

/// Finds a program in PATH, then in /usr/sbin and /sbin (mkfs.vfat lives there and ordinary
/// users' PATH often lacks them).
pub fn find(tool: Tool) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .collect::<Vec<_>>();
    for d in dirs {
        let p = d.join(tool.name);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    Err(Error::MissingTool {
        tool: tool.name,
        package: tool.package,
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs a command to completion; on failure returns its command line and the end of stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let line = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| Error::CommandFailed {
        command: line.clone(),
        status: "could not start".into(),
        stderr: e.to_string(),
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Error::CommandFailed {
            command: line,
            status: out.status.to_string(),
            stderr: tail,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
