//! The guest's initramfs: busybox, the real `ip` from iproute2 with its shared
//! libraries, the kernel modules the tests need, and an `/init` script that
//! hands the serial console to a shell.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cpio::Archive;
use crate::kernel::{Kernel, ModuleIndex};
use crate::Error;

/// Printed by `/init` once the shell on the console is about to start.
pub const READY_MARKER: &str = "@@LVMREADY";

/// Modules loaded at boot: `(name, required)`. Optional ones are CPU-specific
/// accelerations whose absence (or failed load under TCG) changes nothing.
pub const MODULES: &[(&str, bool)] = &[
    ("virtio_pci", true),
    ("virtio_net", true),
    ("xfrm_user", true),
    ("xfrm_algo", true),
    ("esp4", true),
    ("esp6", true),
    ("authenc", true),
    ("authencesn", true),
    ("seqiv", true),
    ("echainiv", true),
    ("ctr", true),
    ("gcm", true),
    ("ghash_generic", true),
    ("chacha_generic", true),
    ("poly1305_generic", true),
    ("chacha20poly1305", true),
    // seqiv/echainiv (the IV generators ESP wraps its AEAD in) take the
    // default RNG (drbg, hmac(sha512)) and the null skcipher at init.
    ("crypto_null", true),
    ("sha512_generic", true),
    ("jitterentropy_rng", true),
    ("drbg", true),
    ("aesni_intel", false),
    ("ghash_clmulni_intel", false),
    ("chacha_x86_64", false),
    ("poly1305_x86_64", false),
];

/// Finds `name` in `PATH` and the usual sbin directories.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The shared objects `ldd` names for `bin` (absolute paths, loader included).
/// A static binary has none.
pub fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>, Error> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| Error::io("running ldd", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("not a dynamic executable") {
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("not found") {
            return Err(Error::Tool {
                command: format!("ldd {}", bin.display()),
                detail: format!("unresolved library: {line}"),
            });
        }
        let path = match line.split_once("=>") {
            Some((_, rhs)) => rhs.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

fn add_host_file(a: &mut Archive, host: &Path, at: &str, perm: u32) -> Result<(), Error> {
    let data = fs::read(host).map_err(|e| Error::io(format!("reading {}", host.display()), e))?;
    a.file(at, perm, &data);
    Ok(())
}

fn add_binary(a: &mut Archive, host: &Path, at: &str) -> Result<(), Error> {
    add_host_file(a, host, at, 0o755)?;
    for lib in shared_libraries(host)? {
        let at = lib.to_string_lossy().into_owned();
        if !a.contains(&at) {
            add_host_file(a, &lib, &at, 0o755)?;
        }
    }
    Ok(())
}

/// The `/init` script for a given module load order.
pub fn init_script(modules: &[String]) -> String {
    let mut s = String::from(
        "#!/bin/busybox sh\n\
         /bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin\n\
         /bin/busybox --install -s /bin\n\
         export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev 2>/dev/null\n\
         mount -t tmpfs tmpfs /tmp\n\
         dmesg -n 1\n\
         echo > /proc/sys/kernel/modprobe 2>/dev/null\n",
    );
    for m in modules {
        s.push_str(&format!(
            "insmod /lib/modules/{m}.ko 2>/dev/null || echo \"linuxvm: insmod {m} failed\"\n"
        ));
    }
    s.push_str(&format!(
        "ip link set lo up\n\
         stty -echo 2>/dev/null\n\
         export PS1='' PS2='' HOME=/tmp ENV=/etc/shrc\n\
         cd /tmp\n\
         echo {READY_MARKER}\n\
         exec sh\n"
    ));
    s
}

/// Builds the initramfs (uncompressed `newc` cpio) for `kernel`.
pub fn build(kernel: &Kernel) -> Result<Vec<u8>, Error> {
    let busybox = which("busybox").ok_or_else(|| {
        Error::Unavailable("busybox not found (Debian package busybox-static)".into())
    })?;
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Unavailable("`ip` not found (Debian package iproute2)".into()))?;
    let index = ModuleIndex::scan(kernel)?;
    let order = index.load_order(MODULES)?;

    let mut a = Archive::new();
    for d in [
        "dev",
        "proc",
        "sys",
        "tmp",
        "run",
        "bin",
        "sbin",
        "etc",
        "lib/modules",
    ] {
        a.dir(d);
    }
    a.char_dev("dev/console", 0o600, 5, 1);
    a.char_dev("dev/null", 0o666, 1, 3);
    add_binary(&mut a, &busybox, "bin/busybox")?;
    a.symlink("bin/sh", "busybox");
    add_binary(&mut a, &ip, "usr/sbin/ip")?;
    a.file("etc/passwd", 0o644, b"root:x:0:0:root:/tmp:/bin/sh\n");
    a.file("etc/group", 0o644, b"root:x:0:\n");
    // busybox's shell runs its own applets before searching PATH; a function
    // makes `ip` the real iproute2 binary (`ip xfrm` is not in busybox).
    a.file("etc/shrc", 0o644, b"ip() { /usr/sbin/ip \"$@\"; }\n");
    let mut names = Vec::new();
    for (name, path) in &order {
        add_host_file(&mut a, path, &format!("lib/modules/{name}.ko"), 0o644)?;
        names.push(name.clone());
    }
    a.file("init", 0o755, init_script(&names).as_bytes());
    Ok(a.finish())
}
