//! Booting the guest in QEMU and running commands on its serial console.

use std::collections::VecDeque;
use std::fs;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::initramfs::{self, READY_MARKER};
use crate::kernel;
use crate::udp::UdpEthernet;
use crate::Error;

/// How QEMU runs the guest CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM if `/dev/kvm` can be opened read-write, else TCG.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's software emulation (slower, works everywhere).
    Tcg,
}

/// Settings of one guest.
#[derive(Debug, Clone)]
pub struct GuestConfig {
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Longest wait from QEMU start to the shell prompt.
    pub boot_timeout: Duration,
    /// The guest NIC's MAC address.
    pub guest_mac: [u8; 6],
    /// CPU acceleration.
    pub accel: Accel,
}

impl Default for GuestConfig {
    fn default() -> Self {
        let accel = match std::env::var("LINUXVM_ACCEL").as_deref() {
            Ok("tcg") => Accel::Tcg,
            Ok("kvm") => Accel::Kvm,
            _ => Accel::Auto,
        };
        Self {
            memory_mib: 256,
            boot_timeout: Duration::from_secs(180),
            guest_mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            accel,
        }
    }
}

/// Whether `LINUXVM_REQUIRE=1` asks tests to fail instead of skipping.
pub fn required() -> bool {
    std::env::var("LINUXVM_REQUIRE").is_ok_and(|v| v == "1")
}

fn kvm_usable() -> bool {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// A private temporary directory, removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, Error> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("linuxvm-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn no_sign_of_life(e: &Error) -> bool {
    match e {
        Error::Timeout { waiting_for, .. } => waiting_for == SIGN_OF_LIFE,
        Error::GuestExited { console_tail } => !console_tail.contains("Linux version"),
        _ => false,
    }
}

/// Set once KVM failed to boot the kernel in this process.
static KVM_BROKEN: AtomicBool = AtomicBool::new(false);
/// What the first wait after starting QEMU is called.
const SIGN_OF_LIFE: &str = "the kernel's first message";

const TRANSCRIPT_KEEP: usize = 256 * 1024;

/// The result of a guest command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status.
    pub status: i32,
    /// Everything it printed (stdout and stderr), lines joined by `\n`.
    pub text: String,
}

/// A running guest. QEMU is killed and the temporary files removed on drop.
#[derive(Debug)]
pub struct Guest {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    transcript: Arc<Mutex<VecDeque<u8>>>,
    seq: u64,
    link: Option<UdpEthernet>,
    accel: Accel,
    boot_time: Duration,
    kernel_release: String,
    _dir: TempDir,
}

impl Guest {
    /// Prepares the kernel and initramfs, starts QEMU with a virtio NIC on a
    /// loopback UDP link and waits for the shell.
    ///
    /// Returns [`Error::Unavailable`] when QEMU, busybox, `ip` or the kernel
    /// package cannot be had.
    pub fn boot(cfg: &GuestConfig) -> Result<Guest, Error> {
        let accel = match cfg.accel {
            Accel::Auto if kvm_usable() && !KVM_BROKEN.load(Ordering::Relaxed) => Accel::Kvm,
            Accel::Auto => Accel::Tcg,
            a => a,
        };
        match Guest::boot_with(cfg, accel) {
            // Some hosts (nested virtualisation) offer /dev/kvm but cannot run
            // this kernel under it: no sign of life, so fall back to TCG.
            Err(e) if cfg.accel == Accel::Auto && accel == Accel::Kvm && no_sign_of_life(&e) => {
                eprintln!("linuxvm: the kernel does not start under KVM ({e}); using TCG");
                KVM_BROKEN.store(true, Ordering::Relaxed);
                Guest::boot_with(cfg, Accel::Tcg)
            }
            r => r,
        }
    }

    fn boot_with(cfg: &GuestConfig, accel: Accel) -> Result<Guest, Error> {
        let qemu = match std::env::var_os("LINUXVM_QEMU") {
            Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
            None => initramfs::which("qemu-system-x86_64"),
        };
        let qemu = qemu.ok_or_else(|| {
            Error::Unavailable(
                "qemu-system-x86_64 not found (Debian package qemu-system-x86)".into(),
            )
        })?;
        let kernel = kernel::prepare()?;
        let initrd = initramfs::build(&kernel)?;
        let dir = TempDir::new()?;
        let initrd_path = dir.0.join("initrd.cpio");
        fs::write(&initrd_path, initrd).map_err(|e| Error::io("writing the initramfs", e))?;

        // Our end of the link, and a free port for QEMU's end. QEMU binds its
        // port right away; the window between our probe and its bind is tiny
        // and on loopback only.
        let ours =
            UdpSocket::bind("127.0.0.1:0").map_err(|e| Error::io("binding the UDP link", e))?;
        let our_port = ours
            .local_addr()
            .map_err(|e| Error::io("local_addr", e))?
            .port();
        let qemu_port = {
            let probe =
                UdpSocket::bind("127.0.0.1:0").map_err(|e| Error::io("probing a port", e))?;
            probe
                .local_addr()
                .map_err(|e| Error::io("local_addr", e))?
                .port()
        };
        ours.connect(("127.0.0.1", qemu_port))
            .map_err(|e| Error::io("connecting the UDP link", e))?;
        let link = UdpEthernet::new(ours).map_err(|e| Error::io("configuring the UDP link", e))?;

        let m = cfg.guest_mac;
        let mac = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
        let mut cmd = Command::new(qemu);
        cmd.args([
            "-machine",
            "q35",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
        ]);
        match accel {
            Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
            _ => cmd.args(["-accel", "tcg", "-cpu", "max"]),
        };
        cmd.args(["-smp", "1", "-m", &cfg.memory_mib.to_string()])
            .args(["-serial", "stdio", "-no-reboot"])
            .arg("-kernel")
            .arg(&kernel.vmlinuz)
            .arg("-initrd")
            .arg(&initrd_path)
            .args([
                "-append",
                "console=ttyS0 panic=-1 loglevel=6 rdinit=/init random.trust_cpu=on",
            ])
            .arg("-netdev")
            .arg(format!(
                "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={qemu_port},\
                 remote.type=inet,remote.host=127.0.0.1,remote.port={our_port}"
            ))
            .arg("-device")
            .arg(format!("virtio-net-pci,netdev=n0,mac={mac},romfile="))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| Error::io("starting QEMU", e))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            return Err(Error::io(
                "QEMU pipes",
                std::io::ErrorKind::BrokenPipe.into(),
            ));
        };
        let transcript = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, lines) = mpsc::channel();
        spawn_reader(stdout, tx.clone(), transcript.clone());
        spawn_reader(stderr, tx, transcript.clone());
        let mut guest = Guest {
            child,
            stdin,
            lines,
            transcript,
            seq: 0,
            link: Some(link),
            accel,
            boot_time: Duration::ZERO,
            kernel_release: kernel.release,
            _dir: dir,
        };
        guest.wait_line(
            |l| l.contains("Linux version"),
            Duration::from_secs(15),
            SIGN_OF_LIFE,
            &mut || {},
        )?;
        guest.wait_line(
            |l| l.contains(READY_MARKER),
            cfg.boot_timeout,
            "the guest shell",
            &mut || {},
        )?;
        guest.boot_time = started.elapsed();
        // The shell is exec'd right after the marker; make sure it reads.
        guest.run("true")?;
        Ok(guest)
    }

    /// Boots a guest, or returns `None` after printing why when a
    /// prerequisite is missing, unless `LINUXVM_REQUIRE=1` (then it panics).
    /// Other errors panic: they are test failures.
    pub fn boot_or_skip(cfg: &GuestConfig) -> Option<Guest> {
        match Guest::boot(cfg) {
            Ok(g) => Some(g),
            Err(Error::Unavailable(why)) if !required() => {
                // Straight to the process's stderr: the test harness captures
                // eprintln!, and a skip must be visible in a passing run.
                let _ = writeln!(std::io::stderr().lock(), "linuxvm: SKIPPED, {why}");
                None
            }
            Err(e) => panic!("linuxvm: booting the guest failed: {e}"),
        }
    }

    /// Takes our end of the guest's Ethernet link (once).
    pub fn take_link(&mut self) -> Option<UdpEthernet> {
        self.link.take()
    }

    /// The acceleration actually used.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// Time from QEMU start to the shell.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// The guest kernel's release string.
    pub fn kernel_release(&self) -> &str {
        &self.kernel_release
    }

    /// Runs `cmd` in the guest shell and returns its output; a non-zero exit
    /// status is an [`Error::CommandFailed`]. Waits up to 60 s.
    pub fn run(&mut self, cmd: &str) -> Result<String, Error> {
        let out = self.exec(cmd, Duration::from_secs(60), &mut || {})?;
        if out.status != 0 {
            return Err(Error::CommandFailed {
                command: cmd.to_string(),
                status: out.status,
                output: out.text,
            });
        }
        Ok(out.text)
    }

    /// Runs `cmd` and returns its status and output, calling `idle` about
    /// every 2 ms while waiting (e.g. to poll a network stack the command
    /// talks to).
    pub fn exec(
        &mut self,
        cmd: &str,
        timeout: Duration,
        idle: &mut dyn FnMut(),
    ) -> Result<Output, Error> {
        self.seq += 1;
        let n = self.seq;
        // The quotes keep the markers out of any echo of the command itself.
        let script = format!("echo '@@LVM''BEGIN {n}'\n{cmd}\necho \"@@LVM\"\"END {n} $?\"\n");
        self.stdin
            .write_all(script.as_bytes())
            .and_then(|_| self.stdin.flush())
            .map_err(|e| Error::io("writing to the guest console", e))?;
        let begin = format!("@@LVMBEGIN {n}");
        let end = format!("@@LVMEND {n} ");
        let deadline = Instant::now() + timeout;
        self.wait_line(
            |l| l.trim_end() == begin,
            timeout,
            &format!("`{cmd}` to start"),
            idle,
        )?;
        let mut text = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.wait_line(|_| true, left, &format!("`{cmd}` to finish"), idle)?;
            if let Some(pos) = line.find(&end) {
                let before = &line[..pos];
                if !before.is_empty() {
                    text.push(before.to_string());
                }
                let status = line[pos + end.len()..].trim().parse().unwrap_or(-1);
                return Ok(Output {
                    status,
                    text: text.join("\n"),
                });
            }
            text.push(line);
        }
    }

    /// Starts `cmd` in the background in the guest (output discarded).
    pub fn spawn(&mut self, cmd: &str) -> Result<(), Error> {
        self.run(&format!("({cmd}) </dev/null >/dev/null 2>&1 &"))
            .map(|_| ())
    }

    fn wait_line(
        &mut self,
        mut pred: impl FnMut(&str) -> bool,
        timeout: Duration,
        what: &str,
        idle: &mut dyn FnMut(),
    ) -> Result<String, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(2)) {
                Ok(line) if pred(&line) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() >= deadline {
                        return Err(Error::Timeout {
                            waiting_for: what.to_string(),
                            console_tail: self.console_tail(),
                        });
                    }
                    idle();
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::GuestExited {
                        console_tail: self.console_tail(),
                    })
                }
            }
        }
    }

    /// The last few KiB of console output, for diagnostics.
    pub fn console_tail(&self) -> String {
        let t = self.transcript.lock().unwrap_or_else(|p| p.into_inner());
        let start = t.len().saturating_sub(4096);
        let bytes: Vec<u8> = t.iter().skip(start).copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_reader(
    mut src: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
    transcript: Arc<Mutex<VecDeque<u8>>>,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut line = Vec::new();
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            {
                let mut t = transcript.lock().unwrap_or_else(|p| p.into_inner());
                t.extend(&buf[..n]);
                while t.len() > TRANSCRIPT_KEEP {
                    t.pop_front();
                }
            }
            for &b in &buf[..n] {
                match b {
                    b'\n' => {
                        let s = String::from_utf8_lossy(&line).into_owned();
                        line.clear();
                        if tx.send(s).is_err() {
                            return;
                        }
                    }
                    b'\r' => {}
                    _ => line.push(b),
                }
            }
        }
        if !line.is_empty() {
            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
        }
    });
}
