//! Host-backend latency benchmarks, each against a Unix-socket ping-pong
//! between two processes measured in the same run.
//!
//! - protected-call round trip (`Channel::pp_call` to a passive server and
//!   back, one message register each way) vs a Unix-socket round trip
//!   (8-byte request, 8-byte reply);
//! - notify-to-handler latency (half the round trip of a notification
//!   ping-pong between two PDs' `notified` handlers) vs half a Unix-socket
//!   round trip.
//!
//! `ratio` = our time / Unix-socket time: below 1.0 means we are faster.
//! The PDs are this very binary, started by the real runner
//! (`microkit::runner`) with `VETTED_BENCH_ROLE` naming the role.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use microkit::runner::{self, Options, Outcome, Sched, Stream};
use microkit::{Channel, ChannelSet, Handler, Infallible, MessageInfo};
use sdf::{ProtectionDomain, SystemDescription};

const WARMUP: u64 = 20_000;
const ROUNDS: u64 = 200_000;

fn system(xml: &str) -> SystemDescription {
    sdf::parse(xml, "bench.system", &sdf::Config::default()).expect("bench system is valid")
}

/// Runs `system` with this binary as every PD; returns the value of the
/// `RESULT <key> <value>` line a PD printed.
fn run_system(system: &SystemDescription, key: &str, spin_us: Option<u32>) -> f64 {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut opts = Options::new(std::env::temp_dir());
    opts.sched = Sched::None;
    opts.timeout = Some(std::time::Duration::from_secs(120));
    opts.image_override = Some(Box::new(move |pd: &ProtectionDomain| {
        let mut c = Command::new(std::env::current_exe().expect("own path"));
        c.env("VETTED_BENCH_ROLE", &pd.name);
        if let Some(us) = spin_us {
            c.env("VETTED_SPIN_US", us.to_string());
        }
        c
    }));
    let sink = lines.clone();
    opts.output = Some(Arc::new(move |pd: &str, stream: Stream, line: &str| {
        if stream != Stream::Runner {
            eprintln!("  [{pd}] {line}");
        }
        sink.lock().expect("lock").push(line.to_string());
    }));
    let outcome = runner::run(system, &opts).expect("run bench system");
    assert_eq!(
        outcome,
        Outcome::AllStopped,
        "bench system did not finish cleanly"
    );
    let prefix = format!("RESULT {key} ");
    let lines = lines.lock().expect("lock");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.trim().parse().ok()))
        .expect("result line")
}

/// Unix-socket round trip in ns (8 bytes each way), echo in another process.
fn unix_rtt_ns() -> f64 {
    let path = std::env::temp_dir().join(format!("vetted-bench-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env("VETTED_BENCH_ROLE", "unix-echo")
        .env("VETTED_BENCH_SOCKET", &path)
        .spawn()
        .expect("spawn echo");
    let (mut s, _) = listener.accept().expect("accept");
    let mut buf = [0u8; 8];
    let mut t0 = Instant::now();
    for i in 0..WARMUP + ROUNDS {
        if i == WARMUP {
            t0 = Instant::now();
        }
        s.write_all(&i.to_le_bytes()).expect("write");
        s.read_exact(&mut buf).expect("read");
        assert_eq!(u64::from_le_bytes(buf), i + 1);
    }
    let ns = t0.elapsed().as_nanos() as f64 / ROUNDS as f64;
    drop(s);
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    ns
}

fn unix_echo() {
    let path = std::env::var("VETTED_BENCH_SOCKET").expect("socket path");
    let mut s = UnixStream::connect(path).expect("connect");
    let mut buf = [0u8; 8];
    while s.read_exact(&mut buf).is_ok() {
        let v = u64::from_le_bytes(buf) + 1;
        if s.write_all(&v.to_le_bytes()).is_err() {
            break;
        }
    }
}

struct Server;
impl Handler for Server {
    type Error = Infallible;
    fn protected(&mut self, _: Channel, m: MessageInfo) -> Result<MessageInfo, Infallible> {
        microkit::set_mr(0, microkit::get_mr(0) + 1);
        Ok(MessageInfo::new(m.label(), 1))
    }
}

fn caller() -> microkit::NullHandler {
    let ch = Channel::new(0);
    let mut t0 = Instant::now();
    for i in 0..WARMUP + ROUNDS {
        if i == WARMUP {
            t0 = Instant::now();
        }
        microkit::set_mr(0, i);
        let r = ch.pp_call(MessageInfo::new(0, 1));
        assert!(r.count() == 1 && microkit::get_mr(0) == i + 1, "bad reply");
    }
    let ns = t0.elapsed().as_nanos() as f64 / ROUNDS as f64;
    microkit::debug_println!("RESULT pp_ns {ns}");
    microkit::stop()
}

struct Pinger {
    n: u64,
    t0: Instant,
}
impl Handler for Pinger {
    type Error = Infallible;
    fn notified(&mut self, _: ChannelSet) -> Result<(), Infallible> {
        self.n += 1;
        if self.n == WARMUP {
            self.t0 = Instant::now();
        }
        if self.n == WARMUP + ROUNDS {
            let ns = self.t0.elapsed().as_nanos() as f64 / ROUNDS as f64 / 2.0;
            microkit::debug_println!("RESULT notify_ns {ns}");
            microkit::stop();
        }
        Channel::new(0).notify();
        Ok(())
    }
}

struct Ponger {
    n: u64,
}
impl Handler for Ponger {
    type Error = Infallible;
    fn notified(&mut self, _: ChannelSet) -> Result<(), Infallible> {
        Channel::new(0).notify();
        self.n += 1;
        if self.n == WARMUP + ROUNDS {
            microkit::stop();
        }
        Ok(())
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // nothing to list for `cargo test --benches`-style probes
    }
    match std::env::var("VETTED_BENCH_ROLE").as_deref() {
        Ok("unix-echo") => return unix_echo(),
        Ok("server") => microkit::_private::run_main(|| Server),
        Ok("caller") => microkit::_private::run_main(caller),
        Ok("pinger") => microkit::_private::run_main(|| {
            Channel::new(0).notify();
            Pinger {
                n: 0,
                t0: Instant::now(),
            }
        }),
        Ok("ponger") => microkit::_private::run_main(|| Ponger { n: 0 }),
        _ => {}
    }
    let unix = unix_rtt_ns();
    println!(
        "unix-socket ping-pong round trip: {unix:.0} ns (one way {:.0} ns)",
        unix / 2.0
    );

    let pp_system = system(
        r#"<system>
        <protection_domain name="caller" priority="100"><program_image path="caller.elf"/></protection_domain>
        <protection_domain name="server" priority="200" passive="true"><program_image path="server.elf"/></protection_domain>
        <channel><end pd="caller" id="0" pp="true"/><end pd="server" id="0"/></channel>
        </system>"#,
    );
    let notify_system = system(
        r#"<system>
        <protection_domain name="pinger" priority="100"><program_image path="pinger.elf"/></protection_domain>
        <protection_domain name="ponger" priority="100"><program_image path="ponger.elf"/></protection_domain>
        <channel><end pd="pinger" id="0"/><end pd="ponger" id="0"/></channel>
        </system>"#,
    );
    for (spin, what) in [
        (None, "default: adaptive spin (at most 20 us), then futex"),
        (Some(0), "no spinning: futex only"),
    ] {
        println!("-- host backend, {what}");
        let pp = run_system(&pp_system, "pp_ns", spin);
        println!(
            "protected-call round trip: {pp:.0} ns, ratio {:.3} to unix-socket ping-pong (time ours / time unix; < 1 is faster)",
            pp / unix
        );
        let notify = run_system(&notify_system, "notify_ns", spin);
        println!(
            "notify-to-handler latency: {notify:.0} ns, ratio {:.3} to unix-socket one-way latency (time ours / time unix; < 1 is faster)",
            notify / (unix / 2.0)
        );
    }
}
