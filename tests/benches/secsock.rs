//! Benchmarks of the whole connection path, through every PD (app →
//! secsock → netserver → trust → policyrepo, two nodes over the UDP link):
//!
//! - `Sec_connect` latency, credential cold (first connection of a fresh
//!   node) and warm (median), TCP to the echo service;
//! - the vetting cost per new flow: a UDP round trip whose `Sec_sendto` is
//!   vetted (first datagram of a flow) against one on an already vetted flow
//!   (same stack, same ESP, no vetting) — the baseline of the same run;
//! - ESP echo throughput (32 KiB out and back, repeated).
//!
//! Needs the release binaries and bundles (`bash ci/demo.sh bench` builds
//! them and sets `E2E_BIN_DIR`). Core-level figures without PDs (plain vs
//! vetted connect, bypass vs ESP bulk) are in `components/netserver/benches`.

use e2e::{bin_dir, root, Pair, Scratch};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The plain key of a `kn keygen` public key file.
fn plain_key(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .chars()
        .filter(|c| !matches!(c, ' ' | '"' | '\\' | '\n'))
        .collect()
}

/// `n` client credentials never seen before (each with its own comment),
/// signed by the demo authority key with `kn sign`: the trust PD verifies
/// and compiles each one cold. Public text only; written to one file
/// separated by `%%` lines. `None` if `kn` is missing or fails.
fn fresh_credentials(kn: &Path, dir: &Path, n: usize) -> Option<std::path::PathBuf> {
    let demo = root().join("policies/demo");
    let template = std::fs::read_to_string(demo.join("templates/client.cred")).ok()?;
    let authority = plain_key(&demo.join("keys/authority.pub"));
    let client = plain_key(&demo.join("keys/client.pub"));
    let mut all = String::new();
    for i in 0..n {
        let body: String = template
            .lines()
            .skip(1) // "# signer: authority"
            .map(|l| {
                let l = l
                    .replace("@authority@", &authority)
                    .replace("@client@", &client);
                if l.starts_with("Comment:") {
                    format!("Comment: bench credential {i} {}", std::process::id())
                } else if l.starts_with("  over UDP") {
                    String::from("  over UDP.")
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        let f = dir.join(format!("bench-{i}.cred"));
        std::fs::write(&f, &body).ok()?;
        let out = Command::new(kn)
            .arg("sign")
            .arg("sig-ed25519-hex:")
            .arg(&f)
            .arg(demo.join("keys/authority.priv"))
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!("kn sign: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        all.push_str(&body);
        all.push_str(&String::from_utf8_lossy(&out.stdout));
        all.push_str("%%\n");
    }
    let path = dir.join("fresh.creds");
    std::fs::write(&path, all).ok()?;
    Some(path)
}

fn main() {
    let Some(bins) = bin_dir(&["e2e-app"]) else {
        return;
    };
    let n = std::env::var("BENCH_N").unwrap_or_else(|_| "100".into());
    let scratch = Scratch::new("bench-creds");
    let mut env = vec![
        ("VETTED_E2E_SCENARIO", "bench".to_string()),
        ("VETTED_E2E_BENCH_N", n.clone()),
    ];
    match fresh_credentials(&bins.join("kn"), &scratch.0, 30) {
        Some(p) => env.push(("VETTED_E2E_FRESH_CREDS", p.display().to_string())),
        None => eprintln!("no fresh credentials (kn missing?): no cold-credential figure"),
    }
    let mut pair = Pair::start(&bins, "bench", &[("client", "e2e-app")], &[], &env, &[]);
    let done = pair
        .a
        .wait_for(Duration::from_secs(300), 1, |l| l.ends_with("E2E DONE"));
    pair.a.stop();
    pair.b.stop();
    let lines = pair.a.lines();
    if !done {
        eprintln!("bench did not finish: {lines:#?}");
        std::process::exit(1);
    }
    let fig = |k: &str| -> Option<f64> {
        let p = format!("[client] BENCH {k} ");
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&p)?.trim().parse().ok())
    };
    println!("secsock end to end (host backend, two nodes, N = {n})");
    if let (Some(c), Some(w)) = (fig("connect_cold_us"), fig("connect_warm_us")) {
        println!(
            "  Sec_connect first of the node        {c:>9.0} us (cold credential and neighbour)"
        );
        println!("  Sec_connect credential warm          {w:>9.0} us (median, baseline)");
        println!(
            "  first / warm                         {:>9.2}x",
            c / w.max(1.0)
        );
        if let Some(k) = fig("connect_cold_cred_us") {
            println!("  Sec_connect credential cold          {k:>9.0} us (median; a never-seen signed credential each)");
            println!(
                "  credential cold / warm               {:>9.2}x",
                k / w.max(1.0)
            );
        }
    }
    if let (Some(v), Some(p)) = (fig("udp_rtt_vetted_us"), fig("udp_rtt_plain_us")) {
        println!("  UDP round trip, vetted sendto        {v:>9.0} us (median)");
        println!("  UDP round trip, flow already vetted  {p:>9.0} us (median, baseline)");
        println!(
            "  vetted / baseline                    {:>9.2}x (vetting costs {:.0} us per new flow)",
            v / p.max(1.0),
            v - p
        );
    }
    if let Some(t) = fig("esp_echo_mbit_s") {
        println!("  ESP echo throughput (TCP, both ways) {t:>9.1} Mbit/s");
    }
}
