//! Checks per second on one core (issue 2, item 7). Run with
//! `cargo bench -p keynote --bench checks`. Each case runs a few rounds of
//! about half a second and reports its best round; (b) is interleaved with
//! its baseline (bare RSA-2048 verifications of a message of the same size)
//! so both see the same machine load.

use std::hint::black_box;
use std::time::{Duration, Instant};

use keynote::{text, Encoding, KeyAlgorithm, PrivateKey, Query, Session};

const ROUND: Duration = Duration::from_millis(300);
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

/// (b) with one signature scheme: median (checks/s, bare verifies/s, cold
/// ratio, ratio).
fn case_b(st: &Setup, bare: &dyn Fn(&Setup) -> bool) -> (f64, f64, f64, f64) {
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
    // Adjacent rounds see the same machine load: take the median of the
    // per-round ratios (and the median rates), robust to a noisy host.
    let (mut bs, mut bases, mut colds, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS + 2 {
        let base = rate(|_| {
            black_box(bare(black_box(st)));
        });
        let b = rate(|_| {
            black_box(fresh_session_check(&policy_session, black_box(st), &mut q));
        });
        let cold = rate(|_| {
            black_box(cold_session_check(black_box(st), &mut q));
        });
        ratios.push(b / base);
        bs.push(b);
        bases.push(base);
        colds.push(cold / base);
    }
    let (b, base, cold) = (median(&mut bs), median(&mut bases), median(&mut colds));
    let ratio = median(&mut ratios);
    (b, base, cold, ratio)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
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
    // Cost breakdown of (b) without the signature verification.
    if std::env::var_os("KN_SPLIT_B").is_some() {
        let st = setup("sig-rsa-sha256-hex:");
        let mut q = query();
        let mut base = Session::new();
        base.add_policy(&st.policy).expect("policy");
        let fork = rate(|_| {
            black_box(base.fork());
        });
        let mut warm = base.fork();
        warm.add_credential(&st.credential).expect("credential");
        let parse = rate(|_| {
            let ids = warm.add_credential(&st.credential).expect("credential");
            black_box(warm.check(&mut q));
            warm.remove(ids[0]);
        });
        if std::env::var_os("KN_SPLIT_LOOP").is_some() {
            eprintln!("loop start");
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(4) {
                let ids = warm.add_credential(&st.credential).expect("credential");
                black_box(warm.check(&mut q));
                warm.remove(ids[0]);
            }
        }
        let only_check = rate(|_| {
            black_box(warm.check(&mut q));
        });
        let hash = rate(|_| {
            black_box(ring::digest::digest(
                &ring::digest::SHA256,
                st.credential.as_bytes(),
            ));
        });
        let principal_text = &st.policy
            [st.policy.find("rsa-hex").unwrap_or(0)..st.policy.find("\"\nCond").unwrap_or(0)];
        let key = rate(|_| {
            black_box(keynote::Principal::parse(black_box(principal_text)).ok());
        });
        let re = rate(|_| {
            black_box(keynote::fastre::FastRegex::new(black_box(
                "^[a-z0-9-]+\\.example\\.com$",
            )));
        });
        println!(
            "fork {:.2} us, add cached credential + check {:.2} us, check {:.2} us, sha256 {:.2} us, key parse {:.2} us, fast regex compile {:.2} us",
            1e6 / fork, 1e6 / parse, 1e6 / only_check, 1e6 / hash, 1e6 / key, 1e6 / re
        );
        return;
    }
    // For profiling (`perf record`): only the cold (b) path, for 3 s.
    if std::env::var_os("KN_ONLY_B").is_some() {
        let st = setup("sig-rsa-sha256-hex:");
        let mut q = query();
        let mut base = Session::new();
        base.add_policy(&st.policy).expect("policy");
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(3) {
            black_box(fresh_session_check(&base, &st, &mut q));
            n += 1;
        }
        println!("only b: {n}");
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
    let (b, base, cold, ratio) = case_b(&sha256, &ring_verify);
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
    let (b1, base1, _, ratio1) = case_b(&sha1, &rsa_verify);
    let c1 = case_c(&sha1);

    println!("keynote bench info: (b) bare RSA-2048 verify (ring, PKCS#1 v1.5 SHA-256): {base:.0} verifies/s");
    println!(
        "keynote bench info: (b/cold) policy text parsed per check too: ratio {cold:.2} to bare RSA verify"
    );
    println!(
        "keynote bench info: (b/sha1) sig-rsa-sha1 credentials: {b1:.0} checks/s, ratio {:.2} to bare RSA verify \
         (rsa crate, {base1:.0} verifies/s); (c/sha1) {c1:.0} checks/s",
        ratio1
    );
    println!("keynote bench (a): {a:.0} checks/s");
    println!("keynote bench (b): {b:.0} checks/s, ratio {ratio:.2} to bare RSA verify");
    println!("keynote bench (c): {c:.0} checks/s");
}
