//! Connection-path benchmarks at the core level: two `NetServer`s in one
//! process, back to back over an in-memory Ethernet link (no PD IPC, no
//! host NIC), so the figures isolate vetting + SPD + ESP from transport.
//!
//! 1. Connect latency (request until established, SYN/SYN-ACK/ACK through
//!    both stacks, and the accept on B):
//!    - plain: a bare smoltcp connect on the same stacks, BYPASS, no vetting;
//!    - Sec_connect with a fixed authority (vetting machinery, replay guard,
//!      SPD rules, ESP; no KeyNote);
//!    - Sec_connect with KeyNote, warm: policy parsed once, a query per action;
//!    - Sec_connect with KeyNote, cold: policy and credential text parsed
//!      for every query (no cache).
//! 2. Bulk TCP throughput A→B through the netserver API (Send/Recv):
//!    over ESP (ChaCha20-Poly1305 and AES-GCM-128) vs the same path at level
//!    bypass (no ESP).
//!
//! Ratios are against the baseline measured in the same run.
//! `BENCH_CONNECTS` and `BENCH_BYTES` scale the runs.

use netserver::testbed::{Testbed, A, APP, B, PLAIN};
use netserver::vet::{Authority, Unreachable};
use netserver_api::{AlgSet, Algorithm, Endpoint, ProtectionRequest, Proto, Request, Response};
use policyrepo_api::AppProfile;
use std::time::{Duration, Instant};
use trust_api::{Action, Decision};

const POLICY: &str = concat!(
    "Authorizer: \"POLICY\"\n",
    "Licensees: \"client-key\" || \"echo-key\" || \"plain-key\"\n",
    "Conditions: app_domain == \"vetted\" && (protocol == \"tcp\" || protocol == \"udp\") &&\n",
    "    (level == \"require\" || level == \"bypass\") &&\n",
    "    (remote_port == \"7\" || operation == \"accept\" || operation == \"bind\") -> \"ALLOW\";\n",
);

/// KeyNote as the trust PD would run it.
struct KeyNote {
    apps: Vec<AppProfile>,
    warm: Option<keynote::Session>,
    cache: bool,
}

impl KeyNote {
    fn new(apps: Vec<AppProfile>, cache: bool) -> Self {
        KeyNote {
            apps,
            warm: None,
            cache,
        }
    }

    fn session() -> keynote::Session {
        let mut s = keynote::Session::new();
        s.add_policy(POLICY).expect("policy parses");
        s
    }
}

impl Authority for KeyNote {
    fn profile(&mut self, pd: &str) -> Result<AppProfile, Unreachable> {
        self.apps
            .iter()
            .find(|a| a.pd == pd)
            .cloned()
            .ok_or(Unreachable)
    }

    fn decide(
        &mut self,
        requester: &str,
        action: &Action,
        _c: &[String],
    ) -> Result<Decision, Unreachable> {
        let cold;
        let session = if self.cache {
            self.warm.get_or_insert_with(Self::session)
        } else {
            cold = Self::session();
            &cold
        };
        let mut q = keynote::Query::new(&trust_api::VALUES).map_err(|_| Unreachable)?;
        for (k, v) in action.attributes() {
            q.set(k, &v).map_err(|_| Unreachable)?;
        }
        q.add_authorizer(requester.trim_matches('"'))
            .map_err(|_| Unreachable)?;
        let v = session.check(&mut q);
        Ok(Decision {
            allowed: v.value() == "ALLOW",
            value: v.value().into(),
            reasons: vec![],
        })
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sock(r: Result<Response, netserver_api::Error>) -> u32 {
    match r {
        Ok(Response::Socket(s)) => s,
        other => panic!("{other:?}"),
    }
}

/// B listens on `port` as `app`.
fn listen(t: &mut Testbed, app: u32, port: u16) -> u32 {
    let now = t.now;
    let l = sock(t.b.handle(
        &mut t.auth_b,
        app,
        Request::Socket { proto: Proto::Tcp },
        now,
    ));
    let ctx = t.ctx(Endpoint::ANY, ProtectionRequest::default());
    let r = t.b.handle(
        &mut t.auth_b,
        app,
        Request::Bind {
            sock: l,
            local: Endpoint {
                addr: None,
                port: Some(port),
            },
            ctx,
            credentials: vec![],
        },
        now,
    );
    assert!(matches!(r, Ok(Response::Bound(_))), "{r:?}");
    t.b.handle(
        &mut t.auth_b,
        app,
        Request::Listen {
            sock: l,
            backlog: 4,
        },
        now,
    )
    .unwrap();
    l
}

fn accept_and_close(t: &mut Testbed, app: u32, l: u32) {
    let now = t.now;
    match t
        .b
        .handle(&mut t.auth_b, app, Request::Accept { sock: l }, now)
    {
        Ok(Response::Accepted { sock, .. }) => {
            t.b.handle(&mut t.auth_b, app, Request::Close { sock }, now)
                .unwrap();
        }
        other => panic!("accept: {other:?}"),
    }
}

/// Median and mean of one connect kind, in µs.
fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let med = v[v.len() / 2].as_secs_f64() * 1e6;
    let mean = v.iter().map(|d| d.as_secs_f64()).sum::<f64>() / v.len() as f64 * 1e6;
    (med, mean)
}

/// One request to node A's netserver.
type Call = dyn FnMut(&mut Testbed, Request) -> Result<Response, netserver_api::Error>;

fn sec_connects(n: usize, auth: Option<KeyNote>) -> Vec<Duration> {
    let mut t = Testbed::new();
    let l = listen(&mut t, APP, 7);
    let mut auth_a: Box<Call> = match auth {
        None => Box::new(|t: &mut Testbed, r| {
            let now = t.now;
            t.a.handle(&mut t.auth_a, APP, r, now)
        }),
        Some(mut k) => Box::new(move |t: &mut Testbed, r| {
            let now = t.now;
            t.a.handle(&mut k, APP, r, now)
        }),
    };
    let remote = Endpoint::new(B, 7);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i % 100 == 0 {
            t.advance(1);
        }
        let start = Instant::now();
        let s = sock(auth_a(&mut t, Request::Socket { proto: Proto::Tcp }));
        let ctx = t.ctx(remote, ProtectionRequest::default());
        let req = Request::Connect {
            sock: s,
            remote,
            ctx,
            credentials: vec![],
        };
        let mut r = auth_a(&mut t, req.clone());
        while r == Err(netserver_api::Error::WouldBlock) {
            t.pump(1);
            r = auth_a(&mut t, req.clone());
        }
        assert!(matches!(r, Ok(Response::Connected { .. })), "{r:?}");
        out.push(start.elapsed());
        accept_and_close(&mut t, APP, l);
        auth_a(&mut t, Request::Close { sock: s }).unwrap();
        t.pump(20);
    }
    out
}

fn raw_connects(n: usize) -> Vec<Duration> {
    let mut t = Testbed::new();
    let l = listen(&mut t, PLAIN, 8);
    // BYPASS for A's side of port 8 (B's listener got one from its bind).
    let sel = ipsec::Selector {
        local: ipsec::AddrSelector::Any,
        remote: ipsec::AddrSelector::Any,
        protocol: Some(6),
        local_port: ipsec::PortSelector::Any,
        remote_port: ipsec::PortSelector::port(8),
    };
    t.a.device_mut()
        .engine_mut()
        .spd
        .insert(5, sel, ipsec::Action::Bypass);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        let port = 40000 + (i % 5000) as u16;
        let h = t.a.bench_raw_connect((A, port), (B, 8)).expect("connect");
        t.a.poll(t.now.instant);
        while !t.a.bench_raw_established(h) {
            t.pump(1);
        }
        out.push(start.elapsed());
        accept_and_close(&mut t, PLAIN, l);
        t.a.bench_raw_abort(h);
        t.pump(20);
    }
    out
}

/// Moves `total` bytes A→B over a connection of `app`s (B listening on
/// `port`) and returns MB/s.
fn bulk(app: u32, port: u16, prot: ProtectionRequest, total: usize) -> f64 {
    let mut t = Testbed::new();
    let l = listen(&mut t, app, port);
    let now = t.now;
    let s = sock(t.a.handle(
        &mut t.auth_a,
        app,
        Request::Socket { proto: Proto::Tcp },
        now,
    ));
    let remote = Endpoint::new(B, port);
    let ctx = t.ctx(remote, prot);
    let req = Request::Connect {
        sock: s,
        remote,
        ctx,
        credentials: vec![],
    };
    let mut r = t.a.handle(&mut t.auth_a, app, req.clone(), now);
    while r == Err(netserver_api::Error::WouldBlock) {
        t.pump(1);
        let now = t.now;
        r = t.a.handle(&mut t.auth_a, app, req.clone(), now);
    }
    assert!(matches!(r, Ok(Response::Connected { .. })), "{r:?}");
    let now = t.now;
    let acc = match t
        .b
        .handle(&mut t.auth_b, app, Request::Accept { sock: l }, now)
    {
        Ok(Response::Accepted { sock, .. }) => sock,
        other => panic!("{other:?}"),
    };
    let chunk = vec![0x5au8; 16 * 1024];
    let (mut sent, mut got) = (0usize, 0usize);
    let start = Instant::now();
    while got < total {
        let now = t.now;
        if sent < total {
            if let Ok(Response::Sent(n)) = t.a.handle(
                &mut t.auth_a,
                app,
                Request::Send {
                    sock: s,
                    data: chunk.clone(),
                },
                now,
            ) {
                sent += n as usize;
            }
        }
        t.pump(1);
        let now = t.now;
        while let Ok(Response::Data { data, .. }) = t.b.handle(
            &mut t.auth_b,
            app,
            Request::Recv {
                sock: acc,
                max_len: 60 * 1024,
            },
            now,
        ) {
            if data.is_empty() {
                break;
            }
            got += data.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    got as f64 / secs / 1e6
}

fn main() {
    let n = env("BENCH_CONNECTS", 300);
    let total = env("BENCH_BYTES", 16 << 20);
    println!("netserver connection path (core level, two stacks in one process, in-memory link)");
    println!("connect latency, {n} connects each (median / mean, µs):");
    let raw = stats(raw_connects(n));
    let rows = [
        ("plain smoltcp connect (baseline)", raw),
        ("Sec_connect, fixed authority", stats(sec_connects(n, None))),
        (
            "Sec_connect, KeyNote warm",
            stats(sec_connects(
                n,
                Some(KeyNote::new(netserver::testbed::apps_a(), true)),
            )),
        ),
        (
            "Sec_connect, KeyNote cold",
            stats(sec_connects(
                n,
                Some(KeyNote::new(netserver::testbed::apps_a(), false)),
            )),
        ),
    ];
    for (name, (med, mean)) in rows {
        println!(
            "  {name:<36} {med:9.1} / {mean:9.1}   ratio (median) {:.2}",
            med / raw.0
        );
    }
    println!(
        "bulk TCP A->B through Send/Recv, {} MiB each (MB/s):",
        total >> 20
    );
    let plain = bulk(PLAIN, 8, ProtectionRequest::default(), total);
    println!(
        "  {:<36} {plain:9.1}   ratio 1.00",
        "level bypass, no ESP (baseline)"
    );
    for alg in [Algorithm::ChaCha20Poly1305, Algorithm::AesGcm128] {
        let prot = ProtectionRequest {
            algorithms: AlgSet::of(&[alg]),
            ..Default::default()
        };
        let esp = bulk(APP, 7, prot, total);
        println!(
            "  {:<36} {esp:9.1}   ratio {:.2}",
            format!("ESP {}", alg.name()),
            esp / plain
        );
    }
}
