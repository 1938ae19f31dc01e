//! Shared by tests/pd.rs and benches/pd_connect.rs: node B (a `netserver`
//! core in the calling process, echoing over ESP on a UDP link) and a run
//! of node A (the real `netserver` PD with the test PDs) under the runner.
#![allow(dead_code)]

use microkit::runner::{self, Options, Outcome, Stream};
use netserver::stack::{NetConfig, NetServer, Now};
use netserver::testbed::{apps_b, network, sas, FixedAuthority, A, APP, B, PLAIN};
use netserver_api::{Endpoint, ProtectionRequest, Proto, Request, Response, SecurityContext};
use netserver_pd::nic::HostNic;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NETSERVER: &str = env!("CARGO_BIN_EXE_netserver");
const TESTPD: &str = env!("CARGO_BIN_EXE_netserver-testpd");

pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Node B: echoes UDP and TCP on port 7 (app `echo`, ESP) and TCP on port
/// 8 (app `plain`, level bypass) until `stop`; closes connections at EOF.
pub fn node_b<D: smoltcp::phy::Device>(nic: D, stop: Arc<AtomicBool>) {
    let t0 = Instant::now();
    let now = || Now {
        instant: smoltcp::time::Instant::from_micros(t0.elapsed().as_micros() as i64),
        unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    };
    let cfg = NetConfig::new("node-b", network(false), apps_b(), sas(B, A));
    let mut b = NetServer::new(nic, cfg, now().instant).unwrap();
    let mut auth = FixedAuthority::new(apps_b());
    let mut nonce = 0u128;
    let mut ctx = |n: Now| {
        nonce += 1;
        SecurityContext {
            local: Endpoint::ANY,
            remote: Endpoint::ANY,
            issued: n.unix,
            nonce: nonce.to_le_bytes(),
            protection: ProtectionRequest::default(),
            signature: vec![],
        }
    };
    let mut bind = |b: &mut NetServer<D>, auth: &mut FixedAuthority, app, proto, port| {
        let n = now();
        let Ok(Response::Socket(s)) = b.handle(auth, app, Request::Socket { proto }, n) else {
            panic!()
        };
        let local = Endpoint {
            addr: None,
            port: Some(port),
        };
        let c = ctx(n);
        let r = b.handle(
            auth,
            app,
            Request::Bind {
                sock: s,
                local,
                ctx: c,
                credentials: vec![],
            },
            n,
        );
        assert!(matches!(r, Ok(Response::Bound(_))), "{r:?}");
        s
    };
    let u = bind(&mut b, &mut auth, APP, Proto::Udp, 7);
    let l = bind(&mut b, &mut auth, APP, Proto::Tcp, 7);
    let l8 = bind(&mut b, &mut auth, PLAIN, Proto::Tcp, 8);
    for (app, sock) in [(APP, l), (PLAIN, l8)] {
        let r = b.handle(&mut auth, app, Request::Listen { sock, backlog: 4 }, now());
        assert_eq!(r, Ok(Response::Ok));
    }
    let mut conns: Vec<(u32, u32)> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let n = now();
        b.poll(n.instant);
        if let Ok(Response::Data { data, from, .. }) = b.handle(
            &mut auth,
            APP,
            Request::RecvFrom {
                sock: u,
                max_len: 1000,
            },
            n,
        ) {
            let mut c = ctx(n);
            c.remote = from;
            let _ = b.handle(
                &mut auth,
                APP,
                Request::SendTo {
                    sock: u,
                    remote: from,
                    ctx: c,
                    credentials: vec![],
                    data,
                },
                n,
            );
        }
        for (app, listener) in [(APP, l), (PLAIN, l8)] {
            while let Ok(Response::Accepted { sock, .. }) =
                b.handle(&mut auth, app, Request::Accept { sock: listener }, n)
            {
                conns.push((app, sock));
            }
        }
        conns.retain(|&(app, s)| {
            match b.handle(
                &mut auth,
                app,
                Request::Recv {
                    sock: s,
                    max_len: 1000,
                },
                n,
            ) {
                Ok(Response::Data { data, .. }) if !data.is_empty() => {
                    let _ = b.handle(&mut auth, app, Request::Send { sock: s, data }, n);
                    true
                }
                Err(netserver_api::Error::WouldBlock) => true,
                // End of stream or a dead connection: close our side.
                _ => {
                    let _ = b.handle(&mut auth, app, Request::Close { sock: s }, n);
                    false
                }
            }
        });
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Runs node A (the real `netserver` PD and the test PDs) linked to
/// `udp:pa:pb`, with `VETTED_BENCH` set to `bench` (when given) in every
/// PD's environment; returns how the run ended and every output line.
pub fn run_node_a(pa: u16, pb: u16, bench: Option<&str>) -> (Outcome, String) {
    let sd = sdf::parse(SYSTEM, "pd-test.system", &sdf::Config::default()).expect("parses");
    let dir = std::path::Path::new(TESTPD).parent().unwrap().to_path_buf();
    let mut opts = Options::new(dir);
    opts.timeout = Some(Duration::from_secs(120));
    let nic_a = format!("udp:{pa}:{pb}");
    let bench = bench.map(String::from);
    opts.image_override = Some(Box::new(move |pd| {
        let mut c = Command::new(if pd.name == "netserver" {
            NETSERVER
        } else {
            TESTPD
        });
        c.env("VETTED_NIC", &nic_a);
        if let Some(b) = &bench {
            c.env("VETTED_BENCH", b);
        }
        c
    }));
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    opts.output = Some(Arc::new(move |pd: &str, s: Stream, line: &str| {
        let who = if s == Stream::Runner { "runner" } else { pd };
        o.lock().unwrap().push_str(&format!("[{who}] {line}\n"));
    }));
    let outcome = runner::run(&sd, &opts).expect("runs");
    let text = out.lock().unwrap().clone();
    (outcome, text)
}

/// Node B in a thread for the duration of `f`; `f` gets node A's and B's ports.
pub fn with_node_b<T>(f: impl FnOnce(u16, u16) -> T) -> T {
    with_node_b_on(|nic| nic, f)
}

/// [`with_node_b`] with node B's NIC wrapped by `wrap` (e.g. to lose frames).
pub fn with_node_b_on<D: smoltcp::phy::Device + Send + 'static, T>(
    wrap: impl FnOnce(HostNic) -> D,
    f: impl FnOnce(u16, u16) -> T,
) -> T {
    let (pa, pb) = (free_port(), free_port());
    let nic_b = wrap(HostNic::open(Some(&format!("udp:{pb}:{pa}"))).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let b = std::thread::spawn(move || node_b(nic_b, s2));
    let r = f(pa, pb);
    stop.store(true, Ordering::SeqCst);
    b.join().unwrap();
    r
}

pub const SYSTEM: &str = r#"<system>
  <memory_region name="net_trust" size="0x20000" />
  <memory_region name="net_repo" size="0x20000" />
  <memory_region name="client_net" size="0x20000" />
  <memory_region name="other_net" size="0x20000" />
  <memory_region name="plain_net" size="0x20000" />
  <protection_domain name="trust" priority="250" passive="true">
    <program_image path="netserver-testpd.elf" />
    <map mr="net_trust" vaddr="0x3000000" perms="rw" setvar_vaddr="buf_0" />
  </protection_domain>
  <protection_domain name="policyrepo" priority="250" passive="true">
    <program_image path="netserver-testpd.elf" />
    <map mr="net_repo" vaddr="0x3000000" perms="rw" setvar_vaddr="buf_0" />
  </protection_domain>
  <protection_domain name="netserver" priority="200" passive="true">
    <program_image path="netserver.elf" />
    <map mr="net_trust" vaddr="0x3100000" perms="rw" setvar_vaddr="buf_1" />
    <map mr="net_repo" vaddr="0x3200000" perms="rw" setvar_vaddr="buf_2" />
    <map mr="client_net" vaddr="0x3a00000" perms="rw" setvar_vaddr="buf_10" />
    <map mr="other_net" vaddr="0x3b00000" perms="rw" setvar_vaddr="buf_11" />
    <map mr="plain_net" vaddr="0x3c00000" perms="rw" setvar_vaddr="buf_12" />
  </protection_domain>
  <protection_domain name="client" priority="100">
    <program_image path="netserver-testpd.elf" />
    <map mr="client_net" vaddr="0x3000000" perms="rw" setvar_vaddr="buf_0" />
  </protection_domain>
  <protection_domain name="other" priority="100">
    <program_image path="netserver-testpd.elf" />
    <map mr="other_net" vaddr="0x3000000" perms="rw" setvar_vaddr="buf_0" />
  </protection_domain>
  <protection_domain name="plain" priority="100">
    <program_image path="netserver-testpd.elf" />
    <map mr="plain_net" vaddr="0x3000000" perms="rw" setvar_vaddr="buf_0" />
  </protection_domain>
  <channel><end pd="netserver" id="1" pp="true" /><end pd="trust" id="0" /></channel>
  <channel><end pd="netserver" id="2" pp="true" /><end pd="policyrepo" id="0" /></channel>
  <channel><end pd="client" id="0" pp="true" /><end pd="netserver" id="10" /></channel>
  <channel><end pd="other" id="0" pp="true" /><end pd="netserver" id="11" /></channel>
  <channel><end pd="plain" id="0" pp="true" /><end pd="netserver" id="12" /></channel>
  <channel><end pd="client" id="2" /><end pd="plain" id="2" /></channel>
</system>"#;
