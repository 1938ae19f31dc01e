//! Queue throughput between two PD processes on the host backend, against
//! a Unix-socket stream between two processes moving the same bytes in the
//! same chunk sizes, measured in the same run.
//!
//! `ratio` = our MB/s / Unix-socket MB/s: above 1.0 means the queue is
//! faster. The PDs are this very binary, started by the real runner
//! (`microkit::runner`) with `VETTED_BENCH_ROLE` naming the role.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ipc::queue::{Consumer, Producer, QueueError};
use microkit::runner::{self, Options, Outcome, Sched, Stream};
use microkit::{Channel, ChannelSet, Handler, MemoryRegion};
use sdf::ProtectionDomain;

const TOTAL: u64 = 512 * 1024 * 1024;
const SLOT: usize = 4096;
const CH: Channel = Channel::new(0);

fn msg_size() -> usize {
    std::env::var("VETTED_BENCH_MSG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SLOT - 4)
}

struct Producing {
    q: Producer,
    sent: u64,
    chunk: Vec<u8>,
}

impl Producing {
    fn fill(&mut self) -> Result<(), QueueError> {
        loop {
            let last = self.sent >= TOTAL;
            let len = if last { 1 } else { self.chunk.len() };
            self.chunk[0] = u8::from(last);
            match self.q.push(&self.chunk[..len]) {
                Ok(()) => {
                    self.q.signal_if_requested();
                    if last {
                        microkit::stop();
                    }
                    self.sent += len as u64;
                }
                Err(QueueError::Full) => {
                    self.q.signal_if_requested();
                    if !self.q.request_signal()? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Handler for Producing {
    type Error = QueueError;
    fn notified(&mut self, _: ChannelSet) -> Result<(), QueueError> {
        self.fill()
    }
}

struct Consuming {
    q: Consumer,
    got: u64,
    start: Option<Instant>,
    buf: Vec<u8>,
    wakeups: u64,
    msgs: u64,
}

impl Handler for Consuming {
    type Error = QueueError;
    fn notified(&mut self, _: ChannelSet) -> Result<(), QueueError> {
        self.wakeups += 1;
        loop {
            match self.q.pop(&mut self.buf)? {
                Some(n) => {
                    let start = *self.start.get_or_insert_with(Instant::now);
                    if self.buf[0] == 1 {
                        let s = start.elapsed().as_secs_f64();
                        microkit::debug_println!(
                            "{} messages, {} wake-ups of the consumer",
                            self.msgs,
                            self.wakeups
                        );
                        microkit::debug_println!("RESULT mbps {}", self.got as f64 / s / 1e6);
                        microkit::stop();
                    }
                    self.got += n as u64;
                    self.msgs += 1;
                }
                None => {
                    self.q.signal_if_requested();
                    if !self.q.request_signal()? {
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn region() -> MemoryRegion {
    MemoryRegion::by_name("queue").expect("queue region")
}

fn run_queue(msg: usize) -> f64 {
    let system = sdf::parse(
        r#"<system>
        <memory_region name="queue" size="0x101000" />
        <protection_domain name="producer" priority="100"><program_image path="p.elf"/>
          <map mr="queue" vaddr="0x10000000" perms="rw" /></protection_domain>
        <protection_domain name="consumer" priority="100"><program_image path="c.elf"/>
          <map mr="queue" vaddr="0x10000000" perms="rw" /></protection_domain>
        <channel><end pd="producer" id="0"/><end pd="consumer" id="0"/></channel>
        </system>"#,
        "bench.system",
        &sdf::Config::default(),
    )
    .expect("valid bench system");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut opts = Options::new(std::env::temp_dir());
    opts.sched = Sched::None;
    opts.timeout = Some(std::time::Duration::from_secs(300));
    opts.image_override = Some(Box::new(move |pd: &ProtectionDomain| {
        let mut c = Command::new(std::env::current_exe().expect("own path"));
        c.env("VETTED_BENCH_ROLE", &pd.name)
            .env("VETTED_BENCH_MSG", msg.to_string());
        c
    }));
    let sink = lines.clone();
    opts.output = Some(Arc::new(move |pd: &str, stream: Stream, line: &str| {
        if stream != Stream::Runner {
            eprintln!("  [{pd}] {line}");
        }
        sink.lock().expect("lock").push(line.to_string());
    }));
    assert_eq!(
        runner::run(&system, &opts).expect("run"),
        Outcome::AllStopped
    );
    let lines = lines.lock().expect("lock");
    lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("RESULT mbps ")
                .and_then(|v| v.trim().parse().ok())
        })
        .expect("result line")
}

/// Unix-socket stream throughput in MB/s, `msg`-byte writes and reads.
fn run_unix(msg: usize) -> f64 {
    let path = std::env::temp_dir().join(format!("vetted-qbench-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env("VETTED_BENCH_ROLE", "unix-sink")
        .env("VETTED_BENCH_SOCKET", &path)
        .env("VETTED_BENCH_MSG", msg.to_string())
        .spawn()
        .expect("spawn sink");
    let (mut s, _) = listener.accept().expect("accept");
    let chunk = vec![7u8; msg];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < TOTAL {
        s.write_all(&chunk).expect("write");
        sent += msg as u64;
    }
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).expect("ack");
    let secs = start.elapsed().as_secs_f64();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    sent as f64 / secs / 1e6
}

fn unix_sink() {
    let path = std::env::var("VETTED_BENCH_SOCKET").expect("socket path");
    let mut s = UnixStream::connect(path).expect("connect");
    let mut buf = vec![0u8; msg_size()];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    let _ = s.write_all(&[1]);
}

fn main() {
    match std::env::var("VETTED_BENCH_ROLE").as_deref() {
        Ok("unix-sink") => return unix_sink(),
        Ok("producer") => microkit::_private::run_main(|| {
            let q = Producer::new(region(), SLOT, CH).expect("producer");
            let mut p = Producing {
                q,
                sent: 0,
                chunk: vec![0; msg_size()],
            };
            p.fill().expect("fill");
            CH.notify();
            p
        }),
        Ok("consumer") => microkit::_private::run_main(|| {
            let q = Consumer::new(region(), SLOT, CH).expect("consumer");
            let _ = q.request_signal();
            Consuming {
                q,
                got: 0,
                start: None,
                buf: vec![0; SLOT],
                wakeups: 0,
                msgs: 0,
            }
        }),
        _ => {}
    }
    println!(
        "SPSC queue between two PD processes, {} MiB through 256 slots of 4 KiB",
        TOTAL >> 20
    );
    for msg in [SLOT - 4, 256] {
        let unix = run_unix(msg);
        let ours = run_queue(msg);
        println!(
            "{msg}-byte messages: queue {ours:.0} MB/s, unix-socket stream {unix:.0} MB/s, ratio {:.2} (queue MB/s / unix MB/s; > 1 is faster)",
            ours / unix
        );
    }
}
