//! Protection domains for the host-backend tests of `vetted run` (see
//! `tests/host.rs`): one binary, the role chosen by the PD name's prefix.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;

use ipc::queue::{Consumer, Producer, QueueError};
use ipc::rpc::{self, CallError, ServerError};
use ipc::PeerMisbehaviour;
use microkit::{
    debug_println, Channel, ChannelSet, Child, DeferredAction, DeferredActionSlot, Handler,
    MemoryRegion, MessageInfo, NullHandler,
};
use serde::{Deserialize, Serialize};

const ROUNDS: u64 = 1000;
const CALLS: u64 = 2000;
const QUEUE_BYTES: u64 = 100 * 1024 * 1024;
const SLOT: usize = 4096;
const CH: Channel = Channel::new(0);

fn region(name: &str) -> MemoryRegion {
    MemoryRegion::by_name(name).unwrap_or_else(|e| panic!("memory region {name}: {e}"))
}

/// FNV-1a over 64-bit little-endian words (fast enough in debug builds).
fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for w in data.chunks(8) {
        let mut b = [0u8; 8];
        b[..w.len()].copy_from_slice(w);
        h ^= u64::from_le_bytes(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Payload bytes per data message: after a type byte and 7 bytes padding.
const PAYLOAD: usize = SLOT - 4 - 8;
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

struct PingPong {
    n: u64,
    ping: bool,
    /// Pong answers through a deferred notify, done by the event loop.
    deferred: DeferredActionSlot,
}

impl Handler for PingPong {
    type Error = String;
    fn notified(&mut self, channels: ChannelSet) -> Result<(), String> {
        if !channels.contains(CH) {
            return Err(format!(
                "notified on unexpected channels {}",
                channels.display()
            ));
        }
        self.n += 1;
        if self.ping {
            if self.n == ROUNDS {
                debug_println!("ping: {} round trips", self.n);
                microkit::stop();
            }
            CH.notify();
            return Ok(());
        }
        self.deferred.defer_notify(CH).map_err(|e| e.to_string())?;
        if self.n == ROUNDS {
            // Stopping skips the event loop: send the last answer now.
            if let Some(last) = self.deferred.take() {
                last.execute_now().map_err(|e| e.to_string())?;
            }
            debug_println!("pong: answered {}", self.n);
            microkit::stop();
        }
        Ok(())
    }

    fn take_deferred_action(&mut self) -> Option<DeferredAction> {
        self.deferred.take()
    }
}

fn client() -> NullHandler {
    let tag: u64 = microkit::pd_name().bytes().map(u64::from).sum();
    for i in 0..CALLS {
        microkit::set_mr(0, i);
        microkit::set_mr(1, i * 2);
        microkit::set_mr(2, tag);
        let reply = CH.pp_call(MessageInfo::new(i % 100, 3));
        let (sum, echo) = (microkit::get_mr(0), microkit::get_mr(1));
        if reply.label() != i % 100 + 1 || reply.count() != 2 || sum != i * 3 + tag || echo != tag {
            panic!(
                "{}: bad reply {reply:?} mr0={sum} mr1={echo} to call {i}",
                microkit::pd_name()
            );
        }
    }
    debug_println!("{}: {CALLS} calls ok", microkit::pd_name());
    CH.notify(); // tell the server this client is done
    microkit::stop()
}

struct Server {
    calls: u64,
    busy: bool,
    clients: usize,
    done: ChannelSet,
}

impl Handler for Server {
    type Error = String;
    fn notified(&mut self, channels: ChannelSet) -> Result<(), String> {
        self.done = ChannelSet::from_bits(self.done.bits() | channels.bits());
        if self.done.iter().count() == self.clients {
            debug_println!(
                "server: {} calls from {} clients, done",
                self.calls,
                self.clients
            );
            microkit::stop();
        }
        Ok(())
    }

    fn protected(&mut self, _: Channel, msg: MessageInfo) -> Result<MessageInfo, String> {
        if self.busy {
            return Err("two calls at once".into());
        }
        self.busy = true;
        let (a, b, tag) = (
            microkit::get_mr(0),
            microkit::get_mr(1),
            microkit::get_mr(2),
        );
        microkit::set_mr(0, a + b + tag);
        microkit::set_mr(1, tag);
        self.calls += 1;
        if self.calls.is_multiple_of(1000) {
            debug_println!("server: {} calls", self.calls);
        }
        self.busy = false;
        Ok(MessageInfo::new(msg.label() + 1, 2))
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum Req {
    Add(u32, u32),
    Hello(String),
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum AppError {
    Overflow,
}

struct RpcServer {
    rpc: rpc::Server<256>,
}

impl Handler for RpcServer {
    type Error = String;
    fn protected(&mut self, _: Channel, msg: MessageInfo) -> Result<MessageInfo, String> {
        Ok(self
            .rpc
            .handle(msg, |req: Req| -> Result<String, AppError> {
                match req {
                    Req::Add(a, b) => a
                        .checked_add(b)
                        .map(|s| s.to_string())
                        .ok_or(AppError::Overflow),
                    Req::Hello(name) => Ok(format!("hello, {name}")),
                }
            }))
    }
}

/// A typed client, then the same channel misused by hand: every misuse
/// must come back as the matching typed server error.
fn rpc_client() -> NullHandler {
    let buf = region("rpc");
    let client = rpc::Client::<256>::new(CH, buf);
    let mut ok = true;
    let r: Result<Result<String, AppError>, CallError> = client.call(&Req::Add(40, 2));
    ok &= r == Ok(Ok("42".into()));
    let r: Result<Result<String, AppError>, CallError> = client.call(&Req::Add(u32::MAX, 1));
    ok &= r == Ok(Err(AppError::Overflow));
    let r: Result<Result<String, AppError>, CallError> = client.call(&Req::Hello("vetted".into()));
    ok &= r == Ok(Ok("hello, vetted".into()));
    let r: Result<Result<String, AppError>, CallError> = client.call(&Req::Hello("x".repeat(300)));
    ok &= r == Err(CallError::Encode);
    // By hand: a length beyond the buffer, garbage bytes, a wrong label.
    microkit::set_mr(0, 1 << 40);
    ok &= CH.pp_call(MessageInfo::new(0, 1)).label() == ServerError::BadRequestLength.label();
    ok &= buf.write(0, &[0xff; 8]).is_ok();
    microkit::set_mr(0, 8);
    ok &= CH.pp_call(MessageInfo::new(0, 1)).label() == ServerError::BadRequest.label();
    ok &= CH.pp_call(MessageInfo::new(7, 1)).label() == ServerError::BadRequestLabel.label();
    debug_println!(
        "rpcclient: {}",
        if ok {
            "typed answers and errors ok"
        } else {
            "WRONG"
        }
    );
    microkit::stop()
}

/// Returns an error from its handler on the first notification.
struct Erring;

impl Handler for Erring {
    type Error = String;
    fn notified(&mut self, channels: ChannelSet) -> Result<(), String> {
        Err(format!("refusing notification on {}", channels.display()))
    }
}

/// A parent that answers (so restarts) its faulting child `answers` times,
/// then leaves it stopped.
struct Supervisor {
    faults: u32,
    answers: u32,
}

impl Handler for Supervisor {
    type Error = String;
    fn fault(&mut self, child: Child, msg: MessageInfo) -> Result<Option<MessageInfo>, String> {
        self.faults += 1;
        debug_println!(
            "supervisor: child {} faulted (label {}), fault {}",
            child.index(),
            msg.label(),
            self.faults
        );
        Ok((self.faults <= self.answers).then(|| MessageInfo::new(0, 0)))
    }
}

struct RegServer;

impl Handler for RegServer {
    type Error = String;
    fn protected(&mut self, _: Channel, msg: MessageInfo) -> Result<MessageInfo, String> {
        Ok(rpc::handle_regs(
            msg,
            |req: Req| -> Result<String, AppError> {
                match req {
                    Req::Add(a, b) => a
                        .checked_add(b)
                        .map(|s| s.to_string())
                        .ok_or(AppError::Overflow),
                    Req::Hello(name) => Ok(format!("hello, {name}")),
                }
            },
        ))
    }
}

/// Typed calls in the message registers, no shared buffer.
fn reg_client() -> NullHandler {
    let mut ok = true;
    let r: Result<Result<String, AppError>, CallError> = rpc::call_regs(CH, &Req::Add(40, 2));
    ok &= r == Ok(Ok("42".into()));
    let r: Result<Result<String, AppError>, CallError> = rpc::call_regs(CH, &Req::Add(u32::MAX, 1));
    ok &= r == Ok(Err(AppError::Overflow));
    // 952 bytes encoded: the largest request; its answer is 7 bytes longer.
    let long = "y".repeat(949);
    let r: Result<Result<String, AppError>, CallError> =
        rpc::call_regs(CH, &Req::Hello(long.clone()));
    ok &= r == Err(CallError::Server(ServerError::ResponseTooLarge));
    let r: Result<Result<String, AppError>, CallError> =
        rpc::call_regs(CH, &Req::Hello("z".repeat(1000)));
    ok &= r == Err(CallError::Encode);
    let r: Result<Result<String, AppError>, CallError> =
        rpc::call_regs(CH, &Req::Hello("regs".into()));
    ok &= r == Ok(Ok("hello, regs".into()));
    debug_println!(
        "regclient: {}",
        if ok {
            "typed calls in registers ok"
        } else {
            "WRONG"
        }
    );
    microkit::stop()
}

/// A server that answers every call with a different protocol violation.
struct EvilServer {
    calls: u64,
    buf: MemoryRegion,
}

impl Handler for EvilServer {
    type Error = String;
    fn protected(&mut self, _: Channel, _: MessageInfo) -> Result<MessageInfo, String> {
        self.calls += 1;
        Ok(match self.calls {
            1 => {
                microkit::set_mr(0, u64::MAX);
                MessageInfo::new(0, 1)
            }
            2 => MessageInfo::new(99, 0),
            3 => {
                self.buf.write(0, &[0xff; 16]).map_err(|e| e.to_string())?;
                microkit::set_mr(0, 16);
                MessageInfo::new(0, 1)
            }
            _ => MessageInfo::new(0, 0),
        })
    }
}

fn rpc_victim() -> NullHandler {
    let client = rpc::Client::<256>::new(CH, region("rpc"));
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r: Result<Result<String, AppError>, CallError> = client.call(&Req::Add(1, 2));
        seen.push(r);
    }
    let want = [
        Err(CallError::Peer(PeerMisbehaviour::BadLength {
            len: u64::MAX,
        })),
        Err(CallError::Peer(PeerMisbehaviour::BadLabel { label: 99 })),
        Err(CallError::Peer(PeerMisbehaviour::Decode)),
        Err(CallError::Peer(PeerMisbehaviour::BadCount { count: 0 })),
    ];
    let ok = seen == want;
    debug_println!(
        "rpcvictim: {} {seen:?}",
        if ok { "every violation typed" } else { "WRONG" }
    );
    microkit::stop()
}

struct Flaky {
    life: u32,
    server: Server,
}

impl Handler for Flaky {
    type Error = String;
    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> Result<MessageInfo, String> {
        if self.life == 1 && self.server.calls == 10 {
            std::process::abort();
        }
        self.server.protected(ch, msg)
    }
    fn notified(&mut self, channels: ChannelSet) -> Result<(), String> {
        self.server.notified(channels)
    }
}

struct Producing {
    q: Producer,
    sent: u64,
    sum: u64,
    state: u64,
    notifies: u64,
    /// The message being sent (kept when the queue is full).
    chunk: Vec<u8>,
    pending: usize,
}

impl Producing {
    /// The next message: data, then a trailer with the total and checksum.
    fn next(&mut self) -> usize {
        let chunk = &mut self.chunk;
        if self.sent < QUEUE_BYTES {
            let n = ((QUEUE_BYTES - self.sent) as usize).min(PAYLOAD);
            chunk[0] = 0;
            for w in chunk[8..8 + n].chunks_mut(8) {
                // xorshift64
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                let bytes = self.state.to_le_bytes();
                w.copy_from_slice(&bytes[..w.len()]);
            }
            self.sent += n as u64;
            self.sum = fnv(self.sum, &chunk[8..8 + n]);
            n + 8
        } else {
            chunk[0] = 1;
            chunk[1..9].copy_from_slice(&self.sent.to_le_bytes());
            chunk[9..17].copy_from_slice(&self.sum.to_le_bytes());
            17
        }
    }

    /// Pushes until the queue is full (then waits for the consumer's
    /// notification) or everything is sent (then stops this PD).
    fn fill(&mut self) -> Result<(), String> {
        loop {
            if self.pending == 0 {
                self.pending = self.next();
            }
            match self.q.push(&self.chunk[..self.pending]) {
                Ok(()) => {
                    let trailer = self.chunk[0] == 1;
                    self.pending = 0;
                    if self.q.signal_if_requested() {
                        self.notifies += 1;
                    }
                    if trailer {
                        debug_println!(
                            "producer: sent {} bytes, checksum {:016x}, {} notifications",
                            self.sent,
                            self.sum,
                            self.notifies
                        );
                        // The consumer runs concurrently, so this can happen
                        // even during init.
                        microkit::stop();
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
        self.fill()
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
                Ok(Some(n)) if n >= 8 && buf[0] == 0 => {
                    self.got += (n - 8) as u64;
                    self.sum = fnv(self.sum, &buf[8..n]);
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
                        if ok {
                            "checksum ok"
                        } else {
                            "CHECKSUM MISMATCH"
                        }
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
        let start = range
            .split('-')
            .next()
            .and_then(|s| usize::from_str_radix(s, 16).ok());
        start == Some(base) && p == perms
    })
}

/// This process's nice value (field 19 of /proc/self/stat).
fn own_nice() -> i64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    after
        .split_whitespace()
        .nth(16)
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MIN)
}

fn perms() -> NullHandler {
    let rw = region("rw_vaddr");
    let ro = region("ro");
    let mut ok = true;
    ok &= rw.as_ptr() as usize == 0x4000_0000 && mapped_as(&rw, "rw-s");
    ok &= mapped_as(&ro, "r--s");
    ok &= ro.write(0, &[1]) == Err(microkit::AccessError::Permission);
    ok &= rw.write(0, b"hello").is_ok();
    // The same region mapped a second time, read-only, sees the write.
    let again = region("rw_again");
    let mut b = [0u8; 5];
    ok &= again.read(0, &mut b).is_ok() && &b == b"hello" && mapped_as(&again, "r--s");
    ok &= again.as_ptr() as usize == 0x4002_0000;
    ok &= MemoryRegion::by_name("nonexistent").is_err();
    debug_println!(
        "perms: {} (rw at {:p}, ro at {:p}, {} bytes)",
        if ok { "ok" } else { "WRONG" },
        rw.as_ptr(),
        ro.as_ptr(),
        ro.size()
    );
    microkit::stop()
}

/// Reads a region prefilled from a 5-byte file "hello": the file's bytes,
/// then zeros up to the region's last byte.
fn prefilled() -> NullHandler {
    let r = region("data");
    let mut head = [0u8; 5];
    let mut last = [0xffu8; 1];
    let ok = r.read(0, &mut head).is_ok()
        && &head == b"hello"
        && r.size() == 0x3000
        && r.read(r.size() - 1, &mut last).is_ok()
        && last == [0];
    debug_println!("prefilled: {}", if ok { "ok" } else { "WRONG" });
    microkit::stop()
}

fn main() {
    // The role comes from the PD name, minus trailing digits.
    let name = microkit::_private::configured_pd_name().unwrap_or_default();
    let role = name.trim_end_matches(|c: char| c.is_ascii_digit());
    match role {
        "ping" => microkit::_private::run_main(|| {
            CH.notify();
            PingPong {
                n: 0,
                ping: true,
                deferred: DeferredActionSlot::new(),
            }
        }),
        "pong" => microkit::_private::run_main(|| PingPong {
            n: 0,
            ping: false,
            deferred: DeferredActionSlot::new(),
        }),
        "client" => microkit::_private::run_main(client),
        "server" => microkit::_private::run_main(|| {
            debug_println!("server: passive={}", microkit::pd_is_passive());
            let clients = name.trim_start_matches("server").parse().unwrap_or(1);
            Server {
                calls: 0,
                busy: false,
                clients,
                done: ChannelSet::default(),
            }
        }),
        "flaky" => microkit::_private::run_main(|| {
            // A server that crashes in the middle of its first call.
            let lives = region("lives")
                .atomic_u32(0)
                .unwrap_or_else(|e| panic!("{e}"));
            let life = lives.fetch_add(1, Ordering::SeqCst) + 1;
            debug_println!("flaky: life {life}");
            Flaky {
                life,
                server: Server {
                    calls: 0,
                    busy: false,
                    clients: 1,
                    done: ChannelSet::default(),
                },
            }
        }),
        "producer" => microkit::_private::run_main(|| {
            let q = Producer::new(region("queue"), SLOT, CH).unwrap_or_else(|e| panic!("{e}"));
            let mut p = Producing {
                q,
                sent: 0,
                sum: FNV_START,
                state: 0x9e37_79b9_7f4a_7c15,
                notifies: 0,
                chunk: vec![0; SLOT],
                pending: 0,
            };
            if let Err(e) = p.fill() {
                panic!("{e}");
            }
            // The consumer may have looked before anything was queued and
            // then found data, so asked for nothing: kick it once.
            CH.notify();
            p
        }),
        "consumer" => microkit::_private::run_main(|| {
            let q = Consumer::new(region("queue"), SLOT, CH).unwrap_or_else(|e| panic!("{e}"));
            // Ask for a notification before anything is produced.
            let _ = q.request_signal();
            Consuming {
                q,
                got: 0,
                sum: FNV_START,
                wakeups: 0,
            }
        }),
        "garbage" => microkit::_private::run_main(|| {
            // Claims 0xdeadbeef messages in a queue of far fewer slots.
            let r = region("queue");
            r.atomic_u32(0)
                .unwrap_or_else(|e| panic!("{e}"))
                .store(0xdead_beef, Ordering::SeqCst);
            CH.notify();
            debug_println!("garbage: wrote a bogus tail index");
            microkit::stop();
            #[allow(unreachable_code)]
            NullHandler::new()
        }),
        "crasher" => microkit::_private::run_main(|| {
            let lives = region("lives")
                .atomic_u32(0)
                .unwrap_or_else(|e| panic!("{e}"));
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
        "prefilled" => microkit::_private::run_main(prefilled),
        "rpcserver" => microkit::_private::run_main(|| RpcServer {
            rpc: rpc::Server::new(region("rpc")),
        }),
        "rpcclient" => microkit::_private::run_main(rpc_client),
        "regserver" => microkit::_private::run_main(|| RegServer),
        "erring" => microkit::_private::run_main(|| Erring),
        "supervisor" => microkit::_private::run_main(|| Supervisor {
            faults: 0,
            answers: name.trim_start_matches("supervisor").parse().unwrap_or(2),
        }),
        "poker" => microkit::_private::run_main(|| {
            CH.notify();
            microkit::stop();
            #[allow(unreachable_code)]
            NullHandler::new()
        }),
        "regclient" => microkit::_private::run_main(reg_client),
        "evilserver" => microkit::_private::run_main(|| EvilServer {
            calls: 0,
            buf: region("rpc"),
        }),
        "rpcvictim" => microkit::_private::run_main(rpc_victim),
        "nice" => microkit::_private::run_main(|| {
            debug_println!("{}: nice {}", microkit::pd_name(), own_nice());
            microkit::stop();
            #[allow(unreachable_code)]
            NullHandler::new()
        }),
        other => {
            eprintln!("vetted-testpd: unknown role {other:?}");
            std::process::exit(3)
        }
    }
}
