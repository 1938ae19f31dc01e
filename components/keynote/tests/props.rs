//! Property tests: no input makes the library panic, and its pieces agree
//! with independent references.

use keynote::{crypto, fastre::FastRegex, text, Limits, Query, Session};
use proptest::prelude::*;

fn regex_pattern() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just(".".to_string()),
        Just("[ab]".to_string()),
        Just("[^a]".to_string()),
        Just("[a-c]".to_string()),
        Just("[[:digit:]x]".to_string()),
        Just("\\.".to_string()),
        Just("1".to_string()),
    ];
    let piece = (
        atom,
        prop_oneof![
            Just(""),
            Just("*"),
            Just("+"),
            Just("?"),
            Just("{2}"),
            Just("{1,3}"),
            Just("{2,}"),
            Just("{0}"),
            Just("{0,2}"),
            Just("{0,}")
        ],
    )
        .prop_map(|(a, q)| format!("{a}{q}"));
    let seq = prop::collection::vec(piece, 0..5).prop_map(|v| v.concat());
    let group = prop::collection::vec(seq.clone(), 1..3).prop_map(|v| format!("({})", v.join("|")));
    let body = prop::collection::vec(
        prop_oneof![
            seq,
            group.clone(),
            Just("()".to_string()),
            (
                group,
                prop_oneof![
                    Just("*"),
                    Just("+"),
                    Just("?"),
                    Just("{0}"),
                    Just("{2}"),
                    Just("{0,2}"),
                    Just("{1,}")
                ]
            )
                .prop_map(|(g, q)| format!("{g}{q}"))
        ],
        1..4,
    )
    .prop_map(|v| v.concat());
    (any::<bool>(), body, any::<bool>()).prop_map(|(s, b, e)| {
        format!(
            "{}{}{}",
            if s { "^" } else { "" },
            b,
            if e { "$" } else { "" }
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The bit-parallel matcher agrees with regex-automata wherever it
    /// accepts a pattern.
    #[test]
    fn fast_regex_agrees_with_general_engine(
        pat in regex_pattern(),
        hays in prop::collection::vec("[ab1.c\n]{0,8}", 1..8),
    ) {
        let general = keynote::build_general_regex(&pat, &Limits::default());
        if let (Some(f), Some(g)) = (FastRegex::new(&pat), general) {
            for h in &hays {
                prop_assert_eq!(f.is_match(h.as_bytes()), g.is_match(h.as_bytes()), "pattern {:?} on {:?}", pat, h);
            }
        }
    }

    /// Arbitrary text never panics, whatever the channel.
    #[test]
    fn arbitrary_text_never_panics(t in ".{0,400}") {
        let mut s = Session::new();
        let _ = s.add_policy(&t);
        let _ = s.add_credential(&t);
        let mut q = Query::new(&["n", "y"]).unwrap();
        let _ = q.set("a", &t);
        let _ = q.add_authorizer(&t);
        let _ = s.check(&mut q);
        let _ = s.explain(&mut q);
        let _ = text::verify_assertion(&t);
        let _ = text::parse_key_file(&t);
        let _ = text::parse_environment(&t);
    }

    /// Assertion-shaped random text (valid field names, random values)
    /// never panics and errors carry a line within the text.
    #[test]
    fn assertion_shaped_text_never_panics(
        fields in prop::collection::vec(
            (prop_oneof![
                Just("Authorizer"), Just("Licensees"), Just("Conditions"), Just("Local-Constants"),
                Just("Comment"), Just("KeyNote-Version"), Just("Signature")
            ], "[ -~\n\t]{0,60}"),
            1..6),
        attrs in prop::collection::vec(("[a-c]", "[0-9a-c.]{0,4}"), 0..4),
    ) {
        let mut t = String::new();
        for (f, v) in &fields {
            t.push_str(&format!("{f}: {v}\n"));
        }
        let lines = t.lines().count() as u32 + 1;
        let mut s = Session::new();
        match s.add_policy(&t) {
            Ok(_) => {
                let mut q = Query::new(&["n", "m", "y"]).unwrap();
                for (k, v) in &attrs {
                    q.set(k, v).unwrap();
                }
                q.add_authorizer("x").unwrap();
                let v = s.check(&mut q);
                prop_assert!(v.index() < 3);
                let _ = s.explain(&mut q);
            }
            Err(e) => prop_assert!(e.line <= lines, "line {} beyond {} in {:?}", e.line, lines, t),
        }
        let _ = s.add_credential(&t);
    }

    /// Integer arithmetic follows checked i64 arithmetic; overflow and
    /// division by zero make the test false (runtime error).
    #[test]
    fn integer_arithmetic_matches_reference(a in -1000i64..1000, b in -50i64..50, op in 0usize..5) {
        let (sym, r) = match op {
            0 => ("+", a.checked_add(b)),
            1 => ("-", a.checked_sub(b)),
            2 => ("*", a.checked_mul(b)),
            3 => ("/", a.checked_div(b)),
            _ => ("%", a.checked_rem(b)),
        };
        let mut s = Session::new();
        let cond = match r {
            Some(r) => format!("({a}) {sym} ({b}) == ({r}) -> \"y\";"),
            None => format!("({a}) {sym} ({b}) == 0 || ({a}) {sym} ({b}) != 0 -> \"y\";"),
        };
        s.add_policy(&format!("Authorizer: \"POLICY\"\nConditions: {cond}\n")).unwrap();
        let mut q = Query::new(&["n", "y"]).unwrap();
        let expect = if r.is_some() { "y" } else { "n" };
        let v = s.check(&mut q);
        prop_assert_eq!(v.value(), expect);
    }

    #[test]
    fn encodings_round_trip(data in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(crypto::hex_decode(&crypto::hex_encode(&data)).unwrap(), data.clone());
        prop_assert_eq!(crypto::base64_decode(&crypto::base64_encode(&data)).unwrap(), data);
    }

    /// keynote(1)'s wrapped key output reads back as the same key.
    #[test]
    fn wrapped_keys_read_back(key in "[a-z0-9:]{1,300}", start in 0usize..20, len in 3usize..80) {
        let alg = "rsa-hex:";
        let out = text::format_key(alg, &key, start, len.max(alg.len() + 2));
        prop_assert_eq!(text::parse_key_file(&out).unwrap(), format!("{alg}{key}"));
    }
}

#[test]
fn rsa_public_keys_are_canonical() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let mut rng = rand_core::OsRng;
    let sk = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    let der = sk.to_public_key().to_pkcs1_der().unwrap();
    let pk = crypto::PublicKey::from_bytes(crypto::KeyAlgorithm::Rsa, der.as_bytes()).unwrap();
    // Our DER encoder reproduces the standard encoding.
    assert_eq!(pk.to_bytes(), der.as_bytes());
    // A non-minimal encoding (extra leading zero) is refused.
    let mut bad = der.as_bytes().to_vec();
    bad[0] = 0xff;
    assert!(crypto::PublicKey::from_bytes(crypto::KeyAlgorithm::Rsa, &bad).is_err());
    // 512-bit keys are refused.
    let small = rsa::RsaPrivateKey::new(&mut rng, 512).unwrap();
    let der = small.to_public_key().to_pkcs1_der().unwrap();
    assert!(crypto::PublicKey::from_bytes(crypto::KeyAlgorithm::Rsa, der.as_bytes()).is_err());
}

#[test]
fn fast_regex_covers_typical_policy_patterns() {
    for p in [
        "^[a-z0-9-]+\\.example\\.com$",
        "^/usr/bin/(netconn|curl)$",
        "^10\\.0\\.[0-9]{1,3}\\.[0-9]{1,3}$",
        "^[[:digit:]]+$",
        "tcp|udp",
    ] {
        assert!(FastRegex::new(p).is_some(), "{p}");
    }
    // Outside the subset: the general engine takes them.
    for p in ["\\d+", "a**", "(?i)abc", "[a&&b]", "a^b"] {
        assert!(FastRegex::new(p).is_none(), "{p}");
    }
    // Counted repetitions of groups, `{0}` included; bounded work on
    // nested repetitions of empty groups.
    for (p, yes, no) in [
        ("^(ab){2}c$", "ababc", "abc"),
        ("^x(ab){0}c$", "xc", "xabc"),
        ("^(a|bc){1,2}$", "bca", "bcbca"),
        ("^(a{0}b){2,}$", "bbb", "ab"),
        ("^((a){2}){0,2}b$", "aaaab", "aaab"),
    ] {
        let f = FastRegex::new(p).unwrap_or_else(|| panic!("{p}"));
        assert!(f.is_match(yes.as_bytes()), "{p} on {yes}");
        assert!(!f.is_match(no.as_bytes()), "{p} on {no}");
    }
    assert!(FastRegex::new("((((((){64}){64}){64}){64}){64}){64}").is_none());
    assert!(FastRegex::new(&"a".repeat(65)).is_none());
    let f = FastRegex::new("^10\\.0\\.[0-9]{1,3}\\.[0-9]{1,3}$").unwrap();
    assert!(f.is_match(b"10.0.1.254"));
    assert!(!f.is_match(b"10.0.1.2544"));
    assert!(!f.is_match(b"x10.0.1.2"));
}
