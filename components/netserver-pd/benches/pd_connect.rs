//! Sec_connect latency through the full PD path on the host backend: the
//! `client` PD calls the real `netserver` PD (ipc::rpc over the runtime),
//! which asks the test trust PD, opens the connection over ESP on a UDP
//! link on loopback to node B (a netserver core in this process), and
//! notifies the client when it is established. Baseline in the same run:
//! the same path at level bypass (`plain` app: vetting, no ESP).
//! `BENCH_CONNECTS` connects each (default 200).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{run_node_a, with_node_b};

fn figure(text: &str, who: &str) -> Option<(f64, f64)> {
    let line = text
        .lines()
        .find(|l| l.contains(&format!("bench {who}:")))?;
    let mut it = line.split_whitespace();
    let med = it
        .clone()
        .skip_while(|w| *w != "median")
        .nth(1)?
        .parse()
        .ok()?;
    let mean = it
        .by_ref()
        .skip_while(|w| *w != "mean")
        .nth(1)?
        .parse()
        .ok()?;
    Some((med, mean))
}

fn main() {
    let n = std::env::var("BENCH_CONNECTS").unwrap_or_else(|_| "200".into());
    let (outcome, text) = with_node_b(|pa, pb| run_node_a(pa, pb, Some(&n)));
    let (Some(esp), Some(plain)) = (figure(&text, "client"), figure(&text, "plain")) else {
        eprintln!("bench output incomplete ({outcome:?}):\n{text}");
        std::process::exit(1);
    };
    println!("Sec_connect through the netserver PD (host backend, UDP link on loopback), {n} connects each:");
    println!(
        "  {:<44} median {:8.1} µs  mean {:8.1} µs  ratio 1.00",
        "level bypass, no ESP (baseline)", plain.0, plain.1
    );
    println!(
        "  {:<44} median {:8.1} µs  mean {:8.1} µs  ratio {:.2}",
        "level require, ESP",
        esp.0,
        esp.1,
        esp.0 / plain.0
    );
}
