//! `VETTED_NIC=tap:IFNAME` end to end: node A's real `netserver` PD (with
//! the test PDs, as in tests/pd.rs) runs inside a private network namespace
//! on a TAP device; the kernel side of the TAP (192.0.2.254/24, a
//! documentation range, nothing leaves the namespace) pings 192.0.2.1 and
//! must learn our stack's MAC by ARP: a request went out through the TAP to
//! smoltcp and its reply came back.
//!
//! Needs root, `/dev/net/tun` and `ip netns`; otherwise it prints why and
//! skips, unless `NETSERVER_TAP_REQUIRE=1` (then it fails).

mod common;

use common::SYSTEM;
use microkit::runner::{self, Options, Stream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NETSERVER: &str = env!("CARGO_BIN_EXE_netserver");
const TESTPD: &str = env!("CARGO_BIN_EXE_netserver-testpd");
const TAP: &str = "vtap0";

/// Deletes the namespace (after killing whatever still runs in it) when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(o) = Command::new("ip").args(["netns", "pids", &self.0]).output() {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    let o = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Skips (prints the reason) or, with `NETSERVER_TAP_REQUIRE=1`, fails.
fn skip(why: &str) {
    if std::env::var("NETSERVER_TAP_REQUIRE").as_deref() == Ok("1") {
        panic!("NETSERVER_TAP_REQUIRE=1 but the TAP test cannot run: {why}");
    }
    eprintln!("skipping the TAP test: {why}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn frames_flow_both_ways_through_a_tap_device() {
    if !is_root() {
        return skip("not root (needs CAP_NET_ADMIN for netns and TAP)");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return skip("/dev/net/tun is missing");
    }
    let ns = format!("vetted-tap-{}", std::process::id());
    if let Err(e) = ip(&["netns", "add", &ns]) {
        return skip(&format!("`ip netns` unavailable: {e}"));
    }
    let guard = Netns(ns.clone());
    let setup = [
        vec!["-n", &ns, "link", "set", "lo", "up"],
        vec!["-n", &ns, "tuntap", "add", "dev", TAP, "mode", "tap"],
        vec!["-n", &ns, "addr", "add", "192.0.2.254/24", "dev", TAP],
        vec!["-n", &ns, "link", "set", TAP, "up"],
    ];
    for args in &setup {
        if let Err(e) = ip(args) {
            return skip(&format!("cannot set up the TAP device: {e}"));
        }
    }

    // Node A under the runner; only the netserver enters the namespace.
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    let ns2 = ns.clone();
    let run = std::thread::spawn(move || {
        let sd = sdf::parse(SYSTEM, "tap-test.system", &sdf::Config::default()).expect("parses");
        let dir = std::path::Path::new(TESTPD).parent().unwrap().to_path_buf();
        let mut opts = Options::new(dir);
        opts.timeout = Some(Duration::from_secs(15));
        opts.image_override = Some(Box::new(move |pd| {
            let mut c = if pd.name == "netserver" {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns2, NETSERVER]);
                c
            } else {
                Command::new(TESTPD)
            };
            c.env("VETTED_NIC", format!("tap:{TAP}"));
            c
        }));
        opts.output = Some(Arc::new(move |pd: &str, s: Stream, line: &str| {
            let who = if s == Stream::Runner { "runner" } else { pd };
            o.lock().unwrap().push_str(&format!("[{who}] {line}\n"));
        }));
        runner::run(&sd, &opts).map(|_| ())
    });

    let t0 = Instant::now();
    while !out.lock().unwrap().contains("netserver: up") {
        assert!(
            t0.elapsed() < Duration::from_secs(20) && !run.is_finished(),
            "the netserver did not come up:\n{}",
            out.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Kernel -> TAP -> smoltcp (ARP request, then ICMP or a UDP datagram)
    // and back (ARP reply). The datagram itself may be discarded by node
    // A's IPsec policy: only the ARP exchange is asserted. `ping` when it
    // is installed, else python3 sends one UDP datagram.
    let has_ping = Command::new("ping").arg("-V").output().is_ok();
    let mut poke = Command::new("ip");
    poke.args(["netns", "exec", &ns]);
    if has_ping {
        poke.args(["ping", "-c", "2", "-W", "1", "192.0.2.1"]);
    } else {
        poke.args([
            "python3",
            "-c",
            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'tap', ('192.0.2.1', 9))",
        ]);
    }
    let ping = match poke.stdin(Stdio::null()).output() {
        Ok(p) => p,
        Err(e) => return skip(&format!("neither ping nor python3 runs: {e}")),
    };
    let mut neigh = String::new();
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(5) {
        neigh = ip(&["-n", &ns, "neigh", "show", "192.0.2.1"]).expect("neigh show");
        if neigh.contains("lladdr") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = ip(&["-n", &ns, "-s", "link", "show", TAP]).unwrap_or_default();
    let text = out.lock().unwrap().clone();
    let ctx = format!(
        "poke ({}): {}{}\nneigh: {neigh}\nlink: {stats}\nnode A:\n{text}",
        if has_ping { "ping" } else { "python3" },
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );
    assert!(
        neigh.contains("lladdr 02:00:00:00:00:01"),
        "ARP did not resolve our MAC\n{ctx}"
    );
    assert!(
        ["REACHABLE", "STALE", "DELAY", "PROBE"]
            .iter()
            .any(|s| neigh.contains(s)),
        "neighbour entry not valid\n{ctx}"
    );
    assert!(
        !neigh.contains("FAILED") && !neigh.contains("INCOMPLETE"),
        "neighbour entry failed\n{ctx}"
    );
    eprintln!("TAP: {}", neigh.trim());

    // Stop node A now (the guard kills the netserver in the namespace);
    // the runner then ends on its own.
    drop(guard);
    let _ = run.join();
}
