//! Tests with the real demo policy and credentials of `policies/demo`.

extern crate std;

use super::*;
use alloc::vec;
use netserver_api::{AlgSet, Algorithm, Endpoint, IpAddr, Level, Protection, Proto, Service};
use trust_api::Operation;

const POLICY_A: &str = include_str!("../../../policies/demo/node-a/policy.kn");
const POLICY_B: &str = include_str!("../../../policies/demo/node-b/policy.kn");
const CLIENT_KEY: &str = include_str!("../../../policies/demo/keys/client.key");
const INTRUDER_KEY: &str = include_str!("../../../policies/demo/keys/intruder.key");
const LOWBALL_KEY: &str = include_str!("../../../policies/demo/keys/lowball.key");
const ECHO_KEY: &str = include_str!("../../../policies/demo/keys/echo.key");
const CLIENT_CRED: &str = include_str!("../../../policies/demo/credentials/client.cred");
const LOWBALL_CRED: &str = include_str!("../../../policies/demo/credentials/lowball.cred");
const ECHO_CRED: &str = include_str!("../../../policies/demo/credentials/echo.cred");
const FORGED_CRED: &str = include_str!("../../../policies/demo/credentials/intruder-forged.cred");
const SELF_CRED: &str = include_str!("../../../policies/demo/credentials/intruder-self.cred");
const CLIENT_PRIV: &str = include_str!("../../../policies/demo/keys/client.priv");

/// `body` signed with the client's private key (so it verifies, whatever
/// it says).
fn signed_by_client(body: &str) -> String {
    let rng = ring::rand::SystemRandom::new();
    let sk = keynote::PrivateKey::parse(&keynote::text::parse_key_file(CLIENT_PRIV).unwrap(), &rng)
        .unwrap();
    let unsigned = format!("{body}Signature:\n");
    let sig = keynote::text::sign_assertion(&unsigned, "sig-ed25519-hex:", &sk, &rng).unwrap();
    format!("{body}Signature: \"{sig}\"\n")
}

/// Conditions of `n` regexes of about `len` bytes each, distinct per
/// `seed`, that KeyNote's bit-parallel matcher refuses (too many
/// positions), so each is compiled by the general engine.
fn big_regexes(seed: usize, n: usize, len: usize) -> String {
    let mut c = String::new();
    for r in 0..n {
        if r > 0 {
            c.push_str(" || ");
        }
        let mut p = String::from("^(");
        let mut i = 0;
        while p.len() + 40 < len {
            if i > 0 {
                p.push('|');
            }
            p.push_str(&format!("[a-z]{{1,30}}\\\\.x{seed}y{r}z{i}"));
            i += 1;
        }
        p.push_str(")$");
        c.push_str(&format!("app_domain ~= \"{p}\""));
    }
    c
}

/// Splits a policy file at blank lines, as `vetted-policy build` does.
fn split(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| format!("{s}\n"))
        .collect()
}

/// A policy source that counts fetches and can fail.
struct Source {
    policy: Option<PolicyText>,
    fetches: u32,
}

impl Source {
    fn node_a() -> Self {
        Source {
            policy: Some(PolicyText {
                version: 1,
                assertions: split(POLICY_A),
            }),
            fetches: 0,
        }
    }
    fn node_b() -> Self {
        Source {
            policy: Some(PolicyText {
                version: 1,
                assertions: split(POLICY_B),
            }),
            fetches: 0,
        }
    }
    fn down() -> Self {
        Source {
            policy: None,
            fetches: 0,
        }
    }
}

impl PolicySource for Source {
    fn fetch(&mut self) -> Result<PolicyText, Unavailable> {
        self.fetches += 1;
        self.policy.clone().ok_or(Unavailable)
    }
}

const A: IpAddr = IpAddr::V4([192, 0, 2, 1]);
const B: IpAddr = IpAddr::V4([192, 0, 2, 2]);

fn aead(level: Level, alg: Algorithm) -> Protection {
    Protection {
        service: Service::AuthCon,
        level,
        algorithms: AlgSet::of(&[alg]),
    }
}

/// The demo's connect: client on node A to node B's TCP echo port.
fn connect(pd: &str) -> Action {
    Action {
        operation: Operation::Connect,
        protocol: Proto::Tcp,
        local: Endpoint::new(A, 49152),
        remote: Endpoint::new(B, 7),
        protection: aead(Level::Require, Algorithm::AesGcm256),
        requesting_pd: pd.into(),
        node: "node-a".into(),
        now: 1_790_000_000,
    }
}

fn creds(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| String::from(*s)).collect()
}

fn all_reasons(d: &Decision) -> String {
    d.reasons.join("\n")
}

#[test]
fn client_is_allowed_to_connect_to_the_echo_port() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let d = t
        .decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.value, "ALLOW");
    assert!(d.reasons.is_empty());
    // Level unique and every AEAD are fine too.
    for alg in [
        Algorithm::AesGcm128,
        Algorithm::ChaCha20Poly1305,
        Algorithm::AesGcm256,
    ] {
        let mut a = connect("client");
        a.protection = aead(Level::Unique, alg);
        let d = t
            .decide(CLIENT_KEY, &a, &creds(&[CLIENT_CRED]), &mut src)
            .unwrap();
        assert!(d.allowed, "{alg:?}: {d:?}");
    }
}

#[test]
fn client_outside_its_licence_is_denied_with_conditions_not_satisfied() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let cases: Vec<(&str, Action)> = vec![
        ("other port", {
            let mut a = connect("client");
            a.remote = Endpoint::new(B, 22);
            a
        }),
        ("other host", {
            let mut a = connect("client");
            a.remote = Endpoint::new(IpAddr::V4([192, 0, 2, 3]), 7);
            a
        }),
        ("ANY port", {
            let mut a = connect("client");
            a.remote.port = None;
            a
        }),
        ("level use", {
            let mut a = connect("client");
            a.protection = aead(Level::Use, Algorithm::AesGcm256);
            a
        }),
        ("authentication only", {
            let mut a = connect("client");
            a.protection = Protection {
                service: Service::Auth,
                level: Level::Require,
                algorithms: AlgSet::of(&[Algorithm::AesGmac256]),
            };
            a
        }),
        ("bind", {
            let mut a = connect("client");
            a.operation = Operation::Bind;
            a
        }),
        ("another PD", connect("lowball")),
        ("another node", {
            let mut a = connect("client");
            a.node = "node-b".into();
            a
        }),
    ];
    for (what, action) in cases {
        let d = t
            .decide(CLIENT_KEY, &action, &creds(&[CLIENT_CRED]), &mut src)
            .unwrap();
        assert!(!d.allowed, "{what}: {d:?}");
        assert_eq!(d.value, "DENY");
        let why = all_reasons(&d);
        // The node policy held for node-a (it only checks the node), so the
        // failing assertion is the administrator's credential; for node-b
        // the policy's conditions fail first.
        assert!(why.contains("conditions not satisfied"), "{what}: {why}");
        if what != "another node" {
            assert!(
                why.contains("credential 0 (authorizer ed25519-hex:")
                    && why.contains("): conditions not satisfied"),
                "{what}: {why}"
            );
        } else {
            assert!(why.contains("policy assertion 0"), "{what}: {why}");
        }
    }
}

#[test]
fn requester_key_may_be_a_kn_key_file() {
    let file = include_str!("../../../policies/demo/keys/client.pub");
    assert!(file.trim_start().starts_with('"') && file.contains('\\'));
    assert_eq!(requester_key(file).unwrap(), CLIENT_KEY.trim());
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let d = t
        .decide(file, &connect("client"), &creds(&[CLIENT_CRED]), &mut src)
        .unwrap();
    assert!(d.allowed, "{d:?}");
    assert!(matches!(
        t.decide("\"unterminated", &connect("client"), &[], &mut src),
        Err(Error::BadCredential(_))
    ));
}

#[test]
fn udp_sendto_to_the_echo_port_is_licensed_too() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let mut a = connect("client");
    a.operation = Operation::SendTo;
    a.protocol = Proto::Udp;
    let d = t
        .decide(CLIENT_KEY, &a, &creds(&[CLIENT_CRED]), &mut src)
        .unwrap();
    assert!(d.allowed, "{d:?}");
    a.protocol = Proto::Tcp;
    let d = t
        .decide(CLIENT_KEY, &a, &creds(&[CLIENT_CRED]), &mut src)
        .unwrap();
    assert!(!d.allowed, "sendto over TCP is not licensed: {d:?}");
}

#[test]
fn forged_credential_is_denied_with_bad_signature() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let d = t
        .decide(
            INTRUDER_KEY,
            &connect("intruder"),
            &creds(&[FORGED_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(!d.allowed);
    let why = all_reasons(&d);
    assert!(
        why.contains("credential 0 (authorizer ed25519-hex:")
            && why.contains("signature verification failure"),
        "{why}"
    );
    // Even the client's own key gains nothing from a credential whose
    // signature fails.
    let d = t
        .decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[FORGED_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(!d.allowed, "{d:?}");
}

#[test]
fn self_issued_credential_is_denied_as_not_reached_from_policy() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let d = t
        .decide(
            INTRUDER_KEY,
            &connect("intruder"),
            &creds(&[SELF_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(!d.allowed);
    let why = all_reasons(&d);
    assert!(
        why.contains("credential 0") && why.contains("not reached from POLICY"),
        "{why}"
    );
    // The policy assertion names the administrator's key, which nobody
    // presented: "unknown key".
    assert!(
        why.contains("policy assertion 0") && why.contains("unknown keys: ed25519-hex:"),
        "{why}"
    );
}

#[test]
fn no_credential_and_a_stolen_credential_are_denied() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let d = t
        .decide(INTRUDER_KEY, &connect("intruder"), &[], &mut src)
        .unwrap();
    assert!(!d.allowed);
    assert!(all_reasons(&d).contains("licensees not satisfied"), "{d:?}");
    // The client's genuine credential licenses the client's key, not the
    // intruder's (and names requesting_pd "client").
    let d = t
        .decide(
            INTRUDER_KEY,
            &connect("intruder"),
            &creds(&[CLIENT_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(!d.allowed, "{d:?}");
    assert!(all_reasons(&d).contains("credential 0"), "{d:?}");
}

#[test]
fn lowball_is_licensed_only_at_require_or_higher() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let d = t
        .decide(
            LOWBALL_KEY,
            &connect("lowball"),
            &creds(&[LOWBALL_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(d.allowed, "{d:?}");
    let mut a = connect("lowball");
    a.protection = aead(Level::Use, Algorithm::AesGcm256);
    let d = t
        .decide(LOWBALL_KEY, &a, &creds(&[LOWBALL_CRED]), &mut src)
        .unwrap();
    assert!(!d.allowed, "{d:?}");
    assert!(all_reasons(&d).contains("conditions not satisfied"));
}

#[test]
fn echo_may_bind_and_accept_on_port_7_of_node_b() {
    let mut t = Trust::new();
    let mut src = Source::node_b();
    for (op, proto) in [
        (Operation::Bind, Proto::Tcp),
        (Operation::Accept, Proto::Tcp),
        (Operation::Bind, Proto::Udp),
        (Operation::Accept, Proto::Udp),
    ] {
        let a = Action {
            operation: op,
            protocol: proto,
            local: Endpoint::new(B, 7),
            remote: if op == Operation::Accept {
                Endpoint::new(A, 49152)
            } else {
                Endpoint::ANY
            },
            protection: aead(Level::Require, Algorithm::AesGcm128),
            requesting_pd: "echo".into(),
            node: "node-b".into(),
            now: 0,
        };
        let d = t
            .decide(ECHO_KEY, &a, &creds(&[ECHO_CRED]), &mut src)
            .unwrap();
        assert!(d.allowed, "{op:?} {proto:?}: {d:?}");
        let mut other = a.clone();
        other.local.port = Some(8);
        let d = t
            .decide(ECHO_KEY, &other, &creds(&[ECHO_CRED]), &mut src)
            .unwrap();
        assert!(!d.allowed, "port 8 {op:?} {proto:?}: {d:?}");
    }
    // Node A's policy does not accept node B's actions.
    let mut t = Trust::new();
    let mut a_src = Source::node_a();
    let mut a = connect("echo");
    a.operation = Operation::Bind;
    a.local = Endpoint::new(B, 7);
    a.node = "node-b".into();
    let d = t
        .decide(ECHO_KEY, &a, &creds(&[ECHO_CRED]), &mut a_src)
        .unwrap();
    assert!(!d.allowed);
}

#[test]
fn no_policy_means_no_allow() {
    let mut t = Trust::new();
    let mut src = Source::down();
    for _ in 0..3 {
        assert_eq!(
            t.decide(
                CLIENT_KEY,
                &connect("client"),
                &creds(&[CLIENT_CRED]),
                &mut src
            ),
            Err(Error::PolicyUnavailable)
        );
    }
    // Every query asks the repository again (no negative caching).
    assert_eq!(src.fetches, 3);
    // Reload fails closed too.
    assert_eq!(
        t.handle(Request::Reload, &mut src),
        Err(Error::PolicyUnavailable)
    );
    // Once the repository answers, the query is decided.
    src.policy = Source::node_a().policy;
    let d = t
        .decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(d.allowed);
}

#[test]
fn a_policy_that_does_not_compile_is_refused_as_a_whole() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let good = src.policy.clone().unwrap();
    assert!(
        t.decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src
        )
        .unwrap()
        .allowed
    );
    let mut bad = good.clone();
    bad.version = 2;
    bad.assertions
        .push("Authorizer: \"POLICY\"\nConditions: (((\n".into());
    src.policy = Some(bad);
    t.mark_stale();
    assert_eq!(
        t.decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src
        ),
        Err(Error::PolicyUnavailable)
    );
    assert_eq!(t.version(), None, "the old policy is dropped, not kept");
    // An empty policy allows nothing.
    src.policy = Some(PolicyText {
        version: 3,
        assertions: vec![],
    });
    t.mark_stale();
    let d = t
        .decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(!d.allowed);
    assert!(all_reasons(&d).contains("not reached from POLICY"), "{d:?}");
    let d = t
        .decide(CLIENT_KEY, &connect("client"), &[], &mut src)
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(
        d.reasons,
        vec![String::from("no assertion grants this action")]
    );
}

#[test]
fn compiled_policy_and_verified_signatures_are_reused() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    for _ in 0..50 {
        let d = t
            .decide(
                CLIENT_KEY,
                &connect("client"),
                &creds(&[CLIENT_CRED]),
                &mut src,
            )
            .unwrap();
        assert!(d.allowed);
    }
    let s = t.stats();
    assert_eq!(src.fetches, 1, "one fetch");
    assert_eq!(s.compiles, 1, "one compilation");
    assert_eq!(s.queries, 50);
    assert_eq!(s.verifications, 1, "the signature was verified once");
    assert_eq!(s.cache_hits, 49);
    // A forged credential's set is not cached: it is verified (and fails)
    // each time, never allows, and never takes a place in the cache.
    for _ in 0..3 {
        let d = t
            .decide(
                INTRUDER_KEY,
                &connect("intruder"),
                &creds(&[FORGED_CRED]),
                &mut src,
            )
            .unwrap();
        assert!(!d.allowed);
        assert!(all_reasons(&d).contains("signature verification failure"));
    }
    assert_eq!(t.stats().verifications, 4);
    assert_eq!(t.stats().uncached, 3);
    assert_eq!(t.cached().0, 1, "only the client's verified set is cached");
    // Credentials do not stay in the session after their query.
    let d = t
        .decide(CLIENT_KEY, &connect("client"), &[], &mut src)
        .unwrap();
    assert!(
        !d.allowed,
        "the client's earlier credential must not linger"
    );
}

#[test]
fn stale_policy_is_fetched_again_and_recompiled_only_on_a_new_version() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let q = |t: &mut Trust, src: &mut Source| {
        t.decide(CLIENT_KEY, &connect("client"), &creds(&[CLIENT_CRED]), src)
            .unwrap()
            .allowed
    };
    assert!(q(&mut t, &mut src));
    t.mark_stale();
    assert!(q(&mut t, &mut src));
    assert_eq!((src.fetches, t.stats().compiles), (2, 1));
    assert_eq!(
        t.stats().verifications,
        1,
        "cache kept over an unchanged version"
    );
    // Version 2 denies everything to the client's key via a stricter policy.
    let mut p = src.policy.clone().unwrap();
    p.version = 2;
    p.assertions = vec!["Authorizer: \"POLICY\"\nLicensees: \"nobody\"\n".into()];
    src.policy = Some(p);
    assert!(
        q(&mut t, &mut src),
        "not stale yet: the old policy is in force"
    );
    t.mark_stale();
    assert!(!q(&mut t, &mut src), "the new policy is in force");
    assert_eq!(t.version(), Some(2));
    assert_eq!(t.stats().compiles, 2);
    // Reload drops and refetches.
    src.policy = Source::node_a().policy;
    assert_eq!(
        t.handle(Request::Reload, &mut src),
        Ok(Response::Reloaded(2))
    );
    assert!(q(&mut t, &mut src));
}

#[test]
fn a_reused_version_number_with_another_text_is_recompiled() {
    // A restarted repository starts again from its bundle's version, so a
    // version number alone does not identify a policy.
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let q = |t: &mut Trust, src: &mut Source| {
        t.decide(CLIENT_KEY, &connect("client"), &creds(&[CLIENT_CRED]), src)
            .unwrap()
            .allowed
    };
    assert!(q(&mut t, &mut src));
    let mut p = src.policy.clone().unwrap();
    p.assertions = vec!["Authorizer: \"POLICY\"\nLicensees: \"nobody\"\n".into()];
    src.policy = Some(p);
    t.mark_stale();
    assert!(!q(&mut t, &mut src), "same version 1, different text");
    assert_eq!(t.stats().compiles, 2);
}

#[test]
fn installed_app_assertions_delegate_only_what_the_app_holds() {
    // The policy repository adds an application's own assertion (authorizer:
    // the app's key) to the policy. It can pass on the app's rights, and no
    // more.
    let mut t = Trust::new();
    let mut p = Source::node_a().policy.unwrap();
    p.assertions.push(format!(
        "Authorizer: \"{}\"\nLicensees: \"{}\"\nConditions: @remote_port == 7 || @remote_port == 22 -> \"ALLOW\";\n",
        CLIENT_KEY.trim(),
        INTRUDER_KEY.trim()
    ));
    let mut src = Source {
        policy: Some(p),
        fetches: 0,
    };
    // The admin credential names requesting_pd "client": only the client PD
    // may use it, whatever key asks.
    let d = t
        .decide(
            INTRUDER_KEY,
            &connect("intruder"),
            &creds(&[CLIENT_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(!d.allowed, "{d:?}");
    // As the client PD (the same actions the client may do), the delegate is
    // allowed on port 7 but not 22: the client holds no licence for 22.
    let d = t
        .decide(
            INTRUDER_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src,
        )
        .unwrap();
    assert!(d.allowed, "{d:?}");
    let mut a = connect("client");
    a.remote.port = Some(22);
    let d = t
        .decide(INTRUDER_KEY, &a, &creds(&[CLIENT_CRED]), &mut src)
        .unwrap();
    assert!(!d.allowed, "{d:?}");
}

#[test]
fn hostile_input_is_bounded_with_typed_errors() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let many = vec![String::from(CLIENT_CRED); MAX_CREDENTIALS + 1];
    assert_eq!(
        t.decide(CLIENT_KEY, &connect("client"), &many, &mut src),
        Err(Error::LimitExceeded)
    );
    let huge = vec!["x".repeat(100_000)];
    assert_eq!(
        t.decide(CLIENT_KEY, &connect("client"), &huge, &mut src),
        Err(Error::LimitExceeded)
    );
    let long_key = "a".repeat(MAX_REQUESTER + 1);
    assert_eq!(
        t.decide(&long_key, &connect("client"), &[], &mut src),
        Err(Error::LimitExceeded)
    );
    // Malformed credential: a typed error naming it, nothing else breaks.
    match t.decide(
        CLIENT_KEY,
        &connect("client"),
        &creds(&[CLIENT_CRED, "Authorizer: \"x\"\nConditions: (\n"]),
        &mut src,
    ) {
        Err(Error::BadCredential(why)) => assert!(why.starts_with("credential 1"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Refused algorithms and bad keys as the requester.
    assert!(matches!(
        t.decide("dsa-hex:0011", &connect("client"), &[], &mut src),
        Err(Error::BadCredential(_))
    ));
    // Deeply nested conditions: the engine's limit.
    let deep = format!(
        "Authorizer: \"{}\"\nLicensees: \"{}\"\nConditions: {}1 == 1{} -> \"ALLOW\";\n",
        CLIENT_KEY.trim(),
        CLIENT_KEY.trim(),
        "(".repeat(500),
        ")".repeat(500)
    );
    assert_eq!(
        t.decide(CLIENT_KEY, &connect("client"), &[deep], &mut src),
        Err(Error::LimitExceeded)
    );
    // After all this, the good query still works.
    assert!(
        t.decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src
        )
        .unwrap()
        .allowed
    );
}

#[test]
fn the_credential_set_cache_is_bounded_and_evicts_the_least_recently_used() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let good = creds(&[CLIENT_CRED]);
    let ask = |t: &mut Trust, src: &mut Source, extra: Option<String>| {
        let mut c = good.clone();
        c.extend(extra);
        t.decide(CLIENT_KEY, &connect("client"), &c, src)
            .unwrap()
            .allowed
    };
    assert!(ask(&mut t, &mut src, None));
    // Signed (so verified, so cacheable) credentials that grant nothing.
    let client = CLIENT_KEY.trim();
    let junk =
        |i: usize| signed_by_client(&format!("Authorizer: \"{client}\"\nLicensees: \"y{i}\"\n"));
    // MAX_CACHED_SETS - 1 other sets, while the client's stays in use.
    for i in 0..MAX_CACHED_SETS - 1 {
        assert!(ask(&mut t, &mut src, Some(junk(i))));
        assert!(ask(&mut t, &mut src, None));
    }
    // Each new set verified the client's signature again (a fresh fork),
    // and its junk's.
    let v = t.stats().verifications;
    assert_eq!(v, 1 + 2 * (MAX_CACHED_SETS as u64 - 1));
    assert_eq!(t.cached().0, MAX_CACHED_SETS);
    // One more set evicts the least recently used one (junk 0), not the
    // client's set.
    assert!(ask(&mut t, &mut src, Some(junk(1000))));
    assert!(ask(&mut t, &mut src, None));
    assert_eq!(t.stats().verifications, v + 2, "the client's set was kept");
    assert!(ask(&mut t, &mut src, Some(junk(0))));
    assert_eq!(t.stats().verifications, v + 4, "junk 0 was evicted");
    assert_eq!(t.cached().0, MAX_CACHED_SETS);
    assert_eq!(t.stats().uncached, 0);
}

#[test]
fn many_distinct_credentials_do_not_exhaust_the_session() {
    // Each query brings 40 new principals (12 000 in all, more than a
    // session may intern): every credential set has its own bounded
    // session, so the engine's limits are never hit and decisions stay right.
    let mut t = Trust::new();
    let mut src = Source::node_a();
    for i in 0..300u32 {
        let licensees: Vec<String> = (0..40).map(|j| format!("\"p-{i}-{j}\"")).collect();
        let junk = format!(
            "Authorizer: \"{}\"\nLicensees: {}\n",
            CLIENT_KEY.trim(),
            licensees.join(" || ")
        );
        let d = t
            .decide(
                CLIENT_KEY,
                &connect("client"),
                &[String::from(CLIENT_CRED), junk],
                &mut src,
            )
            .unwrap();
        assert!(d.allowed, "query {i}: {d:?}");
    }
}

#[test]
fn credentials_full_of_regexes_are_refused_and_never_fill_the_cache() {
    // The attack found on seL4: an unsigned 52 KB credential of 50
    // regexes of 1 000 bytes, sent again and again (each a new set). Each
    // is refused with a typed error at KeyNote's regex budget, costs
    // nothing afterwards and is never cached.
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let client = CLIENT_KEY.trim();
    assert!(
        t.decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src
        )
        .unwrap()
        .allowed
    );
    let before = t.cached();
    for i in 0..100 {
        let attack = format!(
            "Authorizer: \"{client}\"\nLicensees: \"{client}\"\nConditions: {} -> \"ALLOW\";\n",
            big_regexes(i, 50, 1000)
        );
        assert!(attack.len() > 50_000 && attack.len() < MAX_CREDENTIAL_BYTES);
        assert_eq!(
            t.decide(CLIENT_KEY, &connect("client"), &[attack], &mut src),
            Err(Error::LimitExceeded)
        );
        assert_eq!(t.cached(), before);
    }
    // Under the budget but unsigned: decided (denied), not cached.
    for i in 0..20 {
        let unsigned = format!(
            "Authorizer: \"{client}\"\nLicensees: \"{client}\"\nConditions: {} -> \"ALLOW\";\n",
            big_regexes(1000 + i, 3, 1000)
        );
        let d = t
            .decide(CLIENT_KEY, &connect("client"), &[unsigned], &mut src)
            .unwrap();
        assert!(!d.allowed);
        assert!(all_reasons(&d).contains("unsigned credential"), "{d:?}");
        assert_eq!(t.cached(), before);
    }
    assert_eq!(t.stats().uncached, 20);
    // Signed, under the budget, all distinct: cached, but the cache's byte
    // total stays under its bound (each set counts its regexes).
    let mut biggest = 0;
    for i in 0..30 {
        let heavy = signed_by_client(&format!(
            "Authorizer: \"{client}\"\nLicensees: \"y\"\nConditions: {} -> \"ALLOW\";\n",
            big_regexes(2000 + i, 3, 1000)
        ));
        let d = t
            .decide(
                CLIENT_KEY,
                &connect("client"),
                &[String::from(CLIENT_CRED), heavy],
                &mut src,
            )
            .unwrap();
        assert!(d.allowed);
        let (n, bytes) = t.cached();
        assert!(bytes <= MAX_CACHED_BYTES, "{bytes} cached bytes");
        assert!(n <= MAX_CACHED_SETS);
        biggest = biggest.max(bytes);
    }
    assert!(
        biggest > MAX_CACHED_BYTES / 2,
        "the regexes were counted: {biggest}"
    );
    assert!(t.cached().0 < 30, "sets were evicted for bytes");
    // And a normal query still works.
    assert!(
        t.decide(
            CLIENT_KEY,
            &connect("client"),
            &creds(&[CLIENT_CRED]),
            &mut src
        )
        .unwrap()
        .allowed
    );
}

#[test]
fn credential_text_is_bounded_in_total() {
    let mut t = Trust::new();
    let mut src = Source::node_a();
    let third = format!(
        "Authorizer: \"x\"\nComment: {}\n",
        "c".repeat(MAX_CREDENTIAL_BYTES / 3)
    );
    assert_eq!(
        t.decide(CLIENT_KEY, &connect("client"), &vec![third; 4], &mut src),
        Err(Error::LimitExceeded)
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Mutations of the client's genuine credential: one byte changed,
    /// a span deleted, or text spliced in.
    fn mutated() -> impl Strategy<Value = String> {
        let n = CLIENT_CRED.len();
        prop_oneof![
            (0..n, any::<u8>()).prop_map(|(i, b)| {
                let mut v = CLIENT_CRED.as_bytes().to_vec();
                v[i] = b;
                String::from_utf8_lossy(&v).into_owned()
            }),
            (0..n, 0..64usize).prop_map(|(i, len)| {
                let mut v = CLIENT_CRED.as_bytes().to_vec();
                let end = (i + len).min(v.len());
                v.drain(i..end);
                String::from_utf8_lossy(&v).into_owned()
            }),
            (0..n, "[ -~\n]{0,40}").prop_map(|(i, s)| {
                let mut t = String::from(CLIENT_CRED);
                let i = (0..=i).rev().find(|&k| t.is_char_boundary(k)).unwrap_or(0);
                t.insert_str(i, &s);
                t
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever the intruder sends, it is never allowed and nothing
        /// panics; a changed credential allows the client only if the
        /// change left the signed text intact (e.g. trailing whitespace).
        #[test]
        fn tampered_credentials_never_allow_the_intruder(cred in mutated(), junk in "[ -~\n]{0,200}") {
            let mut t = Trust::new();
            let mut src = Source::node_a();
            let r = t.decide(INTRUDER_KEY, &connect("intruder"), &[cred.clone(), junk], &mut src);
            prop_assert!(!matches!(r, Ok(ref d) if d.allowed), "{r:?}");
            let r = t.decide(CLIENT_KEY, &connect("intruder"), core::slice::from_ref(&cred), &mut src);
            prop_assert!(!matches!(r, Ok(ref d) if d.allowed), "wrong PD allowed: {r:?}");
            if let Ok(d) = t.decide(CLIENT_KEY, &connect("client"), core::slice::from_ref(&cred), &mut src) {
                if d.allowed {
                    // Allowed only if the signed part is unchanged.
                    let signed = |s: &str| {
                        s.split("Signature:").next().map(|h| h.split_whitespace().collect::<Vec<_>>().join(" "))
                    };
                    prop_assert_eq!(signed(&cred), signed(CLIENT_CRED));
                }
            }
        }
    }
}
