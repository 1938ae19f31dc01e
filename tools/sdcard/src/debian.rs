//! The Raspberry Pi boot files from Debian bookworm's arm64 packages, fetched with a private apt
//! configuration into a cache directory (the system's apt state is never touched) and unpacked
//! with `dpkg-deb`.
//!
//! Cache layout: `apt/` (apt.conf, sources.list, lists), `debs/` (the .deb files), `x/<deb>/`
//! (each package unpacked).

use crate::error::{io, Error, Result};
use crate::host::{self, APT_CACHE, APT_GET, DPKG_DEB, TAR};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Debian archive and suite the boot files come from.
pub const SOURCE: &str =
    "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \
     http://deb.debian.org/debian bookworm main non-free-firmware";
/// The keyring apt checks the archive's signature with.
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// Package with U-Boot for the Pi (rpi_arm64 is the 64-bit build for the Pi 3 and 4).
pub const UBOOT_PKG: &str = "u-boot-rpi";
/// Package with the VideoCore firmware (non-free-firmware).
pub const FIRMWARE_PKG: &str = "raspi-firmware";
/// Metapackage naming the current arm64 kernel, whose package carries the Pi 4 device tree.
pub const KERNEL_META: &str = "linux-image-arm64";

/// The files taken from the packages, with where they came from.
#[derive(Debug, Clone)]
pub struct BootFiles {
    /// `(name on the FAT partition, source file)`, in copy order.
    pub files: Vec<(String, PathBuf)>,
    /// `package version` lines, written to the image as VERSIONS.txt.
    pub versions: Vec<String>,
}

impl BootFiles {
    /// The source of the file that goes to the partition as `name`.
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_path())
    }
}

/// What goes on the FAT partition from each package: (name there, path in the package).
const FIRMWARE_FILES: [(&str, &str); 2] = [
    ("start4.elf", "usr/lib/raspi-firmware/start4.elf"),
    ("fixup4.dat", "usr/lib/raspi-firmware/fixup4.dat"),
];
const FIRMWARE_LICENCE: (&str, &str) = (
    "LICENCE.raspi-firmware.txt",
    "usr/share/doc/raspi-firmware/copyright",
);
const UBOOT_FILE: (&str, &str) = ("u-boot.bin", "usr/lib/u-boot/rpi_arm64/u-boot.bin");
const DTB_NAME: &str = "bcm2711-rpi-4-b.dtb";

/// Fetches (unless cached) and unpacks the packages; returns the boot files.
/// With `offline`, only the cache is used.
pub fn boot_files(cache: &Path, offline: bool, log: &mut dyn FnMut(&str)) -> Result<BootFiles> {
    let debs = cache.join("debs");
    fs::create_dir_all(&debs).map_err(io("cannot create", &debs))?;
    let mut want = vec![UBOOT_PKG.to_string(), FIRMWARE_PKG.to_string()];
    let have_kernel = find_deb(&debs, "linux-image-")?;
    let mut missing: Vec<&str> = [UBOOT_PKG, FIRMWARE_PKG]
        .into_iter()
        .filter(|p| matches!(find_deb(&debs, &format!("{p}_")), Ok(None)))
        .collect();
    if have_kernel.is_none() {
        missing.push("linux-image-*-arm64");
    }
    if !missing.is_empty() {
        if offline {
            return Err(Error::Fetch {
                package: missing.join(" "),
                detail: format!("not in the cache {} and --offline given", debs.display()),
            });
        }
        let apt = AptConfig::create(cache)?;
        log("updating the private arm64 package lists (deb.debian.org, bookworm)");
        apt.update()?;
        let kernel = apt.kernel_package()?;
        want.push(kernel);
        log(&format!("downloading {}", want.join(" ")));
        apt.download(&debs, &want)?;
        apt.prune();
    }
    let uboot = extract(
        cache,
        &need_deb(&debs, &format!("{UBOOT_PKG}_"))?,
        &["./usr/lib/u-boot/rpi_arm64/*"],
    )?;
    let firmware = extract(
        cache,
        &need_deb(&debs, &format!("{FIRMWARE_PKG}_"))?,
        &[
            "./usr/lib/raspi-firmware/*",
            "./usr/share/doc/raspi-firmware/*",
        ],
    )?;
    let kernel_deb = need_deb(&debs, "linux-image-")?;
    let kernel = extract(
        cache,
        &kernel_deb,
        &[&format!("./usr/lib/linux-image-*/broadcom/{DTB_NAME}")],
    )?;

    let mut files = Vec::new();
    for (name, rel) in FIRMWARE_FILES {
        files.push((name.to_string(), need_file(&firmware, rel)?));
    }
    files.push((
        FIRMWARE_LICENCE.0.to_string(),
        need_file(&firmware, FIRMWARE_LICENCE.1)?,
    ));
    files.push((DTB_NAME.to_string(), find_dtb(&kernel)?));
    files.push((UBOOT_FILE.0.to_string(), need_file(&uboot, UBOOT_FILE.1)?));

    let mut versions = Vec::new();
    for deb in [
        need_deb(&debs, &format!("{FIRMWARE_PKG}_"))?,
        need_deb(&debs, &format!("{UBOOT_PKG}_"))?,
        kernel_deb,
    ] {
        versions.push(deb_version(&deb)?);
    }
    Ok(BootFiles { files, versions })
}

/// The private apt configuration: arm64, bookworm main + non-free-firmware, state in the cache.
struct AptConfig {
    conf: PathBuf,
}

impl AptConfig {
    fn create(cache: &Path) -> Result<AptConfig> {
        host::find(APT_GET)?;
        host::find(APT_CACHE)?;
        if !Path::new(KEYRING).exists() {
            return Err(Error::MissingTool {
                tool: "debian-archive-keyring.gpg",
                package: "debian-archive-keyring",
            });
        }
        let root = cache.join("apt");
        for d in [
            "etc/sources.list.d",
            "etc/preferences.d",
            "state/lists/partial",
            "cache/archives/partial",
        ] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io("cannot create", &p))?;
        }
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            fs::write(&p, text).map_err(io("cannot write", &p))
        };
        write("etc/sources.list", &format!("{SOURCE}\n"))?;
        let status = root.join("state/status");
        if !status.exists() {
            write("state/status", "")?;
        }
        let r = root.display();
        write(
            "apt.conf",
            &format!(
                "// vetted-sdcard: private apt configuration (arm64 Pi boot files only)\n\
                 Dir::Etc \"{r}/etc\";\n\
                 Dir::Etc::SourceList \"{r}/etc/sources.list\";\n\
                 Dir::Etc::SourceParts \"{r}/etc/sources.list.d\";\n\
                 Dir::Etc::Preferences \"{r}/etc/preferences\";\n\
                 Dir::Etc::PreferencesParts \"{r}/etc/preferences.d\";\n\
                 Dir::State \"{r}/state\";\n\
                 Dir::State::status \"{r}/state/status\";\n\
                 Dir::Cache \"{r}/cache\";\n\
                 APT::Architecture \"arm64\";\n\
                 APT::Architectures {{ \"arm64\"; }};\n\
                 APT::Sandbox::User \"root\";\n"
            ),
        )?;
        Ok(AptConfig {
            conf: root.join("apt.conf"),
        })
    }

    fn cmd(&self, tool: crate::host::Tool) -> Result<Command> {
        let mut c = Command::new(host::find(tool)?);
        c.env("APT_CONFIG", &self.conf).env("LC_ALL", "C");
        Ok(c)
    }

    fn update(&self) -> Result<()> {
        let out = self
            .cmd(APT_GET)?
            .args(["-q", "update"])
            .output()
            .map_err(io("cannot run", "apt-get"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        // apt-get update exits 0 even when nothing could be fetched; look for errors too.
        if !out.status.success() || text.contains("\nE: ") || text.starts_with("E: ") {
            return Err(Error::Fetch {
                package: "(package lists)".into(),
                detail: last_lines(&text, 4),
            });
        }
        Ok(())
    }

    /// The kernel package the metapackage depends on, e.g. `linux-image-6.1.0-50-arm64`.
    fn kernel_package(&self) -> Result<String> {
        let out = self
            .cmd(APT_CACHE)?
            .args(["show", "--no-all-versions", KERNEL_META])
            .output()
            .map_err(io("cannot run", "apt-cache"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse_kernel_dep(&text).ok_or_else(|| Error::Fetch {
            package: KERNEL_META.into(),
            detail: format!(
                "no linux-image-*-arm64 dependency: {}",
                last_lines(&String::from_utf8_lossy(&out.stderr), 3)
            ),
        })
    }

    /// Drops the package lists and apt's binary caches (~150 MB) once the .debs are here: the
    /// next fetch (only when a .deb is missing) updates them again.
    fn prune(&self) {
        if let Some(root) = self.conf.parent() {
            let _ = fs::remove_dir_all(root.join("state/lists"));
            let _ = fs::remove_dir_all(root.join("cache"));
        }
    }

    fn download(&self, dir: &Path, packages: &[String]) -> Result<()> {
        let out = self
            .cmd(APT_GET)?
            .current_dir(dir)
            .args(["-q", "download"])
            .args(packages)
            .output()
            .map_err(io("cannot run", "apt-get"))?;
        if !out.status.success() {
            return Err(Error::Fetch {
                package: packages.join(" "),
                detail: last_lines(&String::from_utf8_lossy(&out.stderr), 4),
            });
        }
        Ok(())
    }
}

/// The first `linux-image-*-arm64` dependency in `apt-cache show` output.
pub fn parse_kernel_dep(show: &str) -> Option<String> {
    let deps = show
        .lines()
        .find_map(|l| l.strip_prefix("Depends:"))?
        .split([',', '|']);
    for d in deps {
        let name = d.split_whitespace().next().unwrap_or("");
        if name.starts_with("linux-image-") && name.ends_with("-arm64") && name != KERNEL_META {
            return Some(name.to_string());
        }
    }
    None
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// The newest (by name) .deb in `dir` whose name starts with `prefix` (and is not a debug
/// or unsigned kernel variant).
fn find_deb(dir: &Path, prefix: &str) -> Result<Option<PathBuf>> {
    let mut found: Vec<PathBuf> = Vec::new();
    for e in fs::read_dir(dir).map_err(io("cannot list", dir))? {
        let e = e.map_err(io("cannot list", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix)
            && name.ends_with(".deb")
            && !name.contains("-dbg")
            && !name.contains("-unsigned")
        {
            found.push(e.path());
        }
    }
    // Natural order, so that linux-image-6.1.0-10 sorts after linux-image-6.1.0-9.
    found.sort_by_cached_key(|p| natural_key(&p.to_string_lossy()));
    Ok(found.pop())
}

/// A sort key comparing runs of digits as numbers.
fn natural_key(s: &str) -> Vec<(u8, u64, String)> {
    let mut key = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let digits = c.is_ascii_digit();
        let end = rest
            .find(|ch: char| ch.is_ascii_digit() != digits)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        key.push(if digits {
            (1, run.parse().unwrap_or(u64::MAX), String::new())
        } else {
            (0, 0, run.to_string())
        });
        rest = tail;
    }
    key
}

fn need_deb(dir: &Path, prefix: &str) -> Result<PathBuf> {
    find_deb(dir, prefix)?.ok_or_else(|| Error::Fetch {
        package: prefix.trim_end_matches('_').to_string(),
        detail: format!("no {prefix}*.deb in {}", dir.display()),
    })
}

/// Unpacks the members matching `patterns` (tar wildcards, e.g. `./usr/lib/u-boot/*`) of a .deb
/// into `cache/x/<file stem>/`, once. Only what the image needs: the kernel package alone would
/// be 370 MB unpacked.
fn extract(cache: &Path, deb: &Path, patterns: &[&str]) -> Result<PathBuf> {
    let stem = deb
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dest = cache.join("x").join(stem);
    let done = dest.join(".vetted-extracted");
    if done.exists() {
        return Ok(dest);
    }
    if dest.exists() {
        fs::remove_dir_all(&dest).map_err(io("cannot clear", &dest))?;
    }
    fs::create_dir_all(&dest).map_err(io("cannot create", &dest))?;
    let mut dpkg = Command::new(host::find(DPKG_DEB)?)
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("cannot run dpkg-deb on", deb))?;
    let Some(tarball) = dpkg.stdout.take() else {
        return Err(Error::CommandFailed {
            command: format!("dpkg-deb --fsys-tarfile {}", deb.display()),
            status: "no output pipe".into(),
            stderr: String::new(),
        });
    };
    let untar = host::run(
        Command::new(host::find(TAR)?)
            .arg("-x")
            .arg("-C")
            .arg(&dest)
            .arg("--wildcards")
            .args(patterns)
            .stdin(tarball),
    );
    let dpkg_out = dpkg
        .wait_with_output()
        .map_err(io("cannot run dpkg-deb on", deb))?;
    if !dpkg_out.status.success() {
        return Err(Error::CommandFailed {
            command: format!("dpkg-deb --fsys-tarfile {}", deb.display()),
            status: dpkg_out.status.to_string(),
            stderr: last_lines(&String::from_utf8_lossy(&dpkg_out.stderr), 4),
        });
    }
    untar?;
    fs::write(&done, b"").map_err(io("cannot write", &done))?;
    Ok(dest)
}

fn need_file(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = root.join(rel);
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::FileNotInPackage {
            file: rel.to_string(),
            package: root.to_path_buf(),
        })
    }
}

/// `usr/lib/linux-image-<version>/broadcom/bcm2711-rpi-4-b.dtb` in the unpacked kernel package.
fn find_dtb(kernel: &Path) -> Result<PathBuf> {
    let lib = kernel.join("usr/lib");
    if let Ok(entries) = fs::read_dir(&lib) {
        for e in entries.flatten() {
            let p = e.path().join("broadcom").join(DTB_NAME);
            if e.file_name().to_string_lossy().starts_with("linux-image-") && p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Error::FileNotInPackage {
        file: format!("usr/lib/linux-image-*/broadcom/{DTB_NAME}"),
        package: kernel.to_path_buf(),
    })
}

fn deb_version(deb: &Path) -> Result<String> {
    let out = host::run(
        Command::new(host::find(DPKG_DEB)?)
            .arg("-f")
            .arg(deb)
            .args(["Package", "Version", "Architecture"]),
    )?;
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    Ok(format!(
        "{} {} ({})",
        field("Package:"),
        field("Version:"),
        field("Architecture:")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_debs_are_found_by_name() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "linux-image-6.1.0-9-arm64_6.1.27-1_arm64.deb",
            "linux-image-6.1.0-49-arm64_6.1.170-1_arm64.deb",
            "linux-image-6.1.0-50-arm64_6.1.176-1_arm64.deb",
            "linux-image-6.1.0-50-arm64-dbg_6.1.176-1_arm64.deb",
            "u-boot-rpi_2023.01+dfsg-2+deb12u3_arm64.deb",
            "u-boot-rpi_2023.01.partial",
        ] {
            std::fs::write(d.path().join(f), b"").unwrap();
        }
        let name = |p: Option<PathBuf>| p.unwrap().file_name().unwrap().to_owned();
        assert_eq!(
            name(find_deb(d.path(), "linux-image-").unwrap()),
            "linux-image-6.1.0-50-arm64_6.1.176-1_arm64.deb"
        );
        assert_eq!(
            name(find_deb(d.path(), "u-boot-rpi_").unwrap()),
            "u-boot-rpi_2023.01+dfsg-2+deb12u3_arm64.deb"
        );
        assert!(find_deb(d.path(), "raspi-firmware_").unwrap().is_none());
        assert!(matches!(
            need_deb(d.path(), "raspi-firmware_"),
            Err(Error::Fetch { .. })
        ));
    }

    #[test]
    fn kernel_dependency_is_found() {
        let show = "Package: linux-image-arm64\nSource: linux-signed-arm64 (6.1.176+1)\n\
                    Version: 6.1.176-1\nDepends: linux-image-6.1.0-50-arm64 (= 6.1.176-1)\n";
        assert_eq!(
            parse_kernel_dep(show).as_deref(),
            Some("linux-image-6.1.0-50-arm64")
        );
        assert_eq!(parse_kernel_dep("Package: x\n"), None);
        assert_eq!(parse_kernel_dep("Depends: libc6, foo\n"), None);
    }
}
