//! The host runner behind `vetted run`: starts every PD of a system
//! description as its own Linux process and realises channels and memory
//! regions with shared memory (see the host backend's documentation in the
//! crate README).
//!
//! - Each PD gets a control block (a `memfd` page), each protected-call
//!   direction a call slot, each memory region a `memfd` of its size; a PD
//!   inherits exactly the descriptors its channels and maps need.
//! - PDs start in order of decreasing priority, each in its own process
//!   group, with `PR_SET_PDEATHSIG` so none outlives the runner.
//! - Output lines are prefixed with the PD name.
//! - A PD that exits with status 0 (`microkit::stop()`) has stopped; the run
//!   ends when every active (non-passive) PD has stopped. Any other exit is a
//!   crash, reported by name. A child PD's crash is delivered to its
//!   parent's `fault` entry point (which may answer, and so restart it);
//!   otherwise the system stops or the PD is restarted, per the crash
//!   policy (its memory regions and pending notifications survive).
//! - SIGINT, SIGTERM or SIGHUP kill every PD's process group and end the run.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::string::{String, ToString};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::vec::Vec;
use std::{boxed::Box, format};

use sdf::{ProtectionDomain, SystemDescription};

use crate::backend::config::{MapConfig, PdConfig, ENV_VAR, PAGE};
use crate::backend::sys::{self, Exit, SchedRequest};
use crate::Perms;

/// What to do when a PD crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Stop the whole system (exit status 1).
    Stop,
    /// Restart the PD, at most `max_restarts` times, then stop.
    Restart,
}

/// How PD priorities map onto Linux scheduling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sched {
    /// Everything at the runner's own priority.
    None,
    /// Nice values relative to the runner's: the highest priority in the
    /// system runs at the runner's nice, lower ones up to 19 more,
    /// proportionally (capped at nice 19).
    Nice,
    /// SCHED_FIFO with priority 1 + prio·98/254 where permitted (root or
    /// CAP_SYS_NICE), else as `Nice`.
    Fifo,
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The PD's stdout.
    Stdout,
    /// The PD's stderr.
    Stderr,
    /// A message of the runner itself.
    Runner,
}

/// Receives each output line: PD name (or `vetted`), stream, line.
pub type OutputSink = Arc<dyn Fn(&str, Stream, &str) + Send + Sync>;

/// Builds the command for a PD instead of looking up its image.
pub type ImageOverride = Box<dyn Fn(&ProtectionDomain) -> Command>;

/// Options of a run.
pub struct Options {
    /// Where program images are looked up: `foo.elf` is `<image_dir>/foo`.
    pub image_dir: PathBuf,
    /// What to do on a crash.
    pub on_crash: CrashPolicy,
    /// Restarts allowed per PD under [`CrashPolicy::Restart`].
    pub max_restarts: u32,
    /// Scheduling.
    pub sched: Sched,
    /// Stop the system after this long.
    pub timeout: Option<Duration>,
    /// Builds PD commands (benchmarks run themselves as PDs).
    pub image_override: Option<ImageOverride>,
    /// Output destination; `None` prints `[name] line` to stdout/stderr.
    pub output: Option<OutputSink>,
}

impl Options {
    /// Defaults: images in `image_dir`, stop on crash, 5 restarts, nice.
    pub fn new(image_dir: PathBuf) -> Self {
        Self {
            image_dir,
            on_crash: CrashPolicy::Stop,
            max_restarts: 5,
            sched: Sched::Nice,
            timeout: None,
            image_override: None,
            output: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every active PD stopped cleanly.
    AllStopped,
    /// A PD crashed and the system was stopped.
    Crashed {
        /// PD name.
        pd: String,
        /// How it ended.
        exit: Exit,
    },
    /// A stop signal arrived (SIGINT, SIGTERM, SIGHUP).
    Signalled(i32),
    /// The timeout expired.
    TimedOut,
}

impl Outcome {
    /// Exit status for the `vetted` command.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::AllStopped | Outcome::TimedOut => 0,
            Outcome::Crashed { .. } => 1,
            Outcome::Signalled(s) => 128 + s,
        }
    }
}

/// Why a system could not be started.
#[derive(Debug)]
pub enum RunError {
    /// A program image is not in the image directory.
    MissingImage {
        /// PD name.
        pd: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A name the host cannot pass on (contains a tab or newline).
    BadName(String),
    /// An operating-system call failed.
    Os {
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::MissingImage { pd, path } => write!(
                f,
                "program image of PD '{pd}' not found: {} (build it, or pass --image-dir)",
                path.display()
            ),
            RunError::BadName(n) => write!(f, "name {n:?} contains a tab or newline"),
            RunError::Os { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for RunError {}

fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |err| RunError::Os { what, err }
}

/// Host binary for a PD: the file name of `program_image` without `.elf`,
/// in `image_dir`.
pub fn image_path(pd: &ProtectionDomain, image_dir: &Path) -> PathBuf {
    let file = Path::new(&pd.program_image)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file.strip_suffix(".elf").unwrap_or(&file);
    image_dir.join(stem)
}

/// The per-PD hand-over for `system`, with the memfds it refers to (kept
/// open by the runner for restarts).
struct Plan {
    configs: Vec<PdConfig>,
    fds: Vec<i32>,
}

impl Drop for Plan {
    fn drop(&mut self) {
        for fd in &self.fds {
            sys::close(*fd);
        }
    }
}

fn plan(system: &SystemDescription) -> Result<Plan, RunError> {
    let mut fds = Vec::new();
    let mut mk = |name: &str, size: u64| -> Result<i32, RunError> {
        let fd = sys::memfd(name, size).map_err(os(format!("creating shared memory {name}")))?;
        fds.push(fd);
        Ok(fd)
    };
    let check = |n: &str| {
        if n.contains(['\t', '\n', '\r']) || n.is_empty() {
            Err(RunError::BadName(n.to_string()))
        } else {
            Ok(())
        }
    };
    let mut configs = Vec::new();
    for pd in &system.protection_domains {
        check(&pd.name)?;
        configs.push(PdConfig {
            name: pd.name.clone(),
            passive: pd.passive,
            ctl: mk(&format!("vetted-ctl-{}", pd.name), PAGE as u64)?,
            ..Default::default()
        });
    }
    for (i, ch) in system.channels.iter().enumerate() {
        for (me, other) in [(&ch.end_a, &ch.end_b), (&ch.end_b, &ch.end_a)] {
            let peer_ctl = configs[other.pd].ctl;
            if me.notify {
                configs[me.pd].notify.push((me.id, peer_ctl, other.id));
                configs[other.pd].notify_in.push(other.id);
            }
            if me.pp {
                let slot = mk(&format!("vetted-slot-{i}"), PAGE as u64)?;
                configs[me.pd].ppc.push((me.id, slot, peer_ctl, other.id));
                configs[other.pd].pps.push((other.id, slot));
            }
        }
    }
    let mut mr_fds = Vec::new();
    for mr in &system.memory_regions {
        check(&mr.name)?;
        let fd = mk(&format!("vetted-mr-{}", mr.name), mr.size)?;
        if let Some(prefill) = &mr.prefill {
            let data = std::fs::read(&prefill.resolved).map_err(os(format!(
                "reading prefill of {}",
                prefill.resolved.display()
            )))?;
            let len = data
                .len()
                .min(usize::try_from(mr.size).unwrap_or(usize::MAX));
            // Write without truncating: the memfd already has the region's
            // size, and shrinking it would make reads past the prefill SIGBUS.
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/self/fd/{fd}"))
                .and_then(|mut f| std::io::Write::write_all(&mut f, &data[..len]))
                .map_err(os(format!("prefilling memory region {}", mr.name)))?;
        }
        mr_fds.push(fd);
    }
    for (p, pd) in system.protection_domains.iter().enumerate() {
        if let (Some(parent), Some(id)) = (pd.parent, pd.child_id) {
            configs[parent].children.push(id);
        }
        for irq in &pd.irqs {
            configs[p].irqs.push(irq.id);
        }
        for m in &pd.maps {
            let Some(r) = system.memory_regions.iter().position(|r| r.name == m.mr) else {
                continue; // the validator rejects this; nothing to map
            };
            if let Some(s) = &m.setvar_vaddr {
                check(s)?;
            }
            configs[p].maps.push(MapConfig {
                name: m.mr.clone(),
                symbol: m.setvar_vaddr.clone(),
                fd: mr_fds[r],
                size: system.memory_regions[r].size,
                vaddr: m.vaddr,
                perms: Perms {
                    read: m.perms.read,
                    write: m.perms.write,
                    execute: m.perms.execute,
                },
            });
        }
    }
    Ok(Plan { configs, fds })
}

fn sched_for(pd: &ProtectionDomain, max_prio: u8, sched: Sched) -> SchedRequest {
    let nice = ((i32::from(max_prio) - i32::from(pd.priority)) * 19 + 127) / 254;
    match sched {
        Sched::None => SchedRequest::None,
        Sched::Nice => SchedRequest::Nice(nice),
        Sched::Fifo => SchedRequest::Fifo(1 + i32::from(pd.priority) * 98 / 254, nice),
    }
}

struct Running {
    child: Option<Child>,
    stopped: bool,
    restarts: u32,
    /// Crashed, fault delivered to the parent, waiting for its answer.
    faulted: bool,
}

fn forward(
    src: impl Read + Send + 'static,
    name: String,
    stream: Stream,
    sink: OutputSink,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("out-{name}"))
        .spawn(move || {
            for line in BufReader::new(src).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line);
                sink(&name, stream, text.trim_end_matches('\r'));
            }
        })
}

fn default_sink() -> OutputSink {
    Arc::new(|name, stream, line| {
        if stream == Stream::Stdout {
            let _ = writeln!(std::io::stdout().lock(), "[{name}] {line}");
        } else {
            let _ = writeln!(std::io::stderr().lock(), "[{name}] {line}");
        }
    })
}

/// Runs `system` until it ends (see [`Outcome`]). Returns an error only if
/// it could not be started.
pub fn run(system: &SystemDescription, opts: &Options) -> Result<Outcome, RunError> {
    let sink = opts.output.clone().unwrap_or_else(default_sink);
    let say = |msg: &str| sink("vetted", Stream::Runner, msg);
    let pds = &system.protection_domains;
    if opts.image_override.is_none() {
        for pd in pds {
            let path = image_path(pd, &opts.image_dir);
            if !path.is_file() {
                return Err(RunError::MissingImage {
                    pd: pd.name.clone(),
                    path,
                });
            }
        }
    }
    let plan = plan(system)?;
    // The runner's own view of every control block, to deliver child faults
    // and collect the parents' answers.
    let mut ctls = Vec::new();
    for c in &plan.configs {
        let (p, _) = sys::map_shared(c.ctl, PAGE, sys::prot(true, true, false), None)
            .map_err(os("mapping a control block"))?;
        ctls.push(crate::backend::ctl_at(p.as_ptr() as usize));
    }
    for mr in system
        .memory_regions
        .iter()
        .filter(|m| m.phys_addr.is_some())
    {
        say(&format!(
            "note: memory region '{}' has a phys_addr; on the host it is ordinary shared memory",
            mr.name
        ));
    }
    sys::catch_stop_signals();
    let max_prio = pds.iter().map(|p| p.priority).max().unwrap_or(0);
    let mut order: Vec<usize> = (0..pds.len()).collect();
    order.sort_by_key(|&i| core::cmp::Reverse(pds[i].priority));
    let mut running: Vec<Running> = pds
        .iter()
        .map(|_| Running {
            child: None,
            stopped: false,
            restarts: 0,
            faulted: false,
        })
        .collect();
    let mut threads = Vec::new();

    let spawn = |i: usize, threads: &mut Vec<JoinHandle<()>>| -> Result<Child, RunError> {
        let pd = &pds[i];
        let mut cmd = match &opts.image_override {
            Some(f) => f(pd),
            None => Command::new(image_path(pd, &opts.image_dir)),
        };
        cmd.env(ENV_VAR, plan.configs[i].encode())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        sys::prepare_child(
            &mut cmd,
            plan.configs[i].fds(),
            sched_for(pd, max_prio, opts.sched),
        );
        let mut child = cmd
            .spawn()
            .map_err(os(format!("starting PD '{}'", pd.name)))?;
        if let Some(out) = child.stdout.take() {
            threads.push(
                forward(out, pd.name.clone(), Stream::Stdout, sink.clone())
                    .map_err(os("thread"))?,
            );
        }
        if let Some(err) = child.stderr.take() {
            threads.push(
                forward(err, pd.name.clone(), Stream::Stderr, sink.clone())
                    .map_err(os("thread"))?,
            );
        }
        say(&format!(
            "started '{}' (pid {}, priority {})",
            pd.name,
            child.id(),
            pd.priority
        ));
        Ok(child)
    };

    let stop_all = |running: &mut Vec<Running>| {
        for r in running.iter_mut() {
            if let Some(c) = r.child.take() {
                let pid = c.id() as i32;
                sys::kill_group(pid);
                let _ = sys::reap(pid, true);
            }
        }
    };

    for &i in &order {
        match spawn(i, &mut threads) {
            Ok(c) => running[i].child = Some(c),
            Err(e) => {
                stop_all(&mut running);
                return Err(e);
            }
        }
    }
    let start = Instant::now();
    let outcome = 'watch: loop {
        if let Some(sig) = sys::take_signal() {
            say(&format!(
                "{} received: stopping every PD",
                sys::signal_name(sig)
            ));
            break 'watch Outcome::Signalled(sig);
        }
        if opts.timeout.is_some_and(|t| start.elapsed() >= t) {
            say("timeout: stopping every PD");
            break 'watch Outcome::TimedOut;
        }
        for i in 0..pds.len() {
            let Some(pid) = running[i].child.as_ref().map(|c| c.id() as i32) else {
                continue;
            };
            let Some(exit) = sys::reap(pid, false) else {
                continue;
            };
            running[i].child = None;
            // Anything the PD started goes with it.
            sys::kill_group(pid);
            let name = &pds[i].name;
            match exit {
                Exit::Code(0) => {
                    say(&format!("'{name}' stopped"));
                    running[i].stopped = true;
                }
                _ => {
                    let how = match exit {
                        Exit::Signal(s) => {
                            format!("killed by signal {s} ({})", sys::signal_name(s))
                        }
                        Exit::Code(c) => format!("exited with status {c}"),
                    };
                    say(&format!("PD '{name}' crashed: {how}"));
                    let parent_alive = pds[i].parent.is_some_and(|p| running[p].child.is_some());
                    if let (true, Some(p), Some(id)) =
                        (parent_alive, pds[i].parent, pds[i].child_id)
                    {
                        // Microkit: a child's fault goes to its parent, which
                        // decides (its `fault` entry point).
                        let label = match exit {
                            Exit::Signal(s) => s as u64,
                            Exit::Code(c) => 0x100 + (c as u64 & 0xff),
                        };
                        let ctl = ctls[p];
                        ctl.fault_labels[usize::from(id)].store(label, SeqCst);
                        ctl.faults.fetch_or(1 << id, SeqCst);
                        crate::backend::wake(ctl);
                        running[i].faulted = true;
                        say(&format!(
                            "fault of '{name}' delivered to its parent '{}'",
                            pds[p].name
                        ));
                    } else if opts.on_crash == CrashPolicy::Restart
                        && running[i].restarts < opts.max_restarts
                    {
                        running[i].restarts += 1;
                        say(&format!(
                            "restarting '{name}' (restart {} of {})",
                            running[i].restarts, opts.max_restarts
                        ));
                        match spawn(i, &mut threads) {
                            Ok(c) => running[i].child = Some(c),
                            Err(e) => {
                                say(&e.to_string());
                                break 'watch Outcome::Crashed {
                                    pd: name.clone(),
                                    exit,
                                };
                            }
                        }
                    } else {
                        break 'watch Outcome::Crashed {
                            pd: name.clone(),
                            exit,
                        };
                    }
                }
            }
        }
        // Parents that handled a child's fault: restart the child if they
        // answered, else it stays stopped.
        for p in 0..pds.len() {
            let handled = ctls[p].fault_handled.swap(0, SeqCst);
            if handled == 0 {
                continue;
            }
            let replies = ctls[p].fault_replies.swap(0, SeqCst);
            for c in 0..pds.len() {
                let Some(id) = pds[c].child_id.filter(|_| pds[c].parent == Some(p)) else {
                    continue;
                };
                if handled & (1 << id) == 0 || !running[c].faulted || running[c].child.is_some() {
                    continue;
                }
                running[c].faulted = false;
                if replies & (1 << id) == 0 {
                    running[c].stopped = true;
                    say(&format!(
                        "'{}' stays stopped: its parent '{}' did not answer its fault",
                        pds[c].name, pds[p].name
                    ));
                    continue;
                }
                say(&format!(
                    "restarting '{}' as its parent '{}' answered its fault",
                    pds[c].name, pds[p].name
                ));
                match spawn(c, &mut threads) {
                    Ok(child) => running[c].child = Some(child),
                    Err(e) => {
                        say(&e.to_string());
                        break 'watch Outcome::Crashed {
                            pd: pds[c].name.clone(),
                            exit: Exit::Code(127),
                        };
                    }
                }
            }
        }
        let active_left = pds
            .iter()
            .zip(&running)
            .any(|(pd, r)| !pd.passive && !r.stopped);
        if !active_left || running.iter().all(|r| r.child.is_none()) {
            break 'watch Outcome::AllStopped;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    stop_all(&mut running);
    for t in threads {
        let _ = t.join();
    }
    match &outcome {
        Outcome::AllStopped => say("every active PD stopped: system done"),
        Outcome::Crashed { pd, .. } => say(&format!("system stopped because '{pd}' crashed")),
        _ => {}
    }
    Ok(outcome)
}
