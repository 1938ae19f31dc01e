//! A test application PD for the end-to-end tests: plays node A's `client`,
//! `intruder` or `lowball` (its PD name) and runs the scenario named by
//! `VETTED_E2E_SCENARIO`, printing `CHECK <name> ok|FAIL <why>` lines and a
//! final `E2E DONE` (tests/tests/nodes.rs reads them).
#![deny(unsafe_code)]

use microkit::{debug_println, MemoryRegion};
use secsock::{
    AlgSet, Algorithm, Endpoint, Error, IpAddr, Level, PdTransport, ProtectionRequest, Proto,
    SecSock, Service, SockOpt, SockOptValue, Socket,
};
use std::time::{Duration, Instant};

type Lib = SecSock<PdTransport>;

const ECHO: Endpoint = Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7);
const CLIENT_CRED: &str = include_str!("../../../policies/demo/credentials/client.cred");
const INTRUDER_CRED: &str = include_str!("../../../policies/demo/credentials/intruder-forged.cred");

fn check(name: &str, ok: bool, detail: impl std::fmt::Display) {
    if ok {
        debug_println!("CHECK {name} ok ({detail})");
    } else {
        debug_println!("CHECK {name} FAIL {detail}");
    }
}

fn ctx(p: ProtectionRequest) -> secsock::SecurityContext {
    secsock::template(Endpoint::ANY, ECHO, p)
}

/// Connects to the echo service, retrying while node B is not there yet.
fn connect(net: &mut Lib, p: ProtectionRequest) -> Result<(Socket, secsock::Connected), Error> {
    let start = Instant::now();
    loop {
        let s = net.socket(Proto::Tcp)?;
        match net.connect(s, ECHO, &[CLIENT_CRED], &ctx(p)) {
            Ok(c) => return Ok((s, c)),
            Err(Error::ConnectionRefused | Error::TimedOut)
                if start.elapsed() < Duration::from_secs(20) =>
            {
                let _ = net.close(s);
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                let _ = net.close(s);
                return Err(e);
            }
        }
    }
}

fn echo(net: &mut Lib, s: Socket, msg: &[u8]) -> Result<secsock::Received, Error> {
    net.send_all(s, msg)?;
    let mut got = Vec::new();
    let mut last = None;
    while got.len() < msg.len() {
        let r = net.recv(s, 65536)?;
        if r.data.is_empty() {
            return Err(Error::NotConnected);
        }
        got.extend_from_slice(&r.data);
        last = Some(r);
    }
    let mut r = last.ok_or(Error::NotConnected)?;
    r.data = got;
    Ok(r)
}

/// Every Sec_* call from the client side.
fn calls(net: &mut Lib) {
    let (s, c) = match connect(net, ProtectionRequest::default()) {
        Ok(x) => x,
        Err(e) => return check("connect", false, e),
    };
    check(
        "connect",
        c.protection.service == Service::AuthCon && c.protection.level >= Level::Require,
        format!("{:?}", c.protection),
    );
    match net.getsockopt(s, SockOpt::Protection) {
        Ok(SockOptValue::Protection(p)) => check("getsockopt", p == c.protection, format!("{p:?}")),
        other => check("getsockopt", false, format!("{other:?}")),
    }
    // Raise: only AES-GCM-256 from now on.
    let raise = ProtectionRequest {
        algorithms: AlgSet::of(&[Algorithm::AesGcm256]),
        ..ProtectionRequest::default()
    };
    let r = net.setsockopt(s, SockOptValue::RaiseProtection(raise));
    let after = net.getsockopt(s, SockOpt::Protection);
    check(
        "setsockopt-raise",
        r.is_ok()
            && matches!(after, Ok(SockOptValue::Protection(p)) if p.algorithms == AlgSet::of(&[Algorithm::AesGcm256])),
        format!("{r:?} then {after:?}"),
    );
    match echo(net, s, b"every call") {
        Ok(r) => check(
            "send-recv",
            r.data == b"every call" && r.protection.algorithm == Some(Algorithm::AesGcm256),
            format!("{:?} {:?}", String::from_utf8_lossy(&r.data), r.protection),
        ),
        Err(e) => check("send-recv", false, e),
    }
    let node_b_key = include_str!("../../../policies/demo/keys/node-b.key").trim();
    match net.remote_key(s) {
        Ok(k) => check("getremoteKey", k.trim() == node_b_key, k),
        Err(e) => check("getremoteKey", false, e),
    }
    match net.remote_credentials(s) {
        Ok(c) => check(
            "getremoteCredentials",
            c.iter()
                .any(|t| t.contains(node_b_key.trim_start_matches("ed25519-hex:"))),
            format!("{} credentials", c.len()),
        ),
        Err(e) => check("getremoteCredentials", false, e),
    }
    // A 200 KiB transfer (several requests each way).
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    match echo(net, s, &big) {
        Ok(r) => check("bulk", r.data == big, format!("{} bytes", r.data.len())),
        Err(e) => check("bulk", false, e),
    }
    check("close", net.close(s).is_ok(), "");
    check(
        "close-twice",
        net.close(s) == Err(Error::BadSocket),
        "EBADF",
    );

    // UDP: sendto / recvfrom, non-blocking and timeout.
    let u = match net.socket(Proto::Udp) {
        Ok(u) => u,
        Err(e) => return check("udp-socket", false, e),
    };
    let _ = net.setsockopt(u, SockOptValue::RecvTimeout(2000));
    let mut ok = None;
    for _ in 0..5 {
        if let Err(e) = net.sendto(
            u,
            b"dgram",
            ECHO,
            &[CLIENT_CRED],
            &ctx(ProtectionRequest::default()),
        ) {
            check("sendto", false, e);
            break;
        }
        if let Ok(r) = net.recvfrom(u, 100) {
            ok = Some(r);
            break;
        }
    }
    match ok {
        Some(r) => check(
            "sendto-recvfrom",
            r.data == b"dgram" && r.from == ECHO && r.protection.spi.is_some(),
            format!("{:?} from {} {:?}", r.data, r.from, r.protection),
        ),
        None => check("sendto-recvfrom", false, "no echo"),
    }
    let _ = net.setsockopt(u, SockOptValue::NonBlocking(true));
    let r = net.recvfrom(u, 100);
    check(
        "recvfrom-nonblocking",
        r == Err(Error::WouldBlock),
        format!("{r:?}"),
    );
    let _ = net.setsockopt(u, SockOptValue::NonBlocking(false));
    let t0 = Instant::now();
    let _ = net.setsockopt(u, SockOptValue::RecvTimeout(300));
    let r = net.recvfrom(u, 100);
    check(
        "recv-timeout",
        r == Err(Error::TimedOut) && t0.elapsed() < Duration::from_secs(3),
        format!("{r:?} after {:?}", t0.elapsed()),
    );
    let _ = net.close(u);
    // Bind is not licensed for the client: refused with a reason.
    if let Ok(b) = net.socket(Proto::Tcp) {
        let local = Endpoint {
            addr: None,
            port: Some(7),
        };
        let r = net.bind(
            b,
            local,
            &[CLIENT_CRED],
            &secsock::template(local, Endpoint::ANY, ProtectionRequest::default()),
        );
        let why = net.why();
        check(
            "bind-refused",
            r.is_err() && matches!(why, Ok(Some(_))),
            format!("{r:?}: {why:?}"),
        );
        let _ = net.close(b);
    }
    // A replayed (stamped) context.
    if let (Ok(a), Ok(b)) = (net.socket(Proto::Udp), net.socket(Proto::Udp)) {
        match secsock::context(Endpoint::ANY, ECHO, ProtectionRequest::default()) {
            Ok(c) => {
                let first = net.sendto(a, b"x", ECHO, &[CLIENT_CRED], &c);
                let second = net.sendto(b, b"x", ECHO, &[CLIENT_CRED], &c);
                let why = net.why();
                check(
                    "replay-refused",
                    first.is_ok()
                        && second == Err(Error::Refused)
                        && matches!(why, Ok(Some(secsock::Refusal::Replayed))),
                    format!("{first:?} {second:?} {why:?}"),
                );
            }
            Err(e) => check("replay-refused", false, e),
        }
        let _ = net.close(a);
        let _ = net.close(b);
    }
}

/// The floor cannot be lowered: at connect, by setsockopt, by algorithm.
fn floor(net: &mut Lib) {
    for (name, p) in [
        (
            "floor-level-use",
            ProtectionRequest {
                level: Some(Level::Use),
                ..Default::default()
            },
        ),
        (
            "floor-level-bypass",
            ProtectionRequest {
                level: Some(Level::Bypass),
                ..Default::default()
            },
        ),
        (
            "floor-service-auth",
            ProtectionRequest {
                service: Some(Service::Auth),
                ..Default::default()
            },
        ),
        (
            "floor-algorithm-gmac",
            ProtectionRequest {
                algorithms: AlgSet::of(&[Algorithm::AesGmac128]),
                ..Default::default()
            },
        ),
    ] {
        let r = connect(net, p).map(|(s, _)| s);
        let why = net.why();
        check(
            name,
            r == Err(Error::BelowFloor) && matches!(why, Ok(Some(secsock::Refusal::BelowFloor(_)))),
            format!("{r:?}: {why:?}"),
        );
    }
    match connect(net, ProtectionRequest::default()) {
        Ok((s, _)) => {
            let r = net.setsockopt(
                s,
                SockOptValue::RaiseProtection(ProtectionRequest {
                    level: Some(Level::Use),
                    ..Default::default()
                }),
            );
            let p = net.getsockopt(s, SockOpt::Protection);
            check(
                "floor-setsockopt-lower",
                r == Err(Error::BelowFloor)
                    && matches!(p, Ok(SockOptValue::Protection(p)) if p.level >= Level::Require),
                format!("{r:?}, still {p:?}"),
            );
            let _ = net.close(s);
        }
        Err(e) => check("floor-setsockopt-lower", false, e),
    }
}

/// No key material ever reaches the application: the shared buffers never
/// hold a private or SA key after every kind of call.
fn no_keys(net: &mut Lib) {
    calls(net);
    let secrets: Vec<Vec<u8>> = std::env::var("VETTED_E2E_SECRETS")
        .unwrap_or_default()
        .split(',')
        .filter(|h| h.len() >= 32)
        .filter_map(|h| {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
                .collect()
        })
        .collect();
    let hexes: Vec<String> = std::env::var("VETTED_E2E_SECRETS")
        .unwrap_or_default()
        .split(',')
        .filter(|h| h.len() >= 32)
        .map(String::from)
        .collect();
    let mut seen = Vec::new();
    for name in ["buf_0", "buf_1"] {
        if let Ok(r) = MemoryRegion::by_name(name) {
            let mut b = vec![0u8; r.size()];
            if r.read(0, &mut b).is_ok() {
                for (s, h) in secrets.iter().zip(&hexes) {
                    let raw = b.windows(16).any(|w| w == &s[..16]);
                    let hex = b.windows(32).any(|w| w == &h.as_bytes()[..32]);
                    if raw || hex {
                        seen.push(format!("{name} holds {}", &h[..16]));
                    }
                }
            }
        }
    }
    check(
        "no-key-in-app",
        !secrets.is_empty() && seen.is_empty(),
        format!("{} secrets scanned; {seen:?}", secrets.len()),
    );
}

/// Socket isolation: the client holds a connection; the intruder tries
/// every small socket id with every call; the client's connection still
/// works afterwards.
fn isolation(net: &mut Lib, role: &str) {
    match role {
        "client" => {
            let (s, _) = match connect(net, ProtectionRequest::default()) {
                Ok(x) => x,
                Err(e) => return check("isolation-connect", false, e),
            };
            debug_println!("HOLDING {}", s.0);
            std::thread::sleep(Duration::from_secs(4));
            let r = echo(net, s, b"still mine");
            check(
                "isolation-still-works",
                matches!(&r, Ok(r) if r.data == b"still mine"),
                format!("{r:?}"),
            );
            let _ = net.close(s);
        }
        _ => {
            std::thread::sleep(Duration::from_secs(2));
            let mut wrong = Vec::new();
            for id in 0..256u32 {
                let s = Socket(id);
                let results = [
                    net.send(s, b"x").err(),
                    net.recv(s, 1).err(),
                    net.remote_key(s).err(),
                    net.remote_credentials(s).err(),
                    net.getsockopt(s, SockOpt::Protection).err(),
                    net.setsockopt(s, SockOptValue::NonBlocking(true)).err(),
                    net.accept(s).err(),
                    net.close(s).err(),
                ];
                if results.iter().any(|r| *r != Some(Error::BadSocket)) {
                    wrong.push((id, results));
                }
            }
            check(
                "isolation-foreign-sockets",
                wrong.is_empty(),
                format!("{wrong:?}"),
            );
            // The client's connection holds a port of the dynamic pool
            // (49152..): no other application can bind any of them.
            let mut taken = Vec::new();
            for port in 49152..49232u16 {
                let Ok(b) = net.socket(Proto::Tcp) else { break };
                let local = Endpoint {
                    addr: None,
                    port: Some(port),
                };
                let c = secsock::template(local, Endpoint::ANY, ProtectionRequest::default());
                if let Ok(e) = net.bind(b, local, &[INTRUDER_CRED], &c) {
                    taken.push(e);
                }
                let _ = net.close(b);
            }
            check(
                "isolation-foreign-ports",
                taken.is_empty(),
                format!("{taken:?}"),
            );
            // The intruder's own try is refused with the reason.
            match net.socket(Proto::Tcp) {
                Ok(s) => {
                    let r = net.connect(
                        s,
                        ECHO,
                        &[INTRUDER_CRED],
                        &ctx(ProtectionRequest::default()),
                    );
                    let why = net.why();
                    check(
                        "intruder-refused",
                        r == Err(Error::Refused)
                            && matches!(why, Ok(Some(secsock::Refusal::Policy { .. }))),
                        format!("{r:?}: {why:?}"),
                    );
                }
                Err(e) => check("intruder-refused", false, e),
            }
        }
    }
}

/// The trust PD is stopped (SIGSTOP) by the test when it sees `READY`:
/// a connect must be refused (fail closed) in bounded time, not hang.
fn trust_hung(net: &mut Lib) {
    // A first connection proves the path works.
    match connect(net, ProtectionRequest::default()) {
        Ok((s, _)) => {
            let _ = net.close(s);
        }
        Err(e) => return check("trust-hung-before", false, e),
    }
    debug_println!("READY");
    std::thread::sleep(Duration::from_millis(800));
    let t0 = Instant::now();
    let r = connect(net, ProtectionRequest::default()).map(|(s, _)| s);
    let dt = t0.elapsed();
    let why = net.why();
    check(
        "trust-hung-denied",
        r == Err(Error::Refused)
            && matches!(why, Ok(Some(secsock::Refusal::TrustUnavailable)))
            && dt < Duration::from_secs(10),
        format!("{r:?} after {dt:?}: {why:?}"),
    );
}

/// The trust PD is killed by the test when it sees `READY` (the runner
/// restarts it): each connect around the crash must return in bounded time,
/// allowed or refused for trust being unavailable, never anything else.
fn trust_killed(net: &mut Lib) {
    match connect(net, ProtectionRequest::default()) {
        Ok((s, _)) => {
            let _ = net.close(s);
        }
        Err(e) => return check("trust-killed-before", false, e),
    }
    debug_println!("READY");
    // Connect every 5 ms for 2 s: the kill lands somewhere in it.
    let start = Instant::now();
    let (mut allowed, mut denied, mut longest) = (0, 0, Duration::ZERO);
    let mut wrong = Vec::new();
    while start.elapsed() < Duration::from_secs(2) {
        let t0 = Instant::now();
        let r = connect(net, ProtectionRequest::default()).map(|(s, _)| {
            let _ = net.close(s);
        });
        longest = longest.max(t0.elapsed());
        match r {
            Ok(()) => allowed += 1,
            Err(Error::Refused)
                if net.why().ok().flatten() == Some(secsock::Refusal::TrustUnavailable) =>
            {
                denied += 1
            }
            Err(e) => wrong.push(e),
        }
        // At most ~200 per second: the replay guard holds 4096 nonces.
        std::thread::sleep(Duration::from_millis(5));
    }
    let ok = wrong.is_empty() && longest < Duration::from_secs(10) && allowed > 0;
    let outcomes = format!(
        "{allowed} allowed, {denied} denied (trust unavailable), longest {longest:?}, other {wrong:?}"
    );
    check("trust-killed-bounded", ok, outcomes);
}

/// N connect/close cycles; then the application can still open its whole
/// socket quota and connect (nothing leaked that it could see).
fn cycles(net: &mut Lib) {
    let n: usize = std::env::var("VETTED_E2E_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    // At most this many cycles per second (0: as fast as possible). The
    // network server remembers 4096 context nonces within its 30 s window
    // and refuses every vetted action beyond that (as "replayed"), so long
    // runs stay under ~130 per second.
    let rate: u64 = std::env::var("VETTED_E2E_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let t0 = Instant::now();
    let mut failed = Vec::new();
    for i in 0..n {
        if let Some(us) = (i as u64 * 1_000_000).checked_div(rate) {
            let due = Duration::from_micros(us);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        match connect(net, ProtectionRequest::default()) {
            Ok((s, _)) => {
                if let Err(e) = net.close(s) {
                    failed.push((i, e));
                }
            }
            Err(e) => {
                debug_println!("cycle {i}: {e}: {:?}", net.why());
                failed.push((i, e))
            }
        }
        if failed.len() > 5 {
            break;
        }
    }
    let dt = t0.elapsed();
    check(
        "cycles",
        failed.is_empty(),
        format!("{n} cycles in {dt:?}; failures {failed:?}"),
    );
    debug_println!("CYCLES {n} {}", dt.as_micros());
    let mut held = Vec::new();
    let mut err = None;
    for _ in 0..60 {
        match net.socket(Proto::Tcp) {
            Ok(s) => held.push(s),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    check(
        "cycles-socket-quota",
        err.is_none(),
        format!("{} sockets, {err:?}", held.len()),
    );
    for s in held {
        let _ = net.close(s);
    }
    let r = connect(net, ProtectionRequest::default());
    check(
        "cycles-then-connect",
        r.is_ok(),
        format!("{:?}", r.as_ref().map(|x| x.1)),
    );
    if let Ok((s, _)) = r {
        let _ = net.close(s);
    }
}

fn median(v: &mut [u128]) -> u128 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Figures for `benches/secsock.rs`, printed as `BENCH name value`.
fn bench(net: &mut Lib) {
    let n: usize = std::env::var("VETTED_E2E_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    // Cold: the first connection of a fresh node (credential signature not
    // yet verified by the trust PD, neighbour not yet resolved).
    let t0 = Instant::now();
    match connect(net, ProtectionRequest::default()) {
        Ok((s, _)) => {
            debug_println!("BENCH connect_cold_us {}", t0.elapsed().as_micros());
            let _ = net.close(s);
        }
        Err(e) => return check("bench", false, e),
    }
    let mut warm = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        match connect(net, ProtectionRequest::default()) {
            Ok((s, _)) => {
                warm.push(t.elapsed().as_micros());
                let _ = net.close(s);
            }
            Err(e) => return check("bench", false, e),
        }
    }
    debug_println!("BENCH connect_warm_us {}", median(&mut warm));
    // Cold credential: each connect presents a credential the trust PD has
    // never seen (minted by the bench with `kn sign`; public text).
    if let Ok(path) = std::env::var("VETTED_E2E_FRESH_CREDS") {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut cold = Vec::new();
        for cred in text.split("%%\n").filter(|c| c.contains("KeyNote-Version")) {
            let t = Instant::now();
            let s = match net.socket(Proto::Tcp) {
                Ok(s) => s,
                Err(e) => return check("bench", false, e),
            };
            match net.connect(s, ECHO, &[cred], &ctx(ProtectionRequest::default())) {
                Ok(_) => cold.push(t.elapsed().as_micros()),
                Err(e) => debug_println!("cold credential refused: {e}: {:?}", net.why()),
            }
            let _ = net.close(s);
        }
        if !cold.is_empty() {
            debug_println!("BENCH connect_cold_cred_us {}", median(&mut cold));
        }
    }
    // UDP: the first datagram of a flow is vetted (trust + SPD rule), the
    // next ones on the same flow are not: same stack, same ESP.
    let mut vetted = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..n.min(50) {
        let Ok(u) = net.socket(Proto::Udp) else { break };
        let _ = net.setsockopt(u, SockOptValue::RecvTimeout(2000));
        for i in 0..4 {
            let t = Instant::now();
            let ok = net
                .sendto(
                    u,
                    b"ping",
                    ECHO,
                    &[CLIENT_CRED],
                    &ctx(ProtectionRequest::default()),
                )
                .is_ok()
                && net.recvfrom(u, 64).is_ok();
            let dt = t.elapsed().as_micros();
            if ok {
                if i == 0 {
                    vetted.push(dt)
                } else {
                    plain.push(dt)
                }
            }
        }
        let _ = net.close(u);
    }
    debug_println!("BENCH udp_rtt_vetted_us {}", median(&mut vetted));
    debug_println!("BENCH udp_rtt_plain_us {}", median(&mut plain));
    // Bulk over ESP: 32 KiB out, 32 KiB echoed back, repeated.
    if let Ok((s, _)) = connect(net, ProtectionRequest::default()) {
        let chunk = vec![0x5au8; 32 * 1024];
        let rounds = 64;
        let t = Instant::now();
        let mut ok = true;
        for _ in 0..rounds {
            if echo(net, s, &chunk).map(|r| r.data.len()) != Ok(chunk.len()) {
                ok = false;
                break;
            }
        }
        let dt = t.elapsed();
        if ok {
            let bytes = (2 * rounds * chunk.len()) as f64;
            debug_println!(
                "BENCH esp_echo_mbit_s {:.1}",
                bytes * 8.0 / dt.as_secs_f64() / 1e6
            );
        }
        let _ = net.close(s);
    }
    check("bench", true, "done");
}

fn init() -> microkit::NullHandler {
    let role = microkit::pd_name();
    let scenario = std::env::var("VETTED_E2E_SCENARIO").unwrap_or_default();
    match SecSock::pd() {
        Ok(mut net) => match (scenario.as_str(), role) {
            ("calls", "client") => calls(&mut net),
            ("floor", _) => floor(&mut net),
            ("keys", "client") => no_keys(&mut net),
            ("isolation", r) => isolation(&mut net, r),
            ("trust-hung", "client") => trust_hung(&mut net),
            ("trust-killed", "client") => trust_killed(&mut net),
            ("cycles", "client") => cycles(&mut net),
            ("bench", "client") => bench(&mut net),
            _ => {}
        },
        Err(e) => check("channel", false, e),
    }
    debug_println!("E2E DONE");
    microkit::stop()
}

microkit::protection_domain!(init);
