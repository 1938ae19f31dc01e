//! The real `netserver` PD on the host backend: node A is a small system
//! (netserver, test policyrepo and trust, three apps) run by the runner;
//! node B is a `netserver` core in this test process, on the other end of
//! a UDP link on loopback, echoing over ESP.

use microkit::runner::{self, Options, Outcome, Stream};
use netserver::stack::{NetConfig, NetServer, Now};
use netserver::testbed::{apps_b, sas, FixedAuthority, A, APP, B};
use netserver_api::{Endpoint, ProtectionRequest, Proto, Request, Response, SecurityContext};
use netserver_pd::nic::HostNic;
use policyrepo_api::NetworkConfig;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NETSERVER: &str = env!("CARGO_BIN_EXE_netserver");
const TESTPD: &str = env!("CARGO_BIN_EXE_netserver-testpd");

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Node B: echoes UDP and TCP on port 7 until `stop`.
fn node_b(nic: HostNic, stop: Arc<AtomicBool>) {
    let t0 = Instant::now();
    let now = || Now {
        instant: smoltcp::time::Instant::from_micros(t0.elapsed().as_micros() as i64),
        unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    };
    let cfg = NetConfig::new(
        "node-b",
        NetworkConfig {
            mac: [2, 0, 0, 0, 0, 2],
            addresses: vec![(B, 24)],
            gateway: None,
        },
        apps_b(),
        sas(B, A),
    );
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
    let port7 = Endpoint {
        addr: None,
        port: Some(7),
    };
    let mut bind = |b: &mut NetServer<HostNic>, auth: &mut FixedAuthority, proto| {
        let n = now();
        let Ok(Response::Socket(s)) = b.handle(auth, APP, Request::Socket { proto }, n) else {
            panic!()
        };
        let c = ctx(n);
        let r = b.handle(
            auth,
            APP,
            Request::Bind {
                sock: s,
                local: port7,
                ctx: c,
                credentials: vec![],
            },
            n,
        );
        assert!(matches!(r, Ok(Response::Bound(_))), "{r:?}");
        s
    };
    let u = bind(&mut b, &mut auth, Proto::Udp);
    let l = bind(&mut b, &mut auth, Proto::Tcp);
    b.handle(
        &mut auth,
        APP,
        Request::Listen {
            sock: l,
            backlog: 2,
        },
        now(),
    )
    .unwrap();
    let mut conns = Vec::new();
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
            // A reply to an already vetted flow needs no new context
            // beyond the first; a fresh one each time is fine too.
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
        if let Ok(Response::Accepted { sock, .. }) =
            b.handle(&mut auth, APP, Request::Accept { sock: l }, n)
        {
            conns.push(sock);
        }
        for s in &conns {
            if let Ok(Response::Data { data, .. }) = b.handle(
                &mut auth,
                APP,
                Request::Recv {
                    sock: *s,
                    max_len: 1000,
                },
                n,
            ) {
                if !data.is_empty() {
                    let _ = b.handle(&mut auth, APP, Request::Send { sock: *s, data }, n);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

const SYSTEM: &str = r#"<system>
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

#[test]
fn netserver_pd_serves_apps_over_esp_and_fails_closed() {
    let (pa, pb) = (free_port(), free_port());
    let nic_b = HostNic::open(Some(&format!("udp:{pb}:{pa}"))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let b = std::thread::spawn(move || node_b(nic_b, s2));

    let sd = sdf::parse(SYSTEM, "pd-test.system", &sdf::Config::default()).expect("parses");
    let dir = std::path::Path::new(TESTPD).parent().unwrap().to_path_buf();
    let mut opts = Options::new(dir);
    opts.timeout = Some(Duration::from_secs(30));
    let nic_a = format!("udp:{pa}:{pb}");
    opts.image_override = Some(Box::new(move |pd| {
        let mut c = Command::new(if pd.name == "netserver" {
            NETSERVER
        } else {
            TESTPD
        });
        c.env("VETTED_NIC", &nic_a);
        c
    }));
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    opts.output = Some(Arc::new(move |pd: &str, s: Stream, line: &str| {
        let who = if s == Stream::Runner { "runner" } else { pd };
        o.lock().unwrap().push_str(&format!("[{who}] {line}\n"));
    }));
    let outcome = runner::run(&sd, &opts).expect("runs");
    stop.store(true, Ordering::SeqCst);
    b.join().unwrap();
    let text = out.lock().unwrap().clone();
    assert_eq!(outcome, Outcome::AllStopped, "{text}");
    for want in [
        "netserver: up (3 applications, 4 SAs)",
        "udp sendto: Ok(Sent(9))",
        "udp echo: udp hello alg=Some(ChaCha20Poly1305) spi=Some(8194) key=Some(\"\\\"node-b-key\\\"\")",
        "tcp connect: true",
        "tcp send: Ok(Sent(9))",
        "tcp echo: tcp hello alg=Some(ChaCha20Poly1305)",
        "remote key: Ok(Key(\"\\\"node-b-key\\\"\"))",
        "close: Ok(Ok)",
        "other connect: Err(Refused)",
        "test policy: other may not connect",
        "plain connect with hung trust: Err(Refused) after 2 s",
        "plain refusal: Ok(Refusal(Some(TrustUnavailable)))",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // `other` could not close anyone else's socket.
    for line in text.lines().filter(|l| l.contains("other close")) {
        assert!(line.ends_with("Err(BadSocket)"), "{line}\n{text}");
    }
}
