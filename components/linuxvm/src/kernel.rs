//! Obtaining a stock Debian kernel (`linux-image-cloud-amd64`) without
//! installing it: `apt-get download` the current image package into a cache
//! directory and unpack it with `dpkg-deb -x`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The Debian metapackage that names the current cloud kernel.
pub const METAPACKAGE: &str = "linux-image-cloud-amd64";

/// An unpacked kernel package.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Kernel release, e.g. `6.1.0-56-cloud-amd64`.
    pub release: String,
    /// The bootable image (`boot/vmlinuz-*`).
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>` inside the unpacked package.
    pub modules_dir: PathBuf,
}

/// Where downloaded kernels are kept: `$LINUXVM_CACHE`, else
/// `$CARGO_TARGET_DIR/linuxvm-cache`, else `<workspace>/target/linuxvm-cache`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LINUXVM_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d).join("linuxvm-cache");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/linuxvm-cache")
        .components()
        .collect()
}

fn run(cmd: &mut Command) -> Result<String, Error> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("running {shown}"), e))?;
    if !out.status.success() {
        return Err(Error::Tool {
            command: shown,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The versioned image package the metapackage currently depends on, from
/// `apt-cache depends` (needs the apt lists: `apt-get update`).
pub fn current_image_package() -> Result<String, Error> {
    let out = run(Command::new("apt-cache").args(["depends", METAPACKAGE])).map_err(|e| {
        Error::Unavailable(format!(
            "apt-cache cannot resolve {METAPACKAGE} ({e}); run `apt-get update`"
        ))
    })?;
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-cloud-amd64"))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Unavailable(format!(
                "apt-cache knows no dependency of {METAPACKAGE}; run `apt-get update`"
            ))
        })
}

/// Finds the unpacked kernel in `dir` (a `dpkg-deb -x` tree).
pub fn from_tree(dir: &Path) -> Result<Kernel, Error> {
    let boot = dir.join("boot");
    let entries =
        fs::read_dir(&boot).map_err(|e| Error::io(format!("reading {}", boot.display()), e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(release) = name.strip_prefix("vmlinuz-") {
            let modules_dir = dir.join("lib/modules").join(release);
            let modules_dir = if modules_dir.is_dir() {
                modules_dir
            } else {
                dir.join("usr/lib/modules").join(release)
            };
            return Ok(Kernel {
                release: release.to_string(),
                vmlinuz: e.path(),
                modules_dir,
            });
        }
    }
    Err(Error::Tool {
        command: format!("looking for boot/vmlinuz-* in {}", dir.display()),
        detail: "no kernel image in the unpacked package".into(),
    })
}

fn unpack(deb: &Path, dest: &Path) -> Result<Kernel, Error> {
    if dest.is_dir() {
        if let Ok(k) = from_tree(dest) {
            return Ok(k);
        }
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    let tmp = parent.join(format!(".unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp))?;
    // A concurrent unpacker may have won the race: keep whichever landed first.
    if fs::rename(&tmp, dest).is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    from_tree(dest)
}

/// Returns the kernel to boot, downloading and unpacking it on first use.
///
/// `LINUXVM_KERNEL_DEB=/path/to/linux-image-*.deb` uses that package instead
/// of asking apt. Without apt lists, a kernel already in the cache is used.
pub fn prepare() -> Result<Kernel, Error> {
    let cache = cache_dir();
    if let Some(deb) = std::env::var_os("LINUXVM_KERNEL_DEB") {
        let deb = PathBuf::from(deb);
        let stem = deb
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kernel".into());
        return unpack(&deb, &cache.join(stem));
    }
    let pkg = match current_image_package() {
        Ok(p) => p,
        Err(e) => return newest_cached(&cache).ok_or(e),
    };
    let dest = cache.join(&pkg);
    if let Ok(k) = from_tree(&dest) {
        return Ok(k);
    }
    let dl = cache.join(format!(".download-{}", std::process::id()));
    fs::create_dir_all(&dl).map_err(|e| Error::io(format!("creating {}", dl.display()), e))?;
    let got = run(Command::new("apt-get")
        .args(["download", "-q", &pkg])
        .current_dir(&dl));
    if let Err(e) = got {
        let _ = fs::remove_dir_all(&dl);
        return Err(Error::Unavailable(format!("cannot download {pkg}: {e}")));
    }
    let deb = fs::read_dir(&dl)
        .map_err(|e| Error::io("listing the download", e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"));
    let result = match deb {
        Some(deb) => unpack(&deb, &dest),
        None => Err(Error::Tool {
            command: format!("apt-get download {pkg}"),
            detail: "no .deb file appeared".into(),
        }),
    };
    let _ = fs::remove_dir_all(&dl);
    result
}

fn newest_cached(cache: &Path) -> Option<Kernel> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("linux-image-"))
        })
        .collect();
    dirs.sort();
    dirs.iter().rev().find_map(|d| from_tree(d).ok())
}

/// Canonical module name: file stem without `.ko`, dashes as underscores.
pub fn module_name(file: &str) -> String {
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// The value of `depends=` in a module's `.modinfo` section.
///
/// The section is a run of NUL-terminated `key=value` strings, so a scan for
/// `\0depends=` finds it without an ELF parser.
pub fn module_depends(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    let Some(pos) = ko.windows(key.len()).position(|w| w == key) else {
        return Vec::new();
    };
    let rest = &ko[pos + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|s| !s.is_empty())
        .map(module_name)
        .collect()
}

/// The modules of one kernel: where each `.ko` is and which are built in.
#[derive(Debug)]
pub struct ModuleIndex {
    files: BTreeMap<String, PathBuf>,
    builtin: BTreeSet<String>,
}

impl ModuleIndex {
    /// Scans `lib/modules/<release>` (its `kernel/` tree and `modules.builtin`).
    pub fn scan(kernel: &Kernel) -> Result<Self, Error> {
        let mut files = BTreeMap::new();
        let mut stack = vec![kernel.modules_dir.join("kernel")];
        while let Some(dir) = stack.pop() {
            let rd = fs::read_dir(&dir)
                .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.ends_with(".ko") {
                        files.insert(module_name(&n), p);
                    }
                }
            }
        }
        let builtin = fs::read_to_string(kernel.modules_dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit('/').next())
            .map(module_name)
            .collect();
        Ok(Self { files, builtin })
    }

    /// Whether `name` is built into the kernel image.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&module_name(name))
    }

    /// Path of the `.ko` of `name`, if it is a module.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.files.get(&module_name(name)).map(PathBuf::as_path)
    }

    /// The load order (dependencies first) of `wanted` and everything they
    /// depend on. Built-in names are skipped; a name that is neither built in
    /// nor a module is an error if `required`, else skipped.
    pub fn load_order(&self, wanted: &[(&str, bool)]) -> Result<Vec<(String, PathBuf)>, Error> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        for &(name, required) in wanted {
            let name = module_name(name);
            if self.is_builtin(&name) {
                continue;
            }
            if !self.files.contains_key(&name) {
                if required {
                    return Err(Error::MissingModule(name));
                }
                continue;
            }
            self.visit(&name, &mut done, &mut order, 0)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        done: &mut BTreeSet<String>,
        order: &mut Vec<(String, PathBuf)>,
        depth: usize,
    ) -> Result<(), Error> {
        if done.contains(name) || self.is_builtin(name) {
            return Ok(());
        }
        let Some(path) = self.files.get(name) else {
            return Err(Error::MissingModule(name.to_string()));
        };
        if depth > 64 {
            return Err(Error::Tool {
                command: "resolving module dependencies".into(),
                detail: format!("dependency loop through {name}"),
            });
        }
        let data =
            fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        for dep in module_depends(&data) {
            self.visit(&dep, done, order, depth + 1)?;
        }
        done.insert(name.to_string());
        order.push((name.to_string(), path.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_parsed_from_modinfo_strings() {
        let blob = b"\x7fELF junk\0license=GPL\0depends=gf128mul,crypto-simd\0intree=Y\0";
        assert_eq!(module_depends(blob), vec!["gf128mul", "crypto_simd"]);
        assert!(module_depends(b"\0depends=\0x").is_empty());
        assert!(module_depends(b"no modinfo here").is_empty());
    }

    #[test]
    fn load_order_puts_dependencies_first_and_skips_builtins() {
        let root = std::env::temp_dir().join(format!("linuxvm-modtest-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let mods = root.join("lib/modules/9.9-test");
        let k = mods.join("kernel/crypto");
        fs::create_dir_all(&k).unwrap();
        let ko = |name: &str, deps: &str| {
            let body = format!("\x7fELF\0license=GPL\0depends={deps}\0name={name}\0");
            fs::write(k.join(format!("{name}.ko")), body).unwrap();
        };
        ko("gcm", "ghash-generic,ctr");
        ko("ghash-generic", "gf128mul");
        ko("gf128mul", "");
        ko("ctr", "");
        ko("loop_a", "loop_b");
        ko("loop_b", "loop_a");
        fs::write(
            mods.join("modules.builtin"),
            "kernel/crypto/aes_generic.ko\n",
        )
        .unwrap();
        let kernel = Kernel {
            release: "9.9-test".into(),
            vmlinuz: root.join("boot/vmlinuz-9.9-test"),
            modules_dir: mods.clone(),
        };
        let idx = ModuleIndex::scan(&kernel).unwrap();
        assert!(idx.is_builtin("aes-generic"));
        assert!(idx.path("ghash_generic").is_some());
        let order: Vec<String> = idx
            .load_order(&[
                ("aes_generic", true),
                ("gcm", true),
                ("ctr", true),
                ("nope", false),
            ])
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(order, ["gf128mul", "ghash_generic", "ctr", "gcm"]);
        assert!(matches!(
            idx.load_order(&[("nope", true)]),
            Err(Error::MissingModule(m)) if m == "nope"
        ));
        assert!(idx.load_order(&[("loop_a", true)]).is_err());
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn module_names_are_canonical() {
        assert_eq!(module_name("ghash-generic.ko"), "ghash_generic");
        assert_eq!(module_name("esp4.ko.xz"), "esp4");
        assert_eq!(module_name("aesni-intel"), "aesni_intel");
    }
}
