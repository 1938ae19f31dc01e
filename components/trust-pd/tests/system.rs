//! The trust and policy repository PDs on the host backend, through the real
//! runner (`microkit::runner`): a test PD in the network server's place
//! (and, on channel 10, in the client application's place) queries the
//! trust PD, which fetches the policy from the policy repository, prefilled
//! with a bundle built here from `policies/demo` and signed with the demo
//! admin key.
//!
//! The `trust` PD is the real `trust` binary; `policyrepo` and the tester
//! are this test binary started again with `VETTED_TEST_ROLE` (the
//! `policyrepo` binary is the one line `protection_domain!(policyrepo_pd::init)`,
//! the same code as here). `harness = false`: every scenario runs in turn,
//! each bounded by the runner's timeout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipc::rpc::Client;
use microkit::runner::{self, CrashPolicy, Options, Outcome, Sched, Stream};
use microkit::{debug_println, Channel, MemoryRegion};
use netserver_api::{
    AlgSet, Algorithm, Endpoint, Floor, IpAddr, Level, Protection, Proto, Service, MAX_MESSAGE,
};
use policyrepo::Bundle;
use policyrepo_api::{AppProfile, NetworkConfig};
use sdf::ProtectionDomain;
use trust_api::{Action, Decision, Operation};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/demo");
const TRUST_BIN: &str = env!("CARGO_BIN_EXE_trust");

fn demo(path: &str) -> String {
    std::fs::read_to_string(Path::new(DEMO).join(path)).expect("demo file")
}

// ---------------------------------------------------------------- tester PD

type TrustReply = Result<trust_api::Response, trust_api::Error>;
type RepoReply = Result<policyrepo_api::Response, policyrepo_api::Error>;

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
        now: 1_790_000_000,
    }
}

struct Tester {
    trust: Client<MAX_MESSAGE>,
}

impl Tester {
    fn query(&self, key: &str, action: Action, creds: &[&str]) -> Result<TrustReply, String> {
        let req = trust_api::Request::Query {
            requester: demo(key).trim().to_string(),
            action,
            credentials: creds.iter().map(|c| demo(c)).collect(),
        };
        self.trust.call(&req).map_err(|e| e.to_string())
    }
}

/// Prints one result line for the harness: `RESULT <name> <debug of value>`.
fn report<T: std::fmt::Debug>(name: &str, value: T) {
    let text = format!("{value:?}").replace('\n', " ");
    debug_println!("RESULT {name} {text}");
}

fn decision(r: &Result<TrustReply, String>) -> Option<&Decision> {
    match r {
        Ok(Ok(trust_api::Response::Decision(d))) => Some(d),
        _ => None,
    }
}

fn tester() -> microkit::NullHandler {
    let buf = |n: &str| MemoryRegion::by_name(n).expect("tester buffer");
    let t = Tester {
        trust: Client::new(Channel::new(1), buf("buf_1")),
    };
    let scenario = std::env::var("VETTED_TEST_SCENARIO").unwrap_or_default();
    match scenario.as_str() {
        "good" => {
            let r = t.query(
                "keys/client.key",
                connect("client", 7),
                &["credentials/client.cred"],
            );
            report("client", decision(&r).map(|d| (d.allowed, d.value.clone())));
            let r = t.query(
                "keys/intruder.key",
                connect("intruder", 7),
                &["credentials/intruder-forged.cred"],
            );
            report("forged", decision(&r));
            let r = t.query(
                "keys/intruder.key",
                connect("intruder", 7),
                &["credentials/intruder-self.cred"],
            );
            report("self", decision(&r));
            let r = t.query(
                "keys/client.key",
                connect("client", 22),
                &["credentials/client.cred"],
            );
            report("client22", decision(&r));

            // The client application (channel 10 of the repository)
            // delegates its port-7 licence to the intruder's key; the
            // repository notifies the trust PD, whose next decision uses it.
            let delegate = || {
                t.query(
                    "keys/intruder.key",
                    connect("client", 7),
                    &["credentials/client.cred"],
                )
            };
            report("before-install", decision(&delegate()).map(|d| d.allowed));
            let app = Client::<MAX_MESSAGE>::new(Channel::new(10), buf("buf_10"));
            let assertion = format!(
                "KeyNote-Version: 2\nAuthorizer: \"{}\"\nLicensees: \"{}\"\nConditions: @remote_port == 7 -> \"ALLOW\";\n",
                demo("keys/client.key").trim(),
                demo("keys/intruder.key").trim()
            );
            let r: Result<RepoReply, _> = app.call(&policyrepo_api::Request::InstallPolicy {
                assertion,
                credentials: vec![],
            });
            report("install", r.map_err(|e| e.to_string()));
            report("after-install", decision(&delegate()).map(|d| d.allowed));
            // Reload: the policy now has the bundle's 2 and the installed one.
            let r: Result<TrustReply, _> = t.trust.call(&trust_api::Request::Reload);
            report("reload", r.map_err(|e| e.to_string()));
            // The netserver channel may not install policy.
            let ns = Client::<MAX_MESSAGE>::new(Channel::new(2), buf("buf_2"));
            let r: Result<RepoReply, _> = ns.call(&policyrepo_api::Request::InstallPolicy {
                assertion: String::new(),
                credentials: vec![],
            });
            report("netserver-install", r.map_err(|e| e.to_string()));
            // A repository channel no application is bound to gets nothing.
            let stray = Client::<MAX_MESSAGE>::new(Channel::new(11), buf("buf_11"));
            let r: Result<RepoReply, _> = stray.call(&policyrepo_api::Request::InstallPolicy {
                assertion: String::new(),
                credentials: vec![],
            });
            report("stray-install", r.map_err(|e| e.to_string()));
            let r: Result<RepoReply, _> = stray.call(&policyrepo_api::Request::GetPolicy);
            report("stray-policy", r.map_err(|e| e.to_string()));
            // The trust PD refuses garbage with a typed ipc error.
            let r: Result<TrustReply, _> = t.trust.call(&[0xffu8; 32]);
            report("garbage", r.map_err(|e| e.to_string()));
            // Cache reuse across PD calls: 200 queries, timed.
            let t0 = Instant::now();
            let mut allowed = 0;
            for _ in 0..200 {
                let r = t.query(
                    "keys/client.key",
                    connect("client", 7),
                    &["credentials/client.cred"],
                );
                if decision(&r).is_some_and(|d| d.allowed) {
                    allowed += 1;
                }
            }
            debug_println!(
                "200 queries in {:?} ({:?} each, file reads included)",
                t0.elapsed(),
                t0.elapsed() / 200
            );
            report("repeat", allowed);
        }
        "bad" => {
            let r = t.query(
                "keys/client.key",
                connect("client", 7),
                &["credentials/client.cred"],
            );
            report("client", r);
            let r: Result<TrustReply, _> = t.trust.call(&trust_api::Request::Reload);
            report("reload", r.map_err(|e| e.to_string()));
            let ns = Client::<MAX_MESSAGE>::new(Channel::new(2), buf("buf_2"));
            let r: Result<RepoReply, _> = ns.call(&policyrepo_api::Request::GetApps);
            report("getapps", r.map_err(|e| e.to_string()));
        }
        "kill" => {
            let r = t.query(
                "keys/client.key",
                connect("client", 7),
                &["credentials/client.cred"],
            );
            report("before", decision(&r).map(|d| d.allowed));
            // The harness kills the trust PD when it sees this line.
            debug_println!("KILL trust");
            std::thread::sleep(Duration::from_millis(1500));
            let r = t.query(
                "keys/client.key",
                connect("client", 7),
                &["credentials/client.cred"],
            );
            report("after", decision(&r).map(|d| d.allowed));
            let r = t.query(
                "keys/intruder.key",
                connect("intruder", 7),
                &["credentials/intruder-forged.cred"],
            );
            report("after-forged", decision(&r).map(|d| d.allowed));
        }
        "repo-restart" => {
            let delegate = || {
                t.query(
                    "keys/intruder.key",
                    connect("client", 7),
                    &["credentials/client.cred"],
                )
            };
            let app = Client::<MAX_MESSAGE>::new(Channel::new(10), buf("buf_10"));
            let assertion = format!(
                "KeyNote-Version: 2\nAuthorizer: \"{}\"\nLicensees: \"{}\"\nConditions: @remote_port == 7 -> \"ALLOW\";\n",
                demo("keys/client.key").trim(),
                demo("keys/intruder.key").trim()
            );
            let r: Result<RepoReply, _> = app.call(&policyrepo_api::Request::InstallPolicy {
                assertion,
                credentials: vec![],
            });
            report("install", r.map_err(|e| e.to_string()));
            report("after-install", decision(&delegate()).map(|d| d.allowed));
            // The harness kills the repository; the runner restarts it from
            // the signed bundle, and it tells the trust PD so.
            debug_println!("KILL policyrepo");
            std::thread::sleep(Duration::from_millis(1500));
            report("after-restart", decision(&delegate()).map(|d| d.allowed));
            let r = t.query(
                "keys/client.key",
                connect("client", 7),
                &["credentials/client.cred"],
            );
            report("client-after-restart", decision(&r).map(|d| d.allowed));
        }
        "hang" => {
            let r = t.query(
                "keys/client.key",
                connect("client", 7),
                &["credentials/client.cred"],
            );
            report("before", decision(&r).map(|d| d.allowed));
            // The harness stops (SIGSTOP) the trust PD, waits, then resumes it.
            debug_println!("STOP trust");
            std::thread::sleep(Duration::from_millis(500));
            let t0 = Instant::now();
            let r = t.query(
                "keys/client.key",
                connect("client", 7),
                &["credentials/client.cred"],
            );
            report("blocked-ms", t0.elapsed().as_millis());
            report("after", decision(&r).map(|d| d.allowed));
        }
        other => report("unknown-scenario", other),
    }
    microkit::stop()
}

// ------------------------------------------------------------------ harness

fn admin_key() -> ring::signature::Ed25519KeyPair {
    let hex = demo("admin");
    let bytes: Vec<u8> = (0..hex.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).expect("hex"))
        .collect();
    ring::signature::Ed25519KeyPair::from_pkcs8(&bytes).expect("demo admin key")
}

/// Node A's bundle from the demo files (what `vetted-policy build
/// policies/demo/node-a.toml` makes, without the SAs).
fn demo_bundle() -> Bundle {
    let floor = Floor {
        service: Service::AuthCon,
        level: Level::Require,
        algorithms: AlgSet::of(&[
            Algorithm::AesGcm256,
            Algorithm::AesGcm128,
            Algorithm::ChaCha20Poly1305,
        ]),
    };
    let app = |pd: &str, channel: u8, repo: Option<u8>, creds: &[&str]| AppProfile {
        pd: pd.into(),
        key: demo(&format!("keys/{pd}.key")).trim().into(),
        credentials: creds.iter().map(|c| demo(c)).collect(),
        floor,
        ports: vec![],
        channel,
        repo_channel: repo,
    };
    Bundle {
        version: 1,
        node: "node-a".into(),
        policy: demo("node-a/policy.kn")
            .split("\n\n")
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("{}\n", s.trim()))
            .collect(),
        default_floor: floor,
        apps: vec![
            app(
                "client",
                10,
                Some(10),
                &["credentials/client.cred", "credentials/client-install.cred"],
            ),
            app("intruder", 11, None, &[]),
        ],
        sas: vec![],
        network: NetworkConfig {
            node: "node-a".into(),
            mac: [2, 0, 0, 0, 0, 1],
            addresses: vec![(IpAddr::V4([192, 0, 2, 1]), 24)],
            gateway: None,
        },
    }
}

const SYSTEM: &str = r#"<system>
  <memory_region name="policy_bundle" size="0x40000" prefill_path="node-a.bundle" />
  <memory_region name="admin_pubkey" size="0x1000" prefill_path="admin.pub" />
  <memory_region name="trust_repo_buf" size="0x20000" />
  <memory_region name="net_trust_buf" size="0x20000" />
  <memory_region name="net_repo_buf" size="0x20000" />
  <memory_region name="client_repo_buf" size="0x20000" />
  <memory_region name="stray_repo_buf" size="0x20000" />
  <protection_domain name="policyrepo" priority="250" passive="true">
    <program_image path="policyrepo.elf" />
    <map mr="policy_bundle" vaddr="0x2000000" perms="r" setvar_vaddr="policy_bundle" />
    <map mr="admin_pubkey" vaddr="0x2100000" perms="r" setvar_vaddr="admin_pubkey" />
    <map mr="trust_repo_buf" vaddr="0x3000000" perms="rw" setvar_vaddr="buf_0" />
    <map mr="net_repo_buf" vaddr="0x3100000" perms="rw" setvar_vaddr="buf_1" />
    <map mr="client_repo_buf" vaddr="0x3a00000" perms="rw" setvar_vaddr="buf_10" />
    <map mr="stray_repo_buf" vaddr="0x3b00000" perms="rw" setvar_vaddr="buf_11" />
  </protection_domain>
  <protection_domain name="trust" priority="240" passive="true">
    <program_image path="trust.elf" />
    <map mr="net_trust_buf" vaddr="0x3000000" perms="rw" setvar_vaddr="buf_0" />
    <map mr="trust_repo_buf" vaddr="0x3100000" perms="rw" setvar_vaddr="buf_1" />
  </protection_domain>
  <protection_domain name="tester" priority="200">
    <program_image path="tester.elf" />
    <map mr="net_trust_buf" vaddr="0x3100000" perms="rw" setvar_vaddr="buf_1" />
    <map mr="net_repo_buf" vaddr="0x3200000" perms="rw" setvar_vaddr="buf_2" />
    <map mr="client_repo_buf" vaddr="0x3a00000" perms="rw" setvar_vaddr="buf_10" />
    <map mr="stray_repo_buf" vaddr="0x3b00000" perms="rw" setvar_vaddr="buf_11" />
  </protection_domain>
  <channel><end pd="trust" id="1" pp="true" /><end pd="policyrepo" id="0" /></channel>
  <channel><end pd="tester" id="1" pp="true" /><end pd="trust" id="0" /></channel>
  <channel><end pd="tester" id="2" pp="true" /><end pd="policyrepo" id="1" /></channel>
  <channel><end pd="tester" id="10" pp="true" /><end pd="policyrepo" id="10" /></channel>
  <channel><end pd="tester" id="11" pp="true" /><end pd="policyrepo" id="11" /></channel>
</system>"#;

struct Run {
    outcome: Outcome,
    results: HashMap<String, String>,
    lines: Vec<String>,
}

impl Run {
    fn get(&self, name: &str) -> &str {
        match self.results.get(name) {
            Some(v) => v,
            None => panic!("no RESULT {name}\n{}", self.lines.join("\n")),
        }
    }
}

/// What the harness does to the trust PD when the tester asks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action2 {
    None,
    Kill,
    StopFor(Duration),
}

fn run_scenario(scenario: &str, bundle: Vec<u8>, on_crash: CrashPolicy, act: Action2) -> Run {
    let dir = std::env::temp_dir().join(format!("trust-pd-test-{}-{scenario}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("node-a.bundle"), &bundle).expect("bundle");
    std::fs::write(dir.join("admin.pub"), demo("admin.pub")).expect("admin.pub");
    let config = sdf::Config {
        search_paths: vec![dir.clone()],
        ..sdf::Config::default()
    };
    let system = sdf::parse(SYSTEM, "test.system", &config).expect("test system is valid");

    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut opts = Options::new(PathBuf::from("/nonexistent"));
    opts.sched = Sched::None;
    opts.on_crash = on_crash;
    opts.max_restarts = 2;
    opts.timeout = Some(Duration::from_secs(60));
    let scenario_env = scenario.to_string();
    opts.image_override = Some(Box::new(move |pd: &ProtectionDomain| {
        if pd.name == "trust" {
            return Command::new(TRUST_BIN);
        }
        let mut c = Command::new(std::env::current_exe().expect("own path"));
        c.env("VETTED_TEST_ROLE", &pd.name);
        c.env("VETTED_TEST_SCENARIO", &scenario_env);
        c
    }));
    let sink = lines.clone();
    let pids = Arc::new(Mutex::new(HashMap::<String, i32>::new()));
    let pid_map = pids.clone();
    opts.output = Some(Arc::new(move |pd: &str, stream: Stream, line: &str| {
        eprintln!("    [{pd}] {line}");
        if stream == Stream::Runner {
            // "started 'NAME' (pid N, priority P)"
            if let Some(rest) = line.strip_prefix("started '") {
                if let Some((name, rest)) = rest.split_once("' (pid ") {
                    let pid: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                    if let Ok(pid) = pid.parse() {
                        pid_map.lock().expect("lock").insert(name.to_string(), pid);
                    }
                }
            }
        }
        let target = line
            .strip_prefix("KILL ")
            .or_else(|| line.strip_prefix("STOP "));
        if let (true, Some(target)) = (pd == "tester", target) {
            let pid = *pid_map
                .lock()
                .expect("lock")
                .get(target)
                .expect("pid of the PD to signal");
            match act {
                Action2::Kill => signal(pid, libc::SIGKILL),
                Action2::StopFor(d) => {
                    signal(pid, libc::SIGSTOP);
                    std::thread::spawn(move || {
                        std::thread::sleep(d);
                        signal(pid, libc::SIGCONT);
                    });
                }
                Action2::None => {}
            }
        }
        sink.lock().expect("lock").push(format!("[{pd}] {line}"));
    }));
    let outcome = runner::run(&system, &opts).expect("run test system");
    let _ = std::fs::remove_dir_all(&dir);
    let lines = lines.lock().expect("lock").clone();
    let mut results = HashMap::new();
    for l in &lines {
        if let Some(rest) = l.strip_prefix("[tester] RESULT ") {
            let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
            results.insert(k.to_string(), v.to_string());
        }
    }
    Run {
        outcome,
        results,
        lines,
    }
}

/// Sends `sig` to the process `pid` (a PD this test's runner started).
fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
}

fn signed_demo_bundle() -> Vec<u8> {
    policyrepo::sign(&demo_bundle(), &admin_key())
}

fn good_bundle_decides_as_the_demo_says() {
    let r = run_scenario(
        "good",
        signed_demo_bundle(),
        CrashPolicy::Stop,
        Action2::None,
    );
    assert_eq!(r.outcome, Outcome::AllStopped, "{}", r.lines.join("\n"));
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains("[policyrepo] policy bundle version 1 for node node-a verified")),
        "{}",
        r.lines.join("\n")
    );
    assert_eq!(r.get("client"), r#"Some((true, "ALLOW"))"#);
    let forged = r.get("forged");
    assert!(forged.contains("allowed: false"), "{forged}");
    assert!(
        forged.contains("signature verification failure"),
        "{forged}"
    );
    let own = r.get("self");
    assert!(
        own.contains("allowed: false") && own.contains("not reached from POLICY"),
        "{own}"
    );
    let c22 = r.get("client22");
    assert!(
        c22.contains("allowed: false") && c22.contains("conditions not satisfied"),
        "{c22}"
    );
    assert_eq!(r.get("before-install"), "Some(false)");
    assert_eq!(r.get("install"), "Ok(Ok(Installed(2)))");
    assert_eq!(r.get("after-install"), "Some(true)");
    assert_eq!(r.get("reload"), "Ok(Ok(Reloaded(3)))");
    assert_eq!(r.get("netserver-install"), "Ok(Err(NotPermitted))");
    assert_eq!(r.get("stray-install"), "Ok(Err(NotPermitted))");
    assert_eq!(r.get("stray-policy"), "Ok(Err(NotPermitted))");
    assert_eq!(
        r.get("garbage"),
        r#"Err("server: request does not decode")"#
    );
    assert_eq!(r.get("repeat"), "200");
}

fn bad_bundle_denies_everything() {
    let mut bundle = signed_demo_bundle();
    let n = bundle.len() / 2;
    bundle[n] ^= 0x01;
    let r = run_scenario("bad", bundle, CrashPolicy::Stop, Action2::None);
    assert_eq!(r.outcome, Outcome::AllStopped, "{}", r.lines.join("\n"));
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains("[policyrepo] policy bundle verification FAILED")),
        "{}",
        r.lines.join("\n")
    );
    assert_eq!(r.get("client"), "Ok(Err(PolicyUnavailable))");
    assert_eq!(r.get("reload"), "Ok(Err(PolicyUnavailable))");
    assert_eq!(r.get("getapps"), "Ok(Err(BadBundle))");
}

fn killed_trust_under_stop_policy_stops_the_node() {
    let r = run_scenario(
        "kill",
        signed_demo_bundle(),
        CrashPolicy::Stop,
        Action2::Kill,
    );
    match &r.outcome {
        Outcome::Crashed { pd, .. } => assert_eq!(pd, "trust", "{}", r.lines.join("\n")),
        other => panic!("{other:?}\n{}", r.lines.join("\n")),
    }
    assert_eq!(r.get("before"), "Some(true)");
    assert!(
        !r.results.contains_key("after"),
        "no decision after the crash: {}",
        r.lines.join("\n")
    );
}

fn killed_trust_under_restart_policy_comes_back_and_still_decides() {
    let r = run_scenario(
        "kill",
        signed_demo_bundle(),
        CrashPolicy::Restart,
        Action2::Kill,
    );
    assert_eq!(r.outcome, Outcome::AllStopped, "{}", r.lines.join("\n"));
    assert!(
        r.lines.iter().any(|l| l.contains("PD 'trust' crashed")),
        "{}",
        r.lines.join("\n")
    );
    assert_eq!(r.get("before"), "Some(true)");
    // The restarted trust PD fetched the policy again and decides as before.
    assert_eq!(r.get("after"), "Some(true)");
    assert_eq!(r.get("after-forged"), "Some(false)");
}

fn restarted_repository_forgets_installed_policy_and_trust_follows() {
    let r = run_scenario(
        "repo-restart",
        signed_demo_bundle(),
        CrashPolicy::Restart,
        Action2::Kill,
    );
    assert_eq!(r.outcome, Outcome::AllStopped, "{}", r.lines.join("\n"));
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains("PD 'policyrepo' crashed")),
        "{}",
        r.lines.join("\n")
    );
    assert_eq!(r.get("install"), "Ok(Ok(Installed(2)))");
    assert_eq!(r.get("after-install"), "Some(true)");
    // Version 1 again, without the installed assertion: the trust PD was
    // notified at the repository's start and fetched it again.
    assert_eq!(r.get("after-restart"), "Some(false)");
    assert_eq!(r.get("client-after-restart"), "Some(true)");
}

fn hung_trust_blocks_the_caller_until_it_resumes() {
    // The host backend's pp_call has no timeout: a caller of a stopped PD
    // waits until it runs again. Measured here so that a change shows.
    let r = run_scenario(
        "hang",
        signed_demo_bundle(),
        CrashPolicy::Stop,
        Action2::StopFor(Duration::from_millis(2000)),
    );
    assert_eq!(r.outcome, Outcome::AllStopped, "{}", r.lines.join("\n"));
    let blocked: u64 = r.get("blocked-ms").parse().expect("number");
    assert!(
        blocked >= 1000,
        "the call waited {blocked} ms for the stopped trust PD"
    );
    assert_eq!(r.get("after"), "Some(true)");
}

fn main() {
    match std::env::var("VETTED_TEST_ROLE").as_deref() {
        Ok("policyrepo") => microkit::_private::run_main(policyrepo_pd::init),
        Ok("tester") => microkit::_private::run_main(tester),
        Ok(other) => panic!("unknown role {other}"),
        Err(_) => {}
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tests: [(&str, fn()); 6] = [
        (
            "good_bundle_decides_as_the_demo_says",
            good_bundle_decides_as_the_demo_says,
        ),
        ("bad_bundle_denies_everything", bad_bundle_denies_everything),
        (
            "killed_trust_under_stop_policy_stops_the_node",
            killed_trust_under_stop_policy_stops_the_node,
        ),
        (
            "killed_trust_under_restart_policy_comes_back_and_still_decides",
            killed_trust_under_restart_policy_comes_back_and_still_decides,
        ),
        (
            "restarted_repository_forgets_installed_policy_and_trust_follows",
            restarted_repository_forgets_installed_policy_and_trust_follows,
        ),
        (
            "hung_trust_blocks_the_caller_until_it_resumes",
            hung_trust_blocks_the_caller_until_it_resumes,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = 0;
    for (name, f) in tests {
        if !filter.is_empty() && !filter.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        eprintln!("test {name} ...");
        match std::panic::catch_unwind(f) {
            Ok(()) => eprintln!("test {name} ... ok"),
            Err(_) => {
                eprintln!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} system test(s) failed");
        std::process::exit(1);
    }
}
