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

use e2e::{bin_dir, Pair};
use std::time::Duration;

fn main() {
    let Some(bins) = bin_dir(&["e2e-app"]) else {
        return;
    };
    let n = std::env::var("BENCH_N").unwrap_or_else(|_| "100".into());
    let env = [
        ("VETTED_E2E_SCENARIO", "bench".to_string()),
        ("VETTED_E2E_BENCH_N", n.clone()),
    ];
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
        println!("  Sec_connect (TCP, vetted, ESP) cold  {c:>9.0} us (first of the node)");
        println!("  Sec_connect (TCP, vetted, ESP) warm  {w:>9.0} us (median)");
        println!(
            "  cold / warm                          {:>9.2}x",
            c / w.max(1.0)
        );
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
