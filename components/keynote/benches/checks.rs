//! Checks per second on one core (issue 2, item 7). Run with
//! `cargo bench -p keynote --bench checks`. Each case runs a few rounds of
//! about half a second and reports its best round; (b) is interleaved with
//! its baseline (bare RSA-2048 verifications of a message of the same size)
//! so both see the same machine load.

use std::hint::black_box;
use std::time::{Duration, Instant};

use keynote::{text, Encoding, KeyAlgorithm, PrivateKey, Query, Session};

const ROUND: Duration = Duration::from_millis(400);
const ROUNDS: usize = 5;

/// Runs `f` in batches for about `ROUND`; returns calls per second.
fn rate(mut f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    let mut batch = 1u64;
    while start.elapsed() < ROUND {
        for i in 0..batch {
            f(n + i);
        }
        n += batch;
        if batch < 4096 {
            batch *= 2;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn best(mut f: impl FnMut(u64)) -> f64 {
    (0..ROUNDS).map(|_| rate(&mut f)).fold(0.0, f64::max)
}

const POLICY_A: &str = "KeyNote-Version: 2\n\
Authorizer: \"POLICY\"\n\
Licensees: \"app-netconn\"\n\
Conditions: app_domain == \"netconn\" && dst_device_name == \"my_ip\" &&\n    \
(@dst_port == 80 || @dst_port == 443) && @security_level >= 2 &&\n    \
priority_level == \"HIGH\" -> \"ALLOW\";\n";

fn case_a() -> f64 {
    let mut s = Session::new();
    s.add_policy(POLICY_A).expect("policy (a)");
    let mut q = Query::new(&["DENY", "ALLOW"]).expect("values");
    for (k, v) in [
        ("app_domain", "netconn"),
        ("dst_device_name", "my_ip"),
        ("dst_port", "443"),
        ("security_level", "3"),
        ("priority_level", "HIGH"),
        ("src_port", "40000"),
        ("protocol", "tcp"),
    ] {
        q.set(k, v).expect("attribute");
    }
    q.add_authorizer("app-netconn").expect("authorizer");
    // Correctness first: ALLOW then DENY.
    assert_eq!(s.check(&mut q).value(), "ALLOW");
    q.set("priority_level", "LOW").expect("attribute");
    assert_eq!(s.check(&mut q).value(), "DENY");
    let mut allowed = 0u64;
    let mut total = 0u64;
    let r = best(|i| {
        // Alternate ALLOW and DENY requests.
        q.set("priority_level", if i & 1 == 0 { "HIGH" } else { "LOW" })
            .expect("attribute");
        allowed += black_box(s.check(&mut q)).index() as u64;
        total += 1;
    });
    assert!(
        (allowed * 2).abs_diff(total) <= ROUNDS as u64,
        "alternation broken"
    );
    r
}

struct Setup {
    policy: String,
    credential: String,
    signed: Vec<u8>,
    sig: Vec<u8>,
    pub_der: Vec<u8>,
}

fn setup(sig_name: &str) -> Setup {
    let rng = ring::rand::SystemRandom::new();
    let sk = PrivateKey::generate(KeyAlgorithm::Rsa, 2048, &rng).expect("RSA key");
    let pk = sk.public_key().expect("public key");
    let ca = pk.to_text(Encoding::Hex);
    let policy = format!(
        "Authorizer: \"POLICY\"\nLicensees: \"{ca}\"\nConditions: app_domain == \"netconn\" -> \"ALLOW\";\n"
    );
    let body = format!(
        "KeyNote-Version: 2\nAuthorizer: \"{ca}\"\nLicensees: \"app-netconn\"\n\
         Conditions: dst_host ~= \"^[a-z0-9-]+\\\\.example\\\\.com$\" &&\n    \
         app_path ~= \"^/usr/bin/(netconn|curl)$\" -> \"ALLOW\";\n"
    );
    let unsigned = format!("{body}Signature:\n");
    let sigtext = text::sign_assertion(&unsigned, sig_name, &sk, &rng).expect("sign");
    let credential = format!("{body}Signature: \"{sigtext}\"\n");
    let mut signed = body.into_bytes();
    signed.extend_from_slice(sig_name.as_bytes());
    let sig = keynote::crypto::hex_decode(&sigtext[sig_name.len()..]).expect("hex");
    Setup {
        policy,
        credential,
        signed,
        sig,
        pub_der: pk.to_bytes(),
    }
}

fn query() -> Query {
    let mut q = Query::new(&["DENY", "ALLOW"]).expect("values");
    for (k, v) in [
        ("app_domain", "netconn"),
        ("dst_host", "db-1.example.com"),
        ("app_path", "/usr/bin/netconn"),
        ("dst_port", "443"),
        ("protocol", "tcp"),
    ] {
        q.set(k, v).expect("attribute");
    }
    q.add_authorizer("app-netconn").expect("authorizer");
    q
}

/// (b): a fresh session per check, forked from a session holding only the
/// compiled policy (as the trust PD keeps its policy compiled); the
/// credential is parsed, its regexes compiled and its signature verified
/// every time.
fn fresh_session_check(base: &Session, st: &Setup, q: &mut Query) -> usize {
    let mut s = base.fork();
    s.add_credential(&st.credential).expect("credential");
    assert_eq!(s.verifications(), 1);
    s.check(q).index()
}

/// Fully cold: the policy text is parsed every time too.
fn cold_session_check(st: &Setup, q: &mut Query) -> usize {
    let mut s = Session::new();
    s.add_policy(&st.policy).expect("policy");
    s.add_credential(&st.credential).expect("credential");
    s.check(q).index()
}

/// (b) with one signature scheme: (checks/s, bare verifies/s, cold checks/s).
fn case_b(st: &Setup, bare: &dyn Fn(&Setup) -> bool) -> (f64, f64, f64) {
    let mut q = query();
    let mut policy_session = Session::new();
    policy_session.add_policy(&st.policy).expect("policy");
    assert_eq!(
        fresh_session_check(&policy_session, st, &mut q),
        1,
        "(b) must ALLOW"
    );
    assert_eq!(cold_session_check(st, &mut q), 1, "(b) must ALLOW");
    assert!(bare(st), "bare verification must succeed");
    let (mut b, mut base, mut cold) = (0.0f64, 0.0f64, 0.0f64);
    for _ in 0..ROUNDS {
        base = base.max(rate(|_| {
            black_box(bare(black_box(st)));
        }));
        b = b.max(rate(|_| {
            black_box(fresh_session_check(&policy_session, black_box(st), &mut q));
        }));
        cold = cold.max(rate(|_| {
            black_box(cold_session_check(black_box(st), &mut q));
        }));
    }
    (b, base, cold)
}

fn case_c(st: &Setup) -> f64 {
    let mut s = Session::new();
    s.add_policy(&st.policy).expect("policy");
    s.add_credential(&st.credential).expect("credential");
    let mut q = query();
    assert_eq!(s.check(&mut q).value(), "ALLOW");
    q.set("app_path", "/usr/bin/evil").expect("attribute");
    assert_eq!(s.check(&mut q).value(), "DENY");
    let r = best(|i| {
        q.set(
            "app_path",
            if i & 1 == 0 {
                "/usr/bin/netconn"
            } else {
                "/usr/bin/evil"
            },
        )
        .expect("attribute");
        black_box(s.check(&mut q));
    });
    assert_eq!(s.verifications(), 1, "(c) must verify the signature once");
    r
}

fn main() {
    if std::env::var_os("KN_ONLY_B").is_some() {
        let st = setup("sig-rsa-sha256-hex:");
        let mut q = query();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(3) {
            black_box(cold_session_check(&st, &mut q));
            n += 1;
        }
        println!("only b: {n}");
        return;
    }
    if std::env::var_os("KN_PROFILE").is_some() {
        profile();
        profile_regex();
        return;
    }
    let a = case_a();

    let sha256 = setup("sig-rsa-sha256-hex:");
    let ring_verify = |st: &Setup| {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &st.pub_der,
        )
        .verify(&st.signed, &st.sig)
        .is_ok()
    };
    let (b, base, cold) = case_b(&sha256, &ring_verify);
    let c = case_c(&sha256);

    // The RFC 2792 / libkeynote form, against the RSA crate's bare verify.
    let sha1 = setup("sig-rsa-sha1-hex:");
    let rsa_verify = |st: &Setup| {
        use rsa::pkcs1::DecodeRsaPublicKey;
        let key = rsa::RsaPublicKey::from_pkcs1_der(&st.pub_der).expect("key");
        let octet = keynote::crypto::sha1_octet_string(&[&st.signed]);
        key.verify(rsa::Pkcs1v15Sign::new_unprefixed(), &octet, &st.sig)
            .is_ok()
    };
    let (b1, base1, _) = case_b(&sha1, &rsa_verify);
    let c1 = case_c(&sha1);

    println!("keynote bench info: (b) bare RSA-2048 verify (ring, PKCS#1 v1.5 SHA-256): {base:.0} verifies/s");
    println!(
        "keynote bench info: (b/cold) policy text parsed per check too: {cold:.0} checks/s, ratio {:.2} to bare RSA verify",
        cold / base
    );
    println!(
        "keynote bench info: (b/sha1) sig-rsa-sha1 credentials: {b1:.0} checks/s, ratio {:.2} to bare RSA verify \
         (rsa crate, {base1:.0} verifies/s); (c/sha1) {c1:.0} checks/s",
        b1 / base1
    );
    println!("keynote bench (a): {a:.0} checks/s");
    println!(
        "keynote bench (b): {b:.0} checks/s, ratio {:.2} to bare RSA verify",
        b / base
    );
    println!("keynote bench (c): {c:.0} checks/s");
}

#[allow(dead_code)]
fn profile() {
    let st = setup("sig-rsa-sha256-hex:");
    let lim = keynote::Limits::default();
    let _ = lim;
    let t = |name: &str, f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..200 {
            f();
        }
        println!(
            "{name}: {:.1} us",
            start.elapsed().as_secs_f64() * 1e6 / 200.0
        );
    };
    t("session new", &mut || {
        black_box(Session::new());
    });
    t("add policy", &mut || {
        let mut s = Session::new();
        s.add_policy(&st.policy).unwrap();
    });
    t("add policy+cred", &mut || {
        let mut s = Session::new();
        s.add_policy(&st.policy).unwrap();
        s.add_credential(&st.credential).unwrap();
    });
    t("add cred (policy key only)", &mut || {
        let mut s = Session::new();
        s.add_policy("Authorizer: \"POLICY\"\nConditions: a ~= \"^[a-z0-9-]+\\\\.example\\\\.com$\" && b ~= \"^/usr/bin/(netconn|curl)$\";\n").unwrap();
    });
    t("principal parse", &mut || {
        black_box(
            keynote::Principal::parse(
                &st.policy[st.policy.find("rsa-hex").unwrap()..st.policy.find("\"\nCond").unwrap()],
            )
            .unwrap(),
        );
    });
}

#[allow(dead_code)]
fn profile_regex() {
    use regex_automata::{meta, util::syntax};
    let pats = ["^[a-z0-9-]+\\.example\\.com$", "^/usr/bin/(netconn|curl)$"];
    let hay = ["db-1.example.com", "/usr/bin/netconn"];
    let cfgs: [(&str, meta::Config); 4] = [
        ("default", meta::Config::new()),
        (
            "no onepass/backtrack",
            meta::Config::new().onepass(false).backtrack(false),
        ),
        (
            "pikevm only",
            meta::Config::new()
                .onepass(false)
                .backtrack(false)
                .hybrid(false)
                .dfa(false),
        ),
        (
            "hybrid no prefilter",
            meta::Config::new()
                .onepass(false)
                .backtrack(false)
                .auto_prefilter(false),
        ),
    ];
    for (name, cfg) in cfgs {
        let build = || {
            pats.map(|p| {
                meta::Regex::builder()
                    .syntax(syntax::Config::new().unicode(false).utf8(false))
                    .configure(cfg.clone().utf8_empty(false))
                    .build(p)
                    .unwrap()
            })
        };
        let start = Instant::now();
        for _ in 0..200 {
            black_box(build());
        }
        let b = start.elapsed().as_secs_f64() * 1e6 / 200.0;
        let res = build();
        let start = Instant::now();
        for _ in 0..100000 {
            black_box(res[0].is_match(black_box(hay[0])));
            black_box(res[1].is_match(black_box(hay[1])));
        }
        let m = start.elapsed().as_secs_f64() * 1e9 / 100000.0;
        println!("{name}: build both {b:.1} us, match both {m:.0} ns");
    }
}
