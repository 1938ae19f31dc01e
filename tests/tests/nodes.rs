//! Two demo nodes (system/node-a.system, system/node-b.system) on an
//! Ethernet-over-UDP link on 127.0.0.1, every PD a process started by the
//! real runner: the demo, every Sec_* call, a C program, isolation, the
//! floor, keys, a hung trust PD, connect/close cycles. Each test is bounded
//! (waits of at most a few minutes, nodes stopped on every path).

use e2e::{bin_dir, checks, root, signal, Pair, Scratch};
use std::path::Path;
use std::time::Duration;

const APP_DONE: &str = "E2E DONE";

/// Runs `scenario` with e2e-app as the given node A PDs; returns node A's
/// lines once each of them printed `E2E DONE` (or the time ran out).
fn scenario(
    tag: &str,
    pds: &[&str],
    env: &[(&str, String)],
    limit: Duration,
) -> Option<Vec<String>> {
    let bins = bin_dir(&["e2e-app"])?;
    let replace: Vec<(&str, &str)> = pds.iter().map(|p| (*p, "e2e-app")).collect();
    let mut env = env.to_vec();
    env.push(("VETTED_E2E_SCENARIO", tag.to_string()));
    let mut pair = Pair::start(&bins, tag, &replace, &[], &env, &[]);
    let done = pair.a.wait_for(limit, pds.len(), |l| l.ends_with(APP_DONE));
    pair.a.stop();
    pair.b.stop();
    let lines = pair.a.lines();
    assert!(done, "{tag}: not every app finished in {limit:?}");
    Some(lines)
}

fn assert_checks(lines: &[String], pd: &str, expected: &[&str]) {
    let got = checks(lines, pd);
    let failed: Vec<&String> = got.iter().filter(|c| !c.1).map(|c| &c.2).collect();
    assert!(failed.is_empty(), "[{pd}] failed checks: {failed:#?}");
    for name in expected {
        assert!(
            got.iter().any(|c| c.0 == *name),
            "[{pd}] check {name} did not run; lines: {lines:#?}"
        );
    }
}

#[test]
fn demo_client_echo_and_refusals() {
    let Some(bins) = bin_dir(&[]) else { return };
    let mut pair = Pair::start(&bins, "demo", &[], &[], &[], &[]);
    let done = pair
        .a
        .wait_for(Duration::from_secs(90), 3, |l| l.contains("] RESULT: "));
    pair.a.stop();
    pair.b.stop();
    let a = pair.a.lines();
    let b = pair.b.lines();
    assert!(done, "node A apps did not all report: {a:#?}");
    assert!(
        a.contains(&"[client] RESULT: echo ok".to_string()),
        "{a:#?}"
    );
    assert!(
        a.contains(&"[intruder] RESULT: refused as expected".to_string()),
        "{a:#?}"
    );
    assert!(
        a.contains(&"[lowball] RESULT: refused as expected".to_string()),
        "{a:#?}"
    );
    // The intruder's reason names the failing credential; the lowball's the floor.
    assert!(
        a.iter()
            .any(|l| l.starts_with("[intruder] Sec_connect refused") && l.contains("credential")),
        "{a:#?}"
    );
    assert!(
        a.iter()
            .any(|l| l.starts_with("[lowball] Sec_connect refused") && l.contains("floor")),
        "{a:#?}"
    );
    // Node B bound, accepted and saw ESP-protected data from node A's key.
    for want in [
        "[echo] Sec_bind tcp",
        "[echo] Sec_bind udp",
        "[echo] accepted TCP from 192.0.2.1",
    ] {
        assert!(b.iter().any(|l| l.starts_with(want)), "{want}: {b:#?}");
    }
    assert!(
        b.iter()
            .any(|l| l.starts_with("[echo] TCP ") && l.contains("ESP ")),
        "{b:#?}"
    );
    assert!(
        b.iter()
            .any(|l| l.starts_with("[echo] UDP ") && l.contains("ESP ")),
        "{b:#?}"
    );
}

#[test]
fn every_sec_call_between_the_nodes() {
    let Some(lines) = scenario("calls", &["client"], &[], Duration::from_secs(120)) else {
        return;
    };
    assert_checks(
        &lines,
        "client",
        &[
            "connect",
            "getsockopt",
            "setsockopt-raise",
            "send-recv",
            "getremoteKey",
            "getremoteCredentials",
            "bulk",
            "close",
            "close-twice",
            "recvfrom-nonblocking",
            "sendto-recvfrom",
            "recv-timeout",
            "bind-refused",
            "replay-refused",
        ],
    );
}

#[test]
fn no_application_lowers_its_floor() {
    let Some(lines) = scenario(
        "floor",
        &["client", "lowball"],
        &[],
        Duration::from_secs(120),
    ) else {
        return;
    };
    for pd in ["client", "lowball"] {
        assert_checks(
            &lines,
            pd,
            &[
                "floor-level-use",
                "floor-level-bypass",
                "floor-service-auth",
                "floor-algorithm-gmac",
                "floor-setsockopt-lower",
            ],
        );
    }
}

#[test]
fn applications_cannot_use_each_others_sockets_or_ports() {
    let Some(lines) = scenario(
        "isolation",
        &["client", "intruder"],
        &[],
        Duration::from_secs(120),
    ) else {
        return;
    };
    assert_checks(&lines, "client", &["isolation-still-works"]);
    assert_checks(
        &lines,
        "intruder",
        &[
            "isolation-foreign-sockets",
            "isolation-foreign-ports",
            "intruder-refused",
        ],
    );
}

/// Every private key of the demo and every hand-keyed SA key, in hex.
fn secrets() -> Vec<String> {
    let mut out = Vec::new();
    let demo = root().join("policies/demo");
    for f in std::fs::read_dir(demo.join("keys"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if f.path().extension().is_some_and(|e| e == "priv") {
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            // The key's hex digits (kn keygen: "ed25519-hex:..." possibly split over lines).
            let hex: String = text
                .split(':')
                .nth(1)
                .unwrap_or("")
                .chars()
                .filter(char::is_ascii_hexdigit)
                .collect();
            if hex.len() >= 64 {
                out.push(hex);
            }
        }
    }
    for node in ["node-a.toml", "node-b.toml"] {
        let text = std::fs::read_to_string(demo.join(node)).unwrap_or_default();
        for l in text.lines() {
            if let Some(v) = l.trim().strip_prefix("key = \"") {
                out.push(v.split('"').next().unwrap_or("").to_string());
            }
        }
    }
    out
}

#[test]
fn applications_never_see_a_key() {
    let s = secrets();
    assert!(s.len() >= 10, "found the demo secrets: {}", s.len());
    // The application images hold no secret.
    if let Some(bins) = bin_dir(&["e2e-app"]) {
        for app in ["demo-client", "demo-echo", "e2e-app"] {
            let image = std::fs::read(bins.join(app)).expect("image");
            for h in &s {
                let raw: Vec<u8> = (0..h.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
                    .collect();
                assert!(
                    !image.windows(h.len()).any(|w| w == h.as_bytes()),
                    "{app} holds {}",
                    &h[..16]
                );
                assert!(
                    !image.windows(raw.len()).any(|w| w == raw),
                    "{app} holds raw {}",
                    &h[..16]
                );
            }
        }
    }
    let env = [("VETTED_E2E_SECRETS", s.join(","))];
    let Some(lines) = scenario("keys", &["client"], &env, Duration::from_secs(120)) else {
        return;
    };
    assert_checks(
        &lines,
        "client",
        &["no-key-in-app", "getremoteKey", "send-recv"],
    );
}

#[test]
fn a_hung_trust_pd_means_denial_not_a_hang() {
    let Some(bins) = bin_dir(&["e2e-app"]) else {
        return;
    };
    let env = [("VETTED_E2E_SCENARIO", "trust-hung".to_string())];
    let mut pair = Pair::start(
        &bins,
        "trust-hung",
        &[("client", "e2e-app")],
        &[],
        &env,
        &[],
    );
    let ready = pair
        .a
        .wait_for(Duration::from_secs(60), 1, |l| l == "[client] READY");
    let pid = pair.a.pid_of("trust");
    if let (true, Some(pid)) = (ready, pid) {
        signal(pid, libc::SIGSTOP);
    }
    let done = pair
        .a
        .wait_for(Duration::from_secs(60), 1, |l| l.ends_with(APP_DONE));
    if let Some(pid) = pid {
        signal(pid, libc::SIGCONT);
    }
    pair.a.stop();
    pair.b.stop();
    let lines = pair.a.lines();
    assert!(
        ready && pid.is_some(),
        "client not ready or no trust pid: {lines:#?}"
    );
    assert!(done, "the application hung: {lines:#?}");
    assert_checks(&lines, "client", &["trust-hung-denied"]);
}

/// The trust PD is killed (SIGKILL) while the node runs with
/// `--on-crash restart`: every connect around the crash returns, refused
/// (fail closed) or, once trust is back, allowed; none hangs.
#[test]
fn a_crashed_trust_pd_never_hangs_the_application() {
    let Some(bins) = bin_dir(&["e2e-app"]) else {
        return;
    };
    let env = [("VETTED_E2E_SCENARIO", "trust-killed".to_string())];
    let mut pair = Pair::start(
        &bins,
        "trust-killed",
        &[("client", "e2e-app")],
        &[],
        &env,
        &["--on-crash", "restart", "--max-restarts", "3"],
    );
    let ready = pair
        .a
        .wait_for(Duration::from_secs(60), 1, |l| l == "[client] READY");
    let pid = pair.a.pid_of("trust");
    if let (true, Some(pid)) = (ready, pid) {
        signal(pid, libc::SIGKILL);
    }
    let done = pair
        .a
        .wait_for(Duration::from_secs(60), 1, |l| l.ends_with(APP_DONE));
    pair.a.stop();
    pair.b.stop();
    let lines = pair.a.lines();
    assert!(
        ready && pid.is_some(),
        "client not ready or no trust pid: {lines:#?}"
    );
    assert!(done, "the application hung: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("'trust'") && l.contains("restart")),
        "the runner did not see trust crash: {lines:#?}"
    );
    assert_checks(&lines, "client", &["trust-killed-bounded"]);
}

#[test]
fn connect_close_cycles_leave_nothing_behind() {
    // 10,000 cycles at 100 per second (~100 s): the network server's replay
    // guard holds 4096 nonces for ~31 s and refuses beyond that (as "replayed").
    let n = std::env::var("E2E_CYCLES").unwrap_or_else(|_| "10000".into());
    let rate = std::env::var("E2E_CYCLE_RATE").unwrap_or_else(|_| "100".into());
    let env = [("VETTED_E2E_CYCLES", n), ("VETTED_E2E_RATE", rate)];
    let Some(lines) = scenario("cycles", &["client"], &env, Duration::from_secs(400)) else {
        return;
    };
    assert_checks(
        &lines,
        "client",
        &["cycles", "cycles-socket-quota", "cycles-then-connect"],
    );
}

/// Compiles tests/c/secsock_client.c against secsock.h and the static
/// library, runs it as node A's `client` PD.
#[test]
fn c_program_linking_the_static_library() {
    let Some(bins) = bin_dir(&["libsecsock.a"]) else {
        return;
    };
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if std::process::Command::new(&cc)
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("E2E_REQUIRE").as_deref() == Ok("1") {
            panic!("no C compiler ({cc})");
        }
        eprintln!("skipped: no C compiler ({cc}); `bash ci/demo.sh packages` lists gcc");
        return;
    }
    let scratch = Scratch::new("cc");
    let exe = scratch.0.join("c-client");
    let r = root();
    let out = std::process::Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg("-I")
        .arg(r.join("components/secsock/include"))
        .arg(format!(
            "-DCRED_FILE=\"{}\"",
            r.join("policies/demo/credentials/client.cred").display()
        ))
        .arg(r.join("tests/c/secsock_client.c"))
        .arg(bins.join("libsecsock.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The header is also C++-safe (extern "C", no C-only syntax).
    let cxx_src = scratch.0.join("header.cc");
    std::fs::write(
        &cxx_src,
        "#include \"secsock.h\"\nint f(void) { struct sec_context c; return sec_context_init(&c) + Sec_close(0); }\n",
    )
    .expect("write");
    match std::process::Command::new("c++")
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(r.join("components/secsock/include"))
        .arg(&cxx_src)
        .output()
    {
        Ok(o) => assert!(
            o.status.success(),
            "secsock.h as C++: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => eprintln!("no c++: the header's C++ check is skipped"),
    }
    let mut pair = Pair::start(
        &bins,
        "c",
        &[("client", "c-client")],
        &[("c-client", Path::new(&exe))],
        &[],
        &[],
    );
    let done = pair.a.wait_for(Duration::from_secs(90), 1, |l| {
        l.starts_with("[client] C RESULT:")
    });
    pair.a.stop();
    pair.b.stop();
    let lines = pair.a.lines();
    assert!(done, "the C program did not finish: {lines:#?}");
    assert!(
        lines.contains(&"[client] C RESULT: ok".to_string()),
        "{lines:#?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("[client] C: TCP echo: hello from C")));
}
