//! Test PDs around the real `netserver` PD (`tests/pd.rs`); the role is the
//! PD's name:
//!
//! - `policyrepo`: answers GetNetwork/GetApps/GetSas with node A of
//!   `netserver::testbed`;
//! - `trust`: allows everything, denies PD `other`, hangs on PD `plain`;
//! - `client`: UDP and TCP echo through node B (the test process), printing
//!   what it gets; then notifies `plain` (its channel 2);
//! - `other`: is refused and tries to close the client's socket;
//! - `plain`: waits for `client`, then asks for a connection while the
//!   trust PD hangs: refused, not hung.

use crate::app::{App, RPC_MAX};
use microkit::{debug_println, Channel, ChannelSet, Handler, MemoryRegion, MessageInfo};
use netserver::testbed::{apps_a, network, sas, A, B};
use netserver_api::{Endpoint, Proto, Request, Response};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) struct Pd;

impl Handler for Pd {
    type Error = core::convert::Infallible;

    fn notified(&mut self, _c: ChannelSet) -> Result<(), Self::Error> {
        Ok(())
    }

    fn protected(&mut self, _ch: Channel, msg: MessageInfo) -> Result<MessageInfo, Self::Error> {
        let Ok(buf) = MemoryRegion::by_name("buf_0") else {
            return Ok(MessageInfo::new(5, 0));
        };
        let server = ipc::rpc::Server::<RPC_MAX>::new(buf);
        Ok(match microkit::pd_name() {
            "policyrepo" => server.handle(msg, |req: policyrepo_api::Request| {
                use policyrepo_api::{Request as R, Response as P};
                match req {
                    R::GetNetwork => Ok(P::Network(network(true))),
                    R::GetApps => Ok(P::Apps(apps_a())),
                    R::GetSas => Ok(P::Sas(sas(A, B))),
                    _ => Err(policyrepo_api::Error::NotPermitted),
                }
            }),
            "trust" => server.handle(msg, |req: trust_api::Request| {
                use trust_api::{Decision, Request as Q, Response as T};
                match req {
                    Q::Query { action, .. } => {
                        if action.requesting_pd == "plain" && bench().is_none() {
                            // A hung trust PD.
                            loop {
                                std::thread::sleep(Duration::from_secs(3600));
                            }
                        }
                        let deny = action.requesting_pd == "other";
                        Ok(T::Decision(Decision {
                            allowed: !deny,
                            value: if deny { "DENY" } else { "ALLOW" }.into(),
                            reasons: if deny {
                                vec!["test policy: other may not connect".into()]
                            } else {
                                vec![]
                            },
                        }))
                    }
                    Q::Reload => Err(trust_api::Error::NotPermitted),
                }
            }),
            _ => MessageInfo::new(1, 0),
        })
    }
}

/// The app of this PD (its buf_0 must be mapped), nonces from its pid.
fn app() -> App {
    App::open(
        u128::from(std::process::id()) << 64,
        Duration::from_secs(10),
    )
    .expect("buf_0")
}

fn socket(app: &App, proto: Proto) -> u32 {
    match app.call(&Request::Socket { proto }) {
        Ok(Response::Socket(s)) => s,
        other => panic!("socket: {other:?}"),
    }
}

/// Time since the first reading (the test PDs' monotonic clock).
pub(crate) fn uptime() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn client() {
    let mut app = app();
    let remote = Endpoint::new(B, 7);
    let u = socket(&app, Proto::Udp);
    let ctx = app.ctx(remote);
    let r = app.call(&Request::SendTo {
        sock: u,
        remote,
        ctx,
        credentials: vec![],
        data: b"udp hello".to_vec(),
    });
    debug_println!("udp sendto: {r:?}");
    match app.wait_call(&Request::RecvFrom {
        sock: u,
        max_len: 100,
    }) {
        Ok(Response::Data {
            data, protection, ..
        }) => debug_println!(
            "udp echo: {} alg={:?} spi={:?} key={:?}",
            String::from_utf8_lossy(&data),
            protection.algorithm,
            protection.spi,
            protection.peer_key
        ),
        other => debug_println!("udp recvfrom: {other:?}"),
    }
    let t = socket(&app, Proto::Tcp);
    let ctx = app.ctx(remote);
    let r = app.wait_call(&Request::Connect {
        sock: t,
        remote,
        ctx,
        credentials: vec![],
    });
    debug_println!(
        "tcp connect: {}",
        matches!(r, Ok(Response::Connected { .. }))
    );
    let r = app.call(&Request::Send {
        sock: t,
        data: b"tcp hello".to_vec(),
    });
    debug_println!("tcp send: {r:?}");
    match app.wait_call(&Request::Recv {
        sock: t,
        max_len: 100,
    }) {
        Ok(Response::Data {
            data, protection, ..
        }) => debug_println!(
            "tcp echo: {} alg={:?} key={:?}",
            String::from_utf8_lossy(&data),
            protection.algorithm,
            protection.peer_key
        ),
        other => debug_println!("tcp recv: {other:?}"),
    }
    let r = app.call(&Request::GetRemoteKey { sock: t });
    debug_println!("remote key: {r:?}");
    debug_println!("close: {:?}", app.call(&Request::Close { sock: t }));
    Channel::new(2).notify(); // plain's turn
    microkit::stop();
}

fn other() {
    let mut app = app();
    let remote = Endpoint::new(B, 7);
    let t = socket(&app, Proto::Tcp);
    let ctx = app.ctx(remote);
    let r = app.call(&Request::Connect {
        sock: t,
        remote,
        ctx,
        credentials: vec![],
    });
    debug_println!("other connect: {r:?}");
    debug_println!("other refusal: {:?}", app.call(&Request::LastRefusal));
    // Socket ids are global: 1 and 2 are the client's (or nobody's).
    for s in 1..=3 {
        if s != t {
            debug_println!(
                "other close {s}: {:?}",
                app.call(&Request::Close { sock: s })
            );
        }
    }
    microkit::stop();
}

fn plain() {
    microkit::wait_notified(ChannelSet::from_bits(1 << 2));
    let mut app = app();
    let remote = Endpoint::new(B, 7);
    let t = socket(&app, Proto::Tcp);
    let ctx = app.ctx(remote);
    let start = Instant::now();
    let r = app.call(&Request::Connect {
        sock: t,
        remote,
        ctx,
        credentials: vec![],
    });
    debug_println!(
        "plain connect with hung trust: {r:?} after {} s",
        start.elapsed().as_secs()
    );
    debug_println!("plain refusal: {:?}", app.call(&Request::LastRefusal));
    microkit::stop();
}

/// `VETTED_BENCH=N`: the apps measure N connects instead of testing.
fn bench() -> Option<usize> {
    std::env::var("VETTED_BENCH").ok()?.parse().ok()
}

/// N connects to B:`port`, each until established, then closed; prints
/// the median and mean latency in µs.
fn bench_connects(who: &str, port: u16, n: usize) {
    let mut app = app();
    let remote = Endpoint::new(B, port);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let t = socket(&app, Proto::Tcp);
        let ctx = app.ctx(remote);
        let r = app.wait_call(&Request::Connect {
            sock: t,
            remote,
            ctx,
            credentials: vec![],
        });
        times.push(t0.elapsed());
        if !matches!(r, Ok(Response::Connected { .. })) {
            debug_println!("bench {who} failed: {r:?}");
            microkit::stop();
        }
        let _ = app.call(&Request::Close { sock: t });
    }
    times.sort();
    let med = times[n / 2].as_secs_f64() * 1e6;
    let mean = times.iter().map(|d| d.as_secs_f64()).sum::<f64>() / n as f64 * 1e6;
    debug_println!("bench {who}: median {med:.1} mean {mean:.1}");
}

/// `VETTED_REAL=1`: stand-in for the demo apps of system/node-a.system
/// (real policyrepo, trust and bundle; no node B needed): each asks for
/// its connection and prints the outcome and the refusal reason.
fn real(who: &str) {
    let mut app = app();
    let remote = Endpoint::new(B, 7);
    let t = socket(&app, Proto::Tcp);
    let mut ctx = app.ctx(remote);
    if who == "lowball" {
        ctx.protection.level = Some(netserver_api::Level::Use);
    }
    let r = app.call(&Request::Connect {
        sock: t,
        remote,
        ctx,
        credentials: vec![],
    });
    debug_println!("real {who} connect: {r:?}");
    if who == "client" && std::env::var("VETTED_REAL").as_deref() == Ok("2") {
        // Two nodes: finish the connection and echo through node B.
        let ctx = app.ctx(remote);
        let r = app.wait_call(&Request::Connect {
            sock: t,
            remote,
            ctx,
            credentials: vec![],
        });
        debug_println!("real client connected: {r:?}");
        let r = app.call(&Request::Send {
            sock: t,
            data: b"hello, node-b".to_vec(),
        });
        debug_println!("real client send: {r:?}");
        match app.wait_call(&Request::Recv {
            sock: t,
            max_len: 100,
        }) {
            Ok(Response::Data {
                data, protection, ..
            }) => debug_println!(
                "real client echo: {:?} alg={:?} spi={:?} peer={:?}",
                String::from_utf8_lossy(&data),
                protection.algorithm,
                protection.spi,
                protection.peer_key
            ),
            other => debug_println!("real client recv: {other:?}"),
        }
        debug_println!(
            "real client remote credentials: {}",
            match app.call(&Request::GetRemoteCredentials { sock: t }) {
                Ok(Response::Credentials(c)) => std::format!("{} credential(s)", c.len()),
                other => std::format!("{other:?}"),
            }
        );
    }
    if let Ok(Response::Refusal(Some(reason))) = app.call(&Request::LastRefusal) {
        debug_println!("real {who} refusal: {reason}");
    }
    let _ = app.call(&Request::Close { sock: t });
    microkit::stop();
}

/// Node B's `echo` (VETTED_REAL): TCP port 7, one connection at a time.
fn echo() {
    let mut app = app();
    let l = socket(&app, Proto::Tcp);
    let ctx = app.ctx(Endpoint::ANY);
    let r = app.call(&Request::Bind {
        sock: l,
        local: Endpoint {
            addr: None,
            port: Some(7),
        },
        ctx,
        credentials: vec![],
    });
    debug_println!("real echo bind: {r:?}");
    let r = app.call(&Request::Listen {
        sock: l,
        backlog: 4,
    });
    debug_println!("real echo listen: {r:?}");
    loop {
        let s = match app.wait_call(&Request::Accept { sock: l }) {
            Ok(Response::Accepted { sock, peer }) => {
                debug_println!("real echo accepted {peer}");
                sock
            }
            _ => continue,
        };
        loop {
            match app.wait_call(&Request::Recv {
                sock: s,
                max_len: 1000,
            }) {
                Ok(Response::Data { data, .. }) if !data.is_empty() => {
                    let _ = app.call(&Request::Send { sock: s, data });
                }
                _ => break,
            }
        }
        let _ = app.call(&Request::Close { sock: s });
    }
}

pub(crate) fn init() -> Pd {
    if std::env::var("VETTED_REAL").is_ok() {
        let name = microkit::pd_name();
        if matches!(name, "client" | "intruder" | "lowball") {
            real(name);
        }
        if name == "echo" {
            echo();
        }
        return Pd;
    }
    match (microkit::pd_name(), bench()) {
        ("client", Some(n)) => {
            bench_connects("client", 7, n.max(1));
            Channel::new(2).notify();
            microkit::stop();
        }
        ("plain", Some(n)) => {
            microkit::wait_notified(ChannelSet::from_bits(1 << 2));
            bench_connects("plain", 8, n.max(1));
            microkit::stop();
        }
        ("other", Some(_)) => microkit::stop(),
        ("client", None) => client(),
        ("other", None) => other(),
        ("plain", None) => plain(),
        _ => {}
    }
    Pd
}
