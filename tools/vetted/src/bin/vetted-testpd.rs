//! Protection domains for the host-backend tests of `vetted run` (see
//! `tests/host.rs`): one binary, the role chosen by the PD name's prefix.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;

use ipc::queue::{Consumer, Producer, QueueError};
use microkit::{
    debug_println, Channel, ChannelSet, Handler, MemoryRegion, MessageInfo, NullHandler,
};

const ROUNDS: u64 = 1000;
const CALLS: u64 = 2000;
const QUEUE_BYTES: u64 = 100 * 1024 * 1024;
const SLOT: usize = 4096;
const CH: Channel = Channel::new(0);

fn region(name: &str) -> MemoryRegion {
    MemoryRegion::by_name(name).unwrap_or_else(|e| panic!("memory region {name}: {e}"))
}

/// 64-bit FNV-1a.
fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

struct PingPong {
    n: u64,
    ping: bool,
}

impl Handler for PingPong {
    type Error = String;
    fn notified(&mut self, channels: ChannelSet) -> Result<(), String> {
        if !channels.contains(CH) {
            return Err(format!("notified on unexpected channels {}", channels.display()));
        }
        self.n += 1;
        if self.ping && self.n == ROUNDS {
            debug_println!("ping: {} round trips", self.n);
            microkit::stop();
        }
        CH.notify();
        if !self.ping && self.n == ROUNDS {
            debug_println!("pong: answered {}", self.n);
            microkit::stop();
        }
        Ok(())
    }
}

fn client() -> NullHandler {
    let tag = microkit::pd_name().len() as u64;
    for i in 0..CALLS {
        microkit::set_mr(0, i);
        microkit::set_mr(1, i * 2);
        microkit::set_mr(2, tag);
        let reply = CH.pp_call(MessageInfo::new(i % 100, 3));
        let (sum, echo) = (microkit::get_mr(0), microkit::get_mr(1));
        if reply.label() != i % 100 + 1 || reply.count() != 2 || sum != i * 3 + tag || echo != tag {
            panic!("{}: bad reply {reply:?} mr0={sum} mr1={echo} to call {i}", microkit::pd_name());
        }
    }
    debug_println!("{}: {CALLS} calls ok", microkit::pd_name());
    microkit::stop()
}

struct Server {
    calls: u64,
    busy: bool,
}

impl Handler for Server {
    type Error = String;
    fn protected(&mut self, _: Channel, msg: MessageInfo) -> Result<MessageInfo, String> {
        if self.busy {
            return Err("two calls at once".into());
        }
        self.busy = true;
        let (a, b, tag) = (microkit::get_mr(0), microkit::get_mr(1), microkit::get_mr(2));
        microkit::set_mr(0, a + b + tag);
        microkit::set_mr(1, tag);
        self.calls += 1;
        if self.calls % 1000 == 0 {
            debug_println!("server: {} calls", self.calls);
        }
        self.busy = false;
        Ok(MessageInfo::new(msg.label() + 1, 2))
    }
}

struct Producing {
    q: Producer,
    sent: u64,
    sum: u64,
    state: u64,
    notifies: u64,
    done: bool,
}

impl Producing {
    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; SLOT - 4];
        loop {
            if self.done {
                return Ok(());
            }
            let msg_len;
            if self.sent < QUEUE_BYTES {
                let n = ((QUEUE_BYTES - self.sent) as usize).min(chunk.len() - 1);
                chunk[0] = 0;
                for b in &mut chunk[1..=n] {
                    // xorshift64
                    self.state ^= self.state << 13;
                    self.state ^= self.state >> 7;
                    self.state ^= self.state << 17;
                    *b = self.state as u8;
                }
                msg_len = n + 1;
            } else {
                chunk[0] = 1;
                chunk[1..9].copy_from_slice(&self.sent.to_le_bytes());
                chunk[9..17].copy_from_slice(&self.sum.to_le_bytes());
                msg_len = 17;
            }
            match self.q.push(&chunk[..msg_len]) {
                Ok(()) => {
                    if chunk[0] == 0 {
                        self.sent += (msg_len - 1) as u64;
                        self.sum = fnv(self.sum, &chunk[1..msg_len]);
                    } else {
                        self.done = true;
                        debug_println!(
                            "producer: sent {} bytes, checksum {:016x}, {} notifications",
                            self.sent,
                            self.sum,
                            self.notifies
                        );
                    }
                    if self.q.signal_if_requested() {
                        self.notifies += 1;
                    }
                }
                Err(QueueError::Full) => {
                    if self.q.signal_if_requested() {
                        self.notifies += 1;
                    }
                    if !self.q.request_signal().map_err(|e| e.to_string())? {
                        return Ok(()); // wait for the consumer's notification
                    }
                }
                Err(e) => return Err(format!("producer: {e}")),
            }
        }
    }
}

impl Handler for Producing {
    type Error = String;
    fn notified(&mut self, _: ChannelSet) -> Result<(), String> {
        self.fill()?;
        if self.done {
            microkit::stop();
        }
        Ok(())
    }
}

struct Consuming {
    q: Consumer,
    got: u64,
    sum: u64,
    wakeups: u64,
}

impl Handler for Consuming {
    type Error = String;
    fn notified(&mut self, _: ChannelSet) -> Result<(), String> {
        self.wakeups += 1;
        let mut buf = vec![0u8; SLOT];
        loop {
            match self.q.pop(&mut buf) {
                Ok(Some(n)) if n >= 1 && buf[0] == 0 => {
                    self.got += (n - 1) as u64;
                    self.sum = fnv(self.sum, &buf[1..n]);
                }
                Ok(Some(17)) if buf[0] == 1 => {
                    let total = u64::from_le_bytes(buf[1..9].try_into().unwrap_or_default());
                    let sum = u64::from_le_bytes(buf[9..17].try_into().unwrap_or_default());
                    let ok = total == self.got && sum == self.sum;
                    debug_println!(
                        "consumer: received {} bytes, checksum {:016x}, {} wake-ups: {}",
                        self.got,
                        self.sum,
                        self.wakeups,
                        if ok { "checksum ok" } else { "CHECKSUM MISMATCH" }
                    );
                    self.q.signal_if_requested();
                    microkit::stop();
                }
                Ok(Some(n)) => return Err(format!("consumer: malformed message of {n} bytes")),
                Ok(None) => {
                    self.q.signal_if_requested();
                    match self.q.request_signal() {
                        Ok(true) => continue,
                        Ok(false) => return Ok(()),
                        Err(e) => return self.rejected(e),
                    }
                }
                Err(e) => return self.rejected(e),
            }
        }
    }
}

impl Consuming {
    fn rejected(&self, e: QueueError) -> Result<(), String> {
        // A misbehaving producer is reported, and this PD carries on
        // cleanly: here it simply stops.
        debug_println!("consumer: rejected queue: {e}");
        microkit::stop()
    }
}

/// Checks in /proc/self/maps that a region is mapped with `perms`.
fn mapped_as(r: &MemoryRegion, perms: &str) -> bool {
    let base = r.as_ptr() as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines().any(|l| {
        let mut f = l.split_whitespace();
        let range = f.next().unwrap_or("");
        let p = f.next().unwrap_or("");
        let start = range.split('-').next().and_then(|s| usize::from_str_radix(s, 16).ok());
        start == Some(base) && p == perms
    })
}

fn perms() -> NullHandler {
    let rw = region("rw_vaddr");
    let ro = region("ro");
    let mut ok = true;
    ok &= rw.as_ptr() as usize == 0x4000_0000 && mapped_as(&rw, "rw-s");
    ok &= mapped_as(&ro, "r--s");
    ok &= ro.write(0, &[1]) == Err(microkit::AccessError::Permission);
    ok &= rw.write(0, b"hello").is_ok();
    ok &= MemoryRegion::by_name("nonexistent").is_err();
    debug_println!("perms: {} (rw at {:p}, ro at {:p}, {} bytes)", if ok { "ok" } else { "WRONG" }, rw.as_ptr(), ro.as_ptr(), ro.size());
    microkit::stop()
}

fn main() {
    // The role comes from the PD name; the runner hands it over in the
    // environment, read by `run_main` (which exits if it is missing).
    let name = std::env::var(microkit_env()).ok().and_then(|c| {
        c.lines().find_map(|l| l.strip_prefix("name\t").map(str::to_string))
    });
    let role = name.unwrap_or_default();
    let role = role.trim_end_matches(|c: char| c.is_ascii_digit());
    match role {
        "ping" => microkit::_private::run_main(|| {
            CH.notify();
            PingPong { n: 0, ping: true }
        }),
        "pong" => microkit::_private::run_main(|| PingPong { n: 0, ping: false }),
        "client" => microkit::_private::run_main(client),
        "server" => microkit::_private::run_main(|| {
            debug_println!("server: passive={}", microkit::pd_is_passive());
            Server { calls: 0, busy: false }
        }),
        "producer" => microkit::_private::run_main(|| {
            let q = Producer::new(region("queue"), SLOT, CH).unwrap_or_else(|e| panic!("{e}"));
            let mut p = Producing { q, sent: 0, sum: FNV_START, state: 0x9e37_79b9_7f4a_7c15, notifies: 0, done: false };
            if let Err(e) = p.fill() {
                panic!("{e}");
            }
            p
        }),
        "consumer" => microkit::_private::run_main(|| {
            let q = Consumer::new(region("queue"), SLOT, CH).unwrap_or_else(|e| panic!("{e}"));
            // Ask for a notification before anything is produced.
            let _ = q.request_signal();
            Consuming { q, got: 0, sum: FNV_START, wakeups: 0 }
        }),
        "garbage" => microkit::_private::run_main(|| {
            // Claims 0xdeadbeef messages in a queue of far fewer slots.
            let r = region("queue");
            r.atomic_u32(0).unwrap_or_else(|e| panic!("{e}")).store(0xdead_beef, Ordering::SeqCst);
            CH.notify();
            debug_println!("garbage: wrote a bogus tail index");
            microkit::stop();
            #[allow(unreachable_code)]
            NullHandler::new()
        }),
        "crasher" => microkit::_private::run_main(|| {
            let lives = region("lives").atomic_u32(0).unwrap_or_else(|e| panic!("{e}"));
            let life = lives.fetch_add(1, Ordering::SeqCst) + 1;
            debug_println!("crasher: life {life}");
            if life < 3 {
                std::process::abort();
            }
            debug_println!("crasher: survived");
            microkit::stop();
            #[allow(unreachable_code)]
            NullHandler::new()
        }),
        "idler" | "sleeper" => microkit::_private::run_main(|| {
            debug_println!("{}: waiting forever", microkit::pd_name());
            NullHandler::new()
        }),
        "perms" => microkit::_private::run_main(perms),
        other => {
            eprintln!("vetted-testpd: unknown role {other:?}");
            std::process::exit(3)
        }
    }
}

fn microkit_env() -> &'static str {
    "VETTED_PD"
}
