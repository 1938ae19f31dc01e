//! End-to-end tests of whole systems (two nodes on the host backend, C
//! programs linking secsock); the tests live in `tests/tests/` and this
//! library holds what they share: finding the built PD binaries, starting
//! a node with `vetted run` on an Ethernet-over-UDP link, reading its
//! output, stopping it.
//!
//! The tests need release builds of the PD binaries and the demo bundles;
//! `bash ci/demo.sh test` makes them and runs the tests with `E2E_BIN_DIR`
//! set. Without `E2E_BIN_DIR` the tests print why and skip (with
//! `E2E_REQUIRE=1` they fail instead).
#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binaries a node needs (program images and the runner).
pub const NODE_BINARIES: [&str; 6] = [
    "vetted",
    "netserver",
    "trust",
    "policyrepo",
    "demo-client",
    "demo-echo",
];

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where the demo bundles are (`policies/demo/rebuild.sh bundles`).
pub fn demo_dir() -> PathBuf {
    std::env::var_os("E2E_DEMO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/demo"))
}

/// The directory of built binaries, or `None` (the caller skips) with the
/// reason printed. `E2E_REQUIRE=1` turns a skip into a failure.
pub fn bin_dir(extra: &[&str]) -> Option<PathBuf> {
    let why = match std::env::var_os("E2E_BIN_DIR") {
        None => "E2E_BIN_DIR is not set (run `bash ci/demo.sh test`)".to_string(),
        Some(d) => {
            let d = PathBuf::from(d);
            let missing: Vec<&str> = NODE_BINARIES
                .iter()
                .chain(extra)
                .copied()
                .filter(|b| !d.join(b).is_file())
                .collect();
            let bundles = ["node-a.bundle", "node-b.bundle", "admin.pub"];
            let no_bundle: Vec<&str> = bundles
                .into_iter()
                .filter(|b| !demo_dir().join(b).is_file())
                .collect();
            if missing.is_empty() && no_bundle.is_empty() {
                return Some(d);
            }
            format!(
                "missing binaries {missing:?} in {}, bundles {no_bundle:?}",
                d.display()
            )
        }
    };
    if std::env::var("E2E_REQUIRE").as_deref() == Ok("1") {
        panic!("end-to-end test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// Two free UDP ports on 127.0.0.1.
pub fn free_ports() -> (u16, u16) {
    let a = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let b = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let pa = a.local_addr().expect("addr").port();
    let pb = b.local_addr().expect("addr").port();
    (pa, pb)
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new empty directory under the system temp dir.
    pub fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vetted-e2e-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `system/<name>.system` into `dir` with the program images of the
/// given PDs replaced (`(pd, image)`: `image` without `.elf`), and an image
/// directory of symlinks to `bins` plus `extra` files. Returns (system file,
/// image dir).
pub fn prepare(
    dir: &Path,
    name: &str,
    bins: &Path,
    replace: &[(&str, &str)],
    extra: &[(&str, &Path)],
) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(root().join("system").join(format!("{name}.system")))
        .expect("system file");
    let mut out = String::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("<protection_domain name=\"") {
            current = rest.split('"').next().map(String::from);
        }
        let mut l = line.to_string();
        if t.starts_with("<program_image") {
            if let Some((_, img)) = replace
                .iter()
                .find(|(pd, _)| Some(*pd) == current.as_deref())
            {
                let indent = &line[..line.len() - t.len()];
                l = format!("{indent}<program_image path=\"{img}.elf\" />");
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    let sys = dir.join(format!("{name}.system"));
    std::fs::write(&sys, out).expect("write system");
    let images = dir.join(format!("{name}-images"));
    std::fs::create_dir_all(&images).expect("image dir");
    for b in NODE_BINARIES.iter().copied().chain(["e2e-app"]) {
        let src = bins.join(b);
        if src.is_file() {
            let _ = std::os::unix::fs::symlink(&src, images.join(b));
        }
    }
    for (n, p) in extra {
        let _ = std::os::unix::fs::symlink(p, images.join(n));
    }
    (sys, images)
}

/// A running node: `vetted run` as a child process, its output collected.
pub struct Node {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// A name for messages.
    pub name: String,
}

impl Node {
    /// Starts `vetted run SYSTEM` with the demo bundles on the search path,
    /// the NIC `udp:local:remote` and extra environment; `node` names it in
    /// messages (the node's own name comes from its policy bundle).
    pub fn start(
        bins: &Path,
        system: &Path,
        images: &Path,
        node: &str,
        nic: (u16, u16),
        env: &[(&str, String)],
        args: &[&str],
    ) -> Node {
        let mut c = Command::new(bins.join("vetted"));
        c.arg("run")
            .arg(system)
            .arg("--image-dir")
            .arg(images)
            .arg("--search-path")
            .arg(demo_dir())
            .args(["--sched", "none", "--timeout", "480"])
            .args(args)
            .env("VETTED_NIC", format!("udp:{}:{}", nic.0, nic.1))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("start vetted run");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = lines.clone();
            let tag = node.to_string();
            std::thread::spawn(move || {
                for l in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("  {tag} {l}");
                    if let Ok(mut v) = sink.lock() {
                        v.push(l);
                    }
                }
            });
        }
        Node {
            child,
            lines,
            name: node.to_string(),
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Waits until `count` lines satisfy `pred`, at most `timeout`; returns
    /// whether they did.
    pub fn wait_for(&self, timeout: Duration, count: usize, pred: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.lines().iter().filter(|l| pred(l)).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The pid of a PD, from the runner's "started 'pd' (pid N)" line.
    pub fn pid_of(&self, pd: &str) -> Option<i32> {
        let prefix = format!("started '{pd}' (pid ");
        self.lines().iter().rev().find_map(|l| {
            let i = l.find(&prefix)?;
            let rest = &l[i + prefix.len()..];
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
    }

    /// Stops the node (SIGTERM to the runner, which stops every PD; SIGKILL
    /// after 5 s).
    pub fn stop(&mut self) {
        signal(self.child.id() as i32, libc::SIGTERM);
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Sends `sig` to a process this test started (directly or through its
/// runner).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is one of
    // this test's own processes.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, sig);
    }
}

/// `CHECK name ok|FAIL ...` lines of a PD: (name, passed, line).
pub fn checks(lines: &[String], pd: &str) -> Vec<(String, bool, String)> {
    let prefix = format!("[{pd}] CHECK ");
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (name, verdict) = rest.split_once(' ')?;
            Some((name.to_string(), verdict.starts_with("ok"), l.clone()))
        })
        .collect()
}

/// Node B (echo) and node A started on a fresh link; node A's system with
/// the given replacements; waits for the echo to listen first.
pub struct Pair {
    /// Node B.
    pub b: Node,
    /// Node A.
    pub a: Node,
    _scratch: Scratch,
}

impl Pair {
    /// Starts both nodes (node A's runner with `args_a` added); panics when
    /// node B does not come up (its output is in the message).
    pub fn start(
        bins: &Path,
        tag: &str,
        replace_a: &[(&str, &str)],
        extra_a: &[(&str, &Path)],
        env_a: &[(&str, String)],
        args_a: &[&str],
    ) -> Pair {
        let scratch = Scratch::new(tag);
        let (pa, pb) = free_ports();
        let (sys_b, img_b) = prepare(&scratch.0, "node-b", bins, &[], &[]);
        let b = Node::start(bins, &sys_b, &img_b, "node-b", (pb, pa), &[], &[]);
        assert!(
            b.wait_for(Duration::from_secs(30), 1, |l| l
                .starts_with("[echo] echo: listening")),
            "node B did not come up: {:#?}",
            b.lines()
        );
        let (sys_a, img_a) = prepare(&scratch.0, "node-a", bins, replace_a, extra_a);
        let a = Node::start(bins, &sys_a, &img_a, "node-a", (pa, pb), env_a, args_a);
        Pair {
            b,
            a,
            _scratch: scratch,
        }
    }
}
