//! `trust-check`: a boot check of the trust and policy repository PDs, in the
//! network server's place (system/sel4/trust-check.system). It runs the same
//! on seL4 (booted in QEMU by `ci/sel4.sh test`) and on the host backend
//! (`vetted run system/sel4/trust-check.system --search-path target/demo`).
//!
//! With node A's signed demo bundle (`policies/demo/rebuild.sh bundles`) in
//! the repository it checks that
//! - the repository verified the bundle and serves the network server the
//!   node's applications (`GetApps`) and network configuration;
//! - the trust PD, fetching the policy from the repository, allows the
//!   client's connection to port 7 with its credential, and denies the
//!   intruder's forged credential (signature failure) and the client's
//!   connection to port 22;
//! - garbage on the trust PD's channel gets a typed error;
//! - the application channel 10 (the client's `repo_channel`) may read
//!   nothing meant for the network server;
//! - both survive KeyNote text nested to the parser's depth limit (the
//!   deepest stack use of either PD).
//!
//! Each check prints `trust-check: ok <what>` or `trust-check: FAILED
//! <what>: <detail>`; the last line is `trust-check: all checks passed` or
//! `trust-check: N check(s) FAILED`. Then it times repeated queries
//! (`trust-check: N queries in ..`) and stops.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use core::time::Duration;

use ipc::rpc::Client;
use microkit::{debug_println, Channel, MemoryRegion};
use netserver_api::{
    AlgSet, Algorithm, Endpoint, IpAddr, Level, Protection, Proto, Service, MAX_MESSAGE,
};
use trust_api::{Action, Decision, Operation};

microkit::memory_region_symbol!(buf_1, size = 0x20000);
microkit::memory_region_symbol!(buf_2, size = 0x20000);
microkit::memory_region_symbol!(buf_10, size = 0x20000);

/// The trust PD (we are its network server).
const TRUST: Channel = Channel::new(1);
/// The policy repository, as the network server.
const REPO: Channel = Channel::new(2);
/// The policy repository, on the client application's channel.
const REPO_AS_APP: Channel = Channel::new(10);

const CLIENT_KEY: &str = include_str!("../../../../policies/demo/keys/client.key");
const INTRUDER_KEY: &str = include_str!("../../../../policies/demo/keys/intruder.key");
const CLIENT_CRED: &str = include_str!("../../../../policies/demo/credentials/client.cred");
const FORGED_CRED: &str =
    include_str!("../../../../policies/demo/credentials/intruder-forged.cred");

type TrustReply = Result<trust_api::Response, trust_api::Error>;
type RepoReply = Result<policyrepo_api::Response, policyrepo_api::Error>;

/// Time since start, on both backends.
fn now() -> Duration {
    #[cfg(target_os = "none")]
    {
        microkit::sel4::uptime()
    }
    #[cfg(not(target_os = "none"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}

fn connect(pd: &str, port: u16) -> Action {
    Action {
        operation: Operation::Connect,
        protocol: Proto::Tcp,
        local: Endpoint::new(IpAddr::V4([192, 0, 2, 1]), 49152),
        remote: Endpoint::new(IpAddr::V4([192, 0, 2, 2]), port),
        protection: Protection {
            service: Service::AuthCon,
            level: Level::Require,
            algorithms: AlgSet::of(&[Algorithm::AesGcm256]),
        },
        requesting_pd: pd.into(),
        node: "node-a".into(),
        // Fixed, like the host tests: the demo credentials have no time
        // conditions.
        now: 1_790_000_000,
    }
}

/// The client's credential with its conditions nested 126 parentheses
/// deep (the limit is 128).
fn deep_credential() -> String {
    let mut open = String::new();
    let mut close = String::new();
    for _ in 0..126 {
        open.push('(');
        close.push(')');
    }
    CLIENT_CRED.replacen(
        "Conditions: ",
        &format!("Conditions: {open}@remote_port == 7{close} && "),
        1,
    )
}

struct Check {
    trust: Client<MAX_MESSAGE>,
    repo: Client<MAX_MESSAGE>,
    app: Client<MAX_MESSAGE>,
    failed: usize,
}

impl Check {
    fn query(&self, key: &str, action: Action, cred: &str) -> Result<Decision, String> {
        let req = trust_api::Request::Query {
            requester: key.trim().to_string(),
            action,
            credentials: vec![cred.to_string()],
        };
        match self.trust.call::<_, TrustReply>(&req) {
            Ok(Ok(trust_api::Response::Decision(d))) => Ok(d),
            other => Err(format!("{other:?}")),
        }
    }

    fn verdict(&mut self, what: &str, ok: bool, detail: &str) {
        if ok {
            debug_println!("trust-check: ok {what}");
        } else {
            self.failed += 1;
            debug_println!("trust-check: FAILED {what}: {detail}");
        }
    }

    fn run(&mut self) {
        let r = self
            .repo
            .call::<_, RepoReply>(&policyrepo_api::Request::GetApps);
        let names = match &r {
            Ok(Ok(policyrepo_api::Response::Apps(apps))) => {
                apps.iter().map(|a| a.pd.as_str()).collect::<vec::Vec<_>>()
            }
            _ => vec![],
        };
        let detail = format!("{r:?}");
        self.verdict(
            "policyrepo verified the bundle and lists node A's apps",
            names.contains(&"client") && names.contains(&"intruder") && names.contains(&"lowball"),
            &detail,
        );
        let r = self
            .repo
            .call::<_, RepoReply>(&policyrepo_api::Request::GetNetwork);
        let ok = matches!(&r, Ok(Ok(policyrepo_api::Response::Network(n))) if n.node == "node-a");
        self.verdict("policyrepo serves node A's network", ok, &format!("{r:?}"));

        let r = self.query(CLIENT_KEY, connect("client", 7), CLIENT_CRED);
        let ok = matches!(&r, Ok(d) if d.allowed && d.value == "ALLOW");
        self.verdict("trust allows client -> port 7", ok, &format!("{r:?}"));

        let r = self.query(INTRUDER_KEY, connect("intruder", 7), FORGED_CRED);
        let ok = matches!(&r, Ok(d) if !d.allowed
            && format!("{d:?}").contains("signature verification failure"));
        self.verdict(
            "trust denies the forged credential (signature)",
            ok,
            &format!("{r:?}"),
        );

        let r = self.query(CLIENT_KEY, connect("client", 22), CLIENT_CRED);
        let ok = matches!(&r, Ok(d) if !d.allowed);
        self.verdict("trust denies client -> port 22", ok, &format!("{r:?}"));

        let r = self.trust.call::<_, TrustReply>(&[0xffu8; 32]);
        self.verdict(
            "trust answers garbage with a typed error",
            r.is_err(),
            &format!("{r:?}"),
        );

        let r = self
            .app
            .call::<_, RepoReply>(&policyrepo_api::Request::GetSas);
        let ok = matches!(r, Ok(Err(policyrepo_api::Error::NotPermitted)));
        self.verdict(
            "policyrepo refuses the app channel the network server's request",
            ok,
            &format!("{r:?}"),
        );

        // KeyNote parses up to 128 levels of nesting (keynote::Limits::
        // max_depth), recursively: about 560 KB of stack on seL4 (the PD
        // stacks are sized for it). The credential's signature no longer
        // matches, so the answer is a denial, but an answer.
        let deep = deep_credential();
        let r = self.query(CLIENT_KEY, connect("client", 7), &deep);
        let ok = matches!(&r, Ok(d) if !d.allowed);
        self.verdict(
            "trust survives a credential nested to KeyNote's depth limit",
            ok,
            &format!("{r:?}"),
        );
        let r = self.query(CLIENT_KEY, connect("client", 7), CLIENT_CRED);
        let ok = matches!(&r, Ok(d) if d.allowed);
        self.verdict("trust still allows client -> port 7", ok, &format!("{r:?}"));
        let r = self
            .app
            .call::<_, RepoReply>(&policyrepo_api::Request::InstallPolicy {
                assertion: deep,
                credentials: vec![],
            });
        let ok = matches!(r, Ok(Err(policyrepo_api::Error::BadAssertion(_))));
        self.verdict(
            "policyrepo survives an assertion nested to KeyNote's depth limit",
            ok,
            &format!("{r:?}"),
        );

        if self.failed == 0 {
            debug_println!("trust-check: all checks passed");
        } else {
            debug_println!("trust-check: {} check(s) FAILED", self.failed);
        }

        // Decisions per second through both PDs (the policy is cached after
        // the first query).
        const N: u32 = 20;
        let t0 = now();
        let mut allowed = 0;
        for _ in 0..N {
            if self
                .query(CLIENT_KEY, connect("client", 7), CLIENT_CRED)
                .is_ok_and(|d| d.allowed)
            {
                allowed += 1;
            }
        }
        let dt = now().saturating_sub(t0);
        debug_println!(
            "trust-check: {N} queries in {} ms ({} us each), {allowed} allowed",
            dt.as_millis(),
            (dt / N).as_micros()
        );
    }
}

fn init() -> microkit::NullHandler {
    let buf = |name: &str| MemoryRegion::by_name(name).ok();
    match (buf("buf_1"), buf("buf_2"), buf("buf_10")) {
        (Some(t), Some(r), Some(a)) => {
            let mut c = Check {
                trust: Client::new(TRUST, t),
                repo: Client::new(REPO, r),
                app: Client::new(REPO_AS_APP, a),
                failed: 0,
            };
            c.run();
        }
        _ => debug_println!("trust-check: FAILED buffers buf_1, buf_2, buf_10 not all mapped"),
    }
    microkit::stop()
}

microkit::protection_domain!(init, stack_size = 0x2_0000);
