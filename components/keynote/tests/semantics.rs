//! RFC 2704 semantics, construct by construct.

use keynote::{
    text, Encoding, ErrorKind, Field, KeyAlgorithm, PrivateKey, Query, Reason, Session,
    SigAlgorithm, Status,
};

const DA: [&str; 2] = ["DENY", "ALLOW"];

fn policy(s: &mut Session, t: &str) {
    if let Err(e) = s.add_policy(t) {
        panic!("policy rejected: {e}\n{t}");
    }
}

fn q(values: &[&str], attrs: &[(&str, &str)], auth: &[&str]) -> Query {
    let mut q = Query::new(values).unwrap();
    for (k, v) in attrs {
        q.set(k, v).unwrap();
    }
    for a in auth {
        q.add_authorizer(a).unwrap();
    }
    q
}

/// Value of a POLICY assertion with `cond` as its Conditions, licensing
/// the requester "req".
fn eval_cond(cond: &str, attrs: &[(&str, &str)]) -> String {
    let mut s = Session::new();
    policy(
        &mut s,
        &format!("Authorizer: \"POLICY\"\nLicensees: \"req\"\nConditions: {cond}\n"),
    );
    let mut qq = q(&DA, attrs, &["req"]);
    s.check(&mut qq).value().to_string()
}

fn holds(cond: &str, attrs: &[(&str, &str)]) -> bool {
    eval_cond(&format!("{cond} -> \"ALLOW\";"), attrs) == "ALLOW"
}

#[test]
fn string_comparisons_and_escapes() {
    assert!(holds("a == \"x\"", &[("a", "x")]));
    assert!(!holds("a == \"x\"", &[("a", "y")]));
    assert!(holds("a != \"x\"", &[("a", "y")]));
    assert!(holds(
        "a < \"b\" && \"b\" > a && a <= \"a\" && a >= \"a\"",
        &[("a", "a")]
    ));
    assert!(holds("\"B\" < \"a\"", &[])); // byte order, like strcmp
    assert!(holds("missing == \"\"", &[])); // undefined attributes are ""
    assert!(holds("\"a\\tb\\101\\\"\" == t", &[("t", "a\tbA\"")]));
    assert!(holds("\"con\\\n        tinued\" == \"continued\"", &[]));
}

#[test]
fn concatenation_and_dereference() {
    assert!(holds("a . \"-\" . b == \"x-y\"", &[("a", "x"), ("b", "y")]));
    assert!(holds("$p == \"target\"", &[("p", "q"), ("q", "target")]));
    assert!(holds(
        "$$p == \"deep\"",
        &[("p", "q"), ("q", "r"), ("r", "deep")]
    ));
    assert!(holds("$(\"q\") == \"target\"", &[("q", "target")]));
    assert!(holds(
        "$(a . b) == \"v\"",
        &[("a", "x"), ("b", "y"), ("xy", "v")]
    ));
}

#[test]
fn integer_and_float_arithmetic_with_precedence() {
    assert!(holds("@a + 2 * 3 == 7", &[("a", "1")]));
    assert!(holds("(@a + 2) * 3 == 9", &[("a", "1")]));
    assert!(holds("2 ^ 3 ^ 2 == 64", &[])); // left to right, as RFC 2704 says
    assert!(holds("-2 ^ 2 == 4", &[])); // unary minus binds tighter than ^
    assert!(holds("7 / 2 == 3 && 7 % 4 == 3 && 2 - 5 == -3", &[]));
    assert!(holds(
        "@\"12.9\" == 12 && @\"junk\" == 0 && @\"\" == 0",
        &[]
    ));
    assert!(holds(
        "&a > 1.4 && &a < 1.6 && 1.5 * 2.0 >= 3.0",
        &[("a", "1.5")]
    ));
    assert!(holds("&\"x\" <= 0.0", &[]));
    assert!(holds("2.0 ^ 10.0 > 1023.5", &[]));
    // Type errors are syntax errors when the assertion is added.
    let mut s = Session::new();
    let e = s
        .add_policy("Authorizer: \"POLICY\"\nConditions: @a == \"x\";\n")
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TypeMismatch(_)));
    assert_eq!((e.line, e.field), (2, Some(Field::Conditions)));
    let e = s
        .add_policy("Authorizer: \"POLICY\"\nConditions: 1.0 == 1.0;\n")
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TypeMismatch(_)));
}

#[test]
fn runtime_errors_only_falsify_their_test() {
    // RFC 2704 section 5.3.4 example.
    let c = "foo == \"bar\" -> { @a == 1/0 -> \"oneval\"; @a == 2 -> \"anotherval\"; };";
    let vals = ["none", "oneval", "anotherval"];
    let mut s = Session::new();
    policy(
        &mut s,
        &format!("Authorizer: \"POLICY\"\nConditions: {c}\n"),
    );
    let mut qq = q(&vals, &[("foo", "bar"), ("a", "2")], &[]);
    assert_eq!(s.check(&mut qq).value(), "anotherval");
    // Division by zero inside `!` is still an error, not "true".
    assert!(!holds("!(1 / 0 == 1)", &[]));
    assert!(!holds("1 % 0 == 0", &[]));
    assert!(!holds("@\"99999999999999999999\" > 0", &[]));
    assert!(holds("true || 1/0 == 1", &[])); // short circuit: not evaluated
                                             // An invalid regular expression is a runtime error too.
    assert!(!holds("a ~= \"(unclosed\"", &[("a", "x")]));
    // The error falsifies the whole test it occurs in, as in libkeynote.
    assert!(!holds("a ~= \"(unclosed\" || a == \"x\"", &[("a", "x")]));
    assert!(holds("a == \"x\"", &[("a", "x")]));
}

#[test]
fn regular_expressions_and_captures() {
    assert!(holds(
        "host ~= \"^[a-z]+\\\\.example\\\\.com$\"",
        &[("host", "www.example.com")]
    ));
    assert!(!holds(
        "host ~= \"^[a-z]+\\\\.example\\\\.com$\"",
        &[("host", "www.example.org")]
    ));
    assert!(holds(
        "host ~= \"^([a-z]+)\\\\.([a-z]+)\\\\.com$\" && _0 == \"2\" && _1 == \"www\" && _2 == \"example\"",
        &[("host", "www.example.com")]
    ));
    assert!(holds("d ~= \"^[[:digit:]]{3}$\"", &[("d", "443")]));
    // Captures are valid only within their clause.
    let c = "h ~= \"^(a)\" -> \"ALLOW\"; _1 == \"a\" -> \"ALLOW\";";
    let mut s = Session::new();
    policy(
        &mut s,
        &format!("Authorizer: \"POLICY\"\nConditions: {c}\n"),
    );
    let mut qq = q(&DA, &[("h", "zzz")], &[]);
    assert_eq!(s.check(&mut qq).value(), "DENY");
    // Captures can feed the clause's value.
    let mut s = Session::new();
    policy(
        &mut s,
        "Authorizer: \"POLICY\"\nConditions: lvl ~= \"^level-(.*)$\" -> _1;\n",
    );
    let mut qq = q(&["low", "mid", "high"], &[("lvl", "level-mid")], &[]);
    assert_eq!(s.check(&mut qq).value(), "mid");
    // A regex computed from attributes is compiled at evaluation time.
    assert!(holds("x ~= pat", &[("x", "abc"), ("pat", "^a.c$")]));
}

#[test]
fn clauses_values_and_nesting() {
    // RFC 2704 section 5.3.4 example.
    let c = "@user_id == 0 -> \"full_access\";\n  @user_id < 1000 -> \"user_access\";\n  \
             @user_id < 10000 -> \"guest_access\";\n  user_name == \"root\" -> \"full_access\";";
    let vals = ["no_access", "guest_access", "user_access", "full_access"];
    let mut s = Session::new();
    policy(
        &mut s,
        &format!("Authorizer: \"POLICY\"\nConditions: {c}\n"),
    );
    let mut qq = q(&vals, &[("user_id", "1073"), ("user_name", "root")], &[]);
    assert_eq!(s.check(&mut qq).value(), "full_access");
    let mut qq = q(&vals, &[("user_id", "1073"), ("user_name", "bob")], &[]);
    assert_eq!(s.check(&mut qq).value(), "guest_access");
    let mut qq = q(&vals, &[("user_id", "19283"), ("user_name", "nobody")], &[]);
    assert_eq!(s.check(&mut qq).value(), "no_access");
    // Values not in the query's list count as _MIN_TRUST.
    assert_eq!(eval_cond("true -> \"MAYBE\";", &[]), "DENY");
    // A clause without a value is _MAX_TRUST.
    assert_eq!(eval_cond("true;", &[]), "ALLOW");
    // Nested blocks.
    let c = "a == \"b\" -> { b == \"c\" -> \"v1\"; d == \"e\" -> \"v2\"; true -> \"v0\"; };";
    let vals = ["none", "v0", "v1", "v2"];
    let mut s = Session::new();
    policy(
        &mut s,
        &format!("Authorizer: \"POLICY\"\nConditions: {c}\n"),
    );
    let mut qq = q(&vals, &[("a", "b"), ("d", "e")], &[]);
    assert_eq!(s.check(&mut qq).value(), "v2");
    let mut qq = q(&vals, &[("a", "x"), ("d", "e")], &[]);
    assert_eq!(s.check(&mut qq).value(), "none");
    // The caller's order decides: reversing the list reverses the outcome.
    let mut s = Session::new();
    policy(
        &mut s,
        "Authorizer: \"POLICY\"\nConditions: true -> \"A\"; true -> \"B\";\n",
    );
    assert_eq!(s.check(&mut q(&["A", "B"], &[], &[])).value(), "B");
    assert_eq!(s.check(&mut q(&["B", "A"], &[], &[])).value(), "A");
}

#[test]
fn special_attributes() {
    let vals = ["lo", "mid", "hi"];
    let mut s = Session::new();
    policy(
        &mut s,
        "Authorizer: \"POLICY\"\nLicensees: \"k1\"\nConditions: _MIN_TRUST == \"lo\" && _MAX_TRUST == \"hi\" && \
         _VALUES == \"lo,mid,hi\" && _ACTION_AUTHORIZERS == \"k1,k2\" -> _MAX_TRUST;\n",
    );
    let mut qq = q(&vals, &[], &["k1", "k2"]);
    assert_eq!(s.check(&mut qq).value(), "hi");
    let mut qq = Query::new(&vals).unwrap();
    assert_eq!(
        qq.set("_MAX_TRUST", "x").unwrap_err().kind,
        ErrorKind::ReservedAttribute
    );
}

#[test]
fn empty_versus_missing_fields() {
    let run = |t: &str| {
        let mut s = Session::new();
        policy(&mut s, t);
        s.check(&mut q(&DA, &[], &["req"])).value().to_string()
    };
    // Missing Conditions: _MAX_TRUST; empty Conditions: _MIN_TRUST.
    assert_eq!(run("Authorizer: \"POLICY\"\nLicensees: \"req\"\n"), "ALLOW");
    assert_eq!(
        run("Authorizer: \"POLICY\"\nLicensees: \"req\"\nConditions:\n"),
        "DENY"
    );
    // Missing Licensees: _MAX_TRUST; empty Licensees: _MIN_TRUST.
    assert_eq!(run("Authorizer: \"POLICY\"\nConditions: true;\n"), "ALLOW");
    assert_eq!(
        run("Authorizer: \"POLICY\"\nLicensees:\nConditions: true;\n"),
        "DENY"
    );
    // Licensee not among the requesters.
    assert_eq!(
        run("Authorizer: \"POLICY\"\nLicensees: \"other\"\n"),
        "DENY"
    );
    // No POLICY assertion at all.
    assert_eq!(run("Authorizer: \"someone\"\nLicensees: \"req\"\n"), "DENY");
}

#[test]
fn licensee_expressions_and_thresholds() {
    let run = |lic: &str, auth: &[&str]| {
        let mut s = Session::new();
        policy(
            &mut s,
            &format!("Authorizer: \"POLICY\"\nLicensees: {lic}\n"),
        );
        s.check(&mut q(&DA, &[], auth)).value().to_string()
    };
    assert_eq!(run("(\"alice\" && \"bob\") || \"eve\"", &["alice"]), "DENY");
    assert_eq!(
        run("(\"alice\" && \"bob\") || \"eve\"", &["alice", "bob"]),
        "ALLOW"
    );
    assert_eq!(run("(\"alice\" && \"bob\") || \"eve\"", &["eve"]), "ALLOW");
    assert_eq!(run("\"a\" || \"b\" && \"c\"", &["a"]), "ALLOW"); // && binds tighter
    assert_eq!(run("2-of(\"a\", \"b\", \"c\")", &["a"]), "DENY");
    assert_eq!(run("2-of(\"a\", \"b\", \"c\")", &["c", "a"]), "ALLOW");
    assert_eq!(run("3-of(\"a\", \"a\", \"b\")", &["a", "b"]), "ALLOW"); // multiplicity
                                                                        // K-of with graded values: the K-th highest.
    let vals = ["v0", "v1", "v2", "v3"];
    let mut s = Session::new();
    policy(
        &mut s,
        "Authorizer: \"POLICY\"\nLicensees: 3-of(\"p0\", \"p1\", \"p2\", \"p2b\", \"p3\")\n",
    );
    for (p, v) in [
        ("p0", "v0"),
        ("p1", "v1"),
        ("p2", "v2"),
        ("p2b", "v2"),
        ("p3", "v3"),
    ] {
        policy(
            &mut s,
            &format!("Authorizer: \"{p}\"\nLicensees: \"r\"\nConditions: true -> \"{v}\";\n"),
        );
    }
    assert_eq!(s.check(&mut q(&vals, &[], &["r"])).value(), "v2");
    // Bad thresholds are rejected with line and field.
    let mut s = Session::new();
    let e = s
        .add_policy("Authorizer: \"POLICY\"\nLicensees: 3-of(\"a\", \"b\")\n")
        .unwrap_err();
    assert_eq!(
        (e.kind, e.line, e.field),
        (ErrorKind::BadThreshold, 2, Some(Field::Licensees))
    );
}

#[test]
fn local_constants_and_syntax_details() {
    let mut s = Session::new();
    policy(
        &mut s,
        "KeyNote-Version: 2 # version\n\
         comment: a comment that\n  continues here\n\
         # a comment line inside\n\
         authorizer: \"POLICY\"\n\
         LICENSEES: ME ||\n    \"nobody\"\n\
         Local-Constants: ME = \"key-me\"\n    PORT = \"443\"\n\
         Conditions: @PORT == 443 && app ==\n    \"web\" -> \"ALLOW\";\n",
    );
    assert_eq!(
        s.check(&mut q(&DA, &[("app", "web")], &["key-me"])).value(),
        "ALLOW"
    );
    // Local-Constants override action attributes.
    assert_eq!(
        s.check(&mut q(&DA, &[("app", "web"), ("PORT", "80")], &["key-me"]))
            .value(),
        "ALLOW"
    );
    // Several assertions in one text, separated by a blank line.
    let mut s = Session::new();
    let ids = s
        .add_policy(
            "Authorizer: \"POLICY\"\nLicensees: \"a\"\n\nAuthorizer: \"a\"\nLicensees: \"b\"\n",
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(s.check(&mut q(&DA, &[], &["b"])).value(), "ALLOW");
    // Errors.
    let bad = [
        (
            "Authorizer: \"POLICY\"\nLocal-Constants: A = \"1\" A = \"2\"\n",
            ErrorKind::BadLocalConstant,
            2,
        ),
        (
            "Authorizer: \"POLICY\"\nLocal-Constants: _A = \"1\"\n",
            ErrorKind::BadLocalConstant,
            2,
        ),
        (
            "Authorizer: \"POLICY\"\nKeyNote-Version: 2\n",
            ErrorKind::VersionNotFirst,
            2,
        ),
        (
            "KeyNote-Version: 3\nAuthorizer: \"POLICY\"\n",
            ErrorKind::BadVersion,
            1,
        ),
        (
            "Authorizer: \"POLICY\"\nConditions: a == \"b\n",
            ErrorKind::UnterminatedString,
            2,
        ),
        (
            "Authorizer: \"POLICY\"\nConditions:\n  a == \"b\" c;\n",
            ErrorKind::Syntax("expected ';'"),
            3,
        ),
        ("Authorizer: attr_from_action\n", ErrorKind::NotConstant, 1),
        ("Licensees: \"x\"\n", ErrorKind::MissingAuthorizer, 1),
    ];
    for (t, kind, line) in bad {
        let e = Session::new().add_policy(t).unwrap_err();
        assert_eq!((e.kind.clone(), e.line), (kind, line), "{t}");
    }
}

#[test]
fn nesting_and_size_limits() {
    let deep = format!(
        "Authorizer: \"POLICY\"\nConditions: {}true{};\n",
        "(".repeat(500),
        ")".repeat(500)
    );
    assert_eq!(
        Session::new().add_policy(&deep).unwrap_err().kind,
        ErrorKind::TooDeep
    );
    let chain = format!(
        "Authorizer: \"POLICY\"\nConditions: true{};\n",
        " && true".repeat(500)
    );
    assert_eq!(
        Session::new().add_policy(&chain).unwrap_err().kind,
        ErrorKind::TooDeep
    );
    let big = format!("Authorizer: \"POLICY\"\nComment: {}\n", "x".repeat(70_000));
    assert!(matches!(
        Session::new().add_policy(&big).unwrap_err().kind,
        ErrorKind::TooLarge { .. }
    ));
    let re = format!(
        "Authorizer: \"POLICY\"\nConditions: a ~= \"{}\";\n",
        "a".repeat(2000)
    );
    assert_eq!(
        Session::new().add_policy(&re).unwrap_err().kind,
        ErrorKind::BadRegex
    );
    let kof = format!(
        "Authorizer: \"POLICY\"\nLicensees: 300-of({})\n",
        vec!["\"a\""; 300].join(",")
    );
    assert!(Session::new().add_policy(&kof).is_err());
}

fn sign(body: &str, sk: &PrivateKey, name: &str) -> String {
    let rng = ring::rand::SystemRandom::new();
    let unsigned = format!("{body}Signature:\n");
    let sig = text::sign_assertion(&unsigned, name, sk, &rng).unwrap();
    format!("{body}Signature: \"{sig}\"\n")
}

fn ed_key() -> (PrivateKey, String) {
    let rng = ring::rand::SystemRandom::new();
    let sk = PrivateKey::generate(KeyAlgorithm::Ed25519, 0, &rng).unwrap();
    let pk = sk.public_key().unwrap().to_text(Encoding::Hex);
    (sk, pk)
}

#[test]
fn delegation_chain_with_signed_credentials_and_diagnostics() {
    let (ca_sk, ca) = ed_key();
    let (mid_sk, mid) = ed_key();
    let (_, app) = ed_key();
    let mut s = Session::new();
    policy(
        &mut s,
        &format!(
            "Authorizer: \"POLICY\"\nLicensees: \"{ca}\"\nConditions: app_domain == \"netconn\";\n"
        ),
    );
    let c1 = sign(
        &format!(
            "KeyNote-Version: 2\nAuthorizer: \"{ca}\"\nLicensees: \"{mid}\"\nConditions: @port < 1024;\n"
        ),
        &ca_sk,
        "sig-ed25519-hex:",
    );
    let c2 = sign(
        &format!("Authorizer: \"{mid}\"\nLicensees: \"{app}\"\nConditions: host ~= \"\\\\.example\\\\.com$\";\n"),
        &mid_sk,
        "sig-ed25519-base64:",
    );
    let id1 = s.add_credential(&c1).unwrap()[0];
    let id2 = s.add_credential(&c2).unwrap()[0];
    assert_eq!(s.status(id1), Some(Status::Usable));
    assert_eq!(s.status(id2), Some(Status::Usable));
    let attrs = [
        ("app_domain", "netconn"),
        ("port", "443"),
        ("host", "db.example.com"),
    ];
    assert_eq!(s.check(&mut q(&DA, &attrs, &[&app])).value(), "ALLOW");
    // Each link matters.
    let mut qq = q(
        &DA,
        &[
            ("app_domain", "netconn"),
            ("port", "8080"),
            ("host", "db.example.com"),
        ],
        &[&app],
    );
    let ex = s.explain(&mut qq);
    assert_eq!(ex.verdict.value(), "DENY");
    assert!(ex
        .diagnostics
        .iter()
        .any(|d| d.assertion == id1 && d.reason == Reason::ConditionsFalse));
    // A credential signed by the wrong key is kept but never used.
    let forged = sign(
        &format!("Authorizer: \"{ca}\"\nLicensees: \"{app}\"\n"),
        &mid_sk,
        "sig-ed25519-hex:",
    );
    let idf = s.add_credential(&forged).unwrap()[0];
    assert_eq!(s.status(idf), Some(Status::BadSignature));
    let mut qq = q(&DA, &[("app_domain", "netconn"), ("port", "8080")], &[&app]);
    let ex = s.explain(&mut qq);
    assert_eq!(ex.verdict.value(), "DENY");
    assert!(ex
        .diagnostics
        .iter()
        .any(|d| d.assertion == idf && d.reason == Reason::BadSignature));
    // Tampering with a signed credential breaks it.
    let tampered = c2.replace("example", "exampl3");
    let idt = Session::new().add_credential(&tampered).unwrap()[0];
    let mut s2 = Session::new();
    let idt2 = s2.add_credential(&tampered).unwrap()[0];
    assert_eq!(idt, idt2);
    assert_eq!(s2.status(idt2), Some(Status::BadSignature));
    // Unsigned credentials never count, even with POLICY as authorizer.
    let mut s3 = Session::new();
    let idu = s3
        .add_credential("Authorizer: \"POLICY\"\nLicensees: \"x\"\n")
        .unwrap()[0];
    assert_eq!(s3.status(idu), Some(Status::Unsigned));
    assert_eq!(s3.check(&mut q(&DA, &[], &["x"])).value(), "DENY");
    // Unknown keys are named in the diagnostics.
    let mut s4 = Session::new();
    policy(
        &mut s4,
        &format!("Authorizer: \"POLICY\"\nLicensees: \"{mid}\"\n"),
    );
    let ex = s4.explain(&mut q(&DA, &[], &[&app]));
    assert!(
        matches!(&ex.diagnostics[0].reason, Reason::NotLicensed { unknown } if unknown[0].as_ref() == mid)
    );
    let mut s5 = Session::new();
    policy(&mut s5, "Authorizer: \"POLICY\"\nLicensees: \"x\"\n");
    s5.add_credential(&c2).unwrap();
    let ex = s5.explain(&mut q(&DA, &attrs, &[&app]));
    assert!(ex
        .diagnostics
        .iter()
        .any(|d| d.reason == Reason::NotReached));
}

#[test]
fn cycles_are_handled() {
    let mut s = Session::new();
    policy(&mut s, "Authorizer: \"POLICY\"\nLicensees: \"a\"\n");
    policy(&mut s, "Authorizer: \"a\"\nLicensees: \"b\"\n");
    policy(&mut s, "Authorizer: \"b\"\nLicensees: \"a\" || \"c\"\n");
    assert_eq!(s.check(&mut q(&DA, &[], &["c"])).value(), "ALLOW");
    assert_eq!(s.check(&mut q(&DA, &[], &["z"])).value(), "DENY");
    // A self-loop.
    let mut s = Session::new();
    policy(&mut s, "Authorizer: \"POLICY\"\nLicensees: \"a\"\n");
    policy(&mut s, "Authorizer: \"a\"\nLicensees: \"a\"\n");
    assert_eq!(s.check(&mut q(&DA, &[], &["z"])).value(), "DENY");
    // POLICY named as a requester grants nothing by itself.
    assert_eq!(s.check(&mut q(&DA, &[], &["POLICY"])).value(), "DENY");
}

#[test]
fn keys_compare_in_canonical_form_and_cache_verifications() {
    let (sk, pk_hex) = ed_key();
    let pk_b64 = sk.public_key().unwrap().to_text(Encoding::Base64);
    let mut s = Session::new();
    // Policy names the key in hex, the credential's Authorizer in base64.
    policy(
        &mut s,
        &format!("Authorizer: \"POLICY\"\nLicensees: \"{pk_hex}\"\n"),
    );
    let cred = sign(
        &format!("Authorizer: \"{pk_b64}\"\nLicensees: \"app\"\n"),
        &sk,
        "sig-ed25519-hex:",
    );
    s.add_credential(&cred).unwrap();
    assert_eq!(s.check(&mut q(&DA, &[], &["app"])).value(), "ALLOW");
    // Requester given in upper-case hex is the same key.
    let mut s2 = Session::new();
    policy(
        &mut s2,
        &format!("Authorizer: \"POLICY\"\nLicensees: \"{pk_hex}\"\n"),
    );
    assert_eq!(s2.check(&mut q(&DA, &[], &[&pk_b64])).value(), "ALLOW");
    // Verified once, then found in the cache by content hash.
    assert_eq!(s.verifications(), 1);
    s.clear_credentials();
    s.add_credential(&cred).unwrap();
    s.add_credential(&cred).unwrap();
    assert_eq!(s.verifications(), 1);
    assert_eq!(s.check(&mut q(&DA, &[], &["app"])).value(), "ALLOW");
}

#[test]
fn signature_cache_beyond_its_verbatim_entries_and_its_limit() {
    let (sk, pk_hex) = ed_key();
    let creds: Vec<String> = (0..10)
        .map(|i| {
            sign(
                &format!("Authorizer: \"{pk_hex}\"\nLicensees: \"app{i}\"\n"),
                &sk,
                "sig-ed25519-hex:",
            )
        })
        .collect();
    let mut s = Session::new();
    policy(
        &mut s,
        &format!("Authorizer: \"POLICY\"\nLicensees: \"{pk_hex}\"\n"),
    );
    for c in &creds {
        s.add_credential(c).unwrap();
    }
    assert_eq!(s.verifications(), 10);
    // Every one is found again, the first few verbatim, the rest by hash.
    s.clear_credentials();
    for c in creds.iter().rev() {
        s.add_credential(c).unwrap();
    }
    assert_eq!(s.verifications(), 10);
    assert_eq!(s.check(&mut q(&DA, &[], &["app7"])).value(), "ALLOW");
    // The same bytes with one signature digit changed are verified (and
    // fail), whether they would be compared verbatim or by hash.
    for c in [&creds[0], &creds[9]] {
        let at = c.rfind('"').unwrap() - 1;
        let mut bad = c.clone();
        let digit = if &bad[at..at + 1] == "0" { "1" } else { "0" };
        bad.replace_range(at..at + 1, digit);
        let ids = s.add_credential(&bad).unwrap();
        assert_eq!(s.status(ids[0]), Some(Status::BadSignature));
    }
    assert_eq!(s.verifications(), 12);
    // A fork starts with an empty cache.
    let mut f = s.fork();
    f.add_credential(&creds[0]).unwrap();
    assert_eq!(f.verifications(), 1);
    // With a cache of 3 entries, older entries are forgotten.
    let limits = keynote::Limits {
        signature_cache: 3,
        ..Default::default()
    };
    let mut small = Session::with_limits(limits);
    for c in creds.iter().take(4) {
        small.add_credential(c).unwrap();
    }
    assert_eq!(small.verifications(), 4);
    small.add_credential(&creds[3]).unwrap();
    assert_eq!(small.verifications(), 4);
    small.add_credential(&creds[0]).unwrap();
    assert_eq!(small.verifications(), 5);
}

#[test]
fn all_modern_signature_algorithms() {
    let rng = ring::rand::SystemRandom::new();
    for (alg, sig) in [
        (KeyAlgorithm::Ed25519, "sig-ed25519-hex:"),
        (KeyAlgorithm::EcdsaP256, "sig-ecdsa-p256-sha256-base64:"),
    ] {
        let sk = PrivateKey::generate(alg, 0, &rng).unwrap();
        let pk = sk.public_key().unwrap().to_text(Encoding::Base64);
        let cred = sign(
            &format!("Authorizer: \"{pk}\"\nLicensees: \"x\"\n"),
            &sk,
            sig,
        );
        assert!(text::verify_assertion(&cred).unwrap(), "{sig}");
        assert!(
            !text::verify_assertion(&cred.replace("\"x\"", "\"y\"")).unwrap(),
            "{sig}"
        );
    }
    // Mismatched algorithm and key type.
    let sk = PrivateKey::generate(KeyAlgorithm::Ed25519, 0, &rng).unwrap();
    let pk = sk.public_key().unwrap().to_text(Encoding::Hex);
    let e = text::sign_assertion(
        &format!("Authorizer: \"{pk}\"\nSignature:\n"),
        "sig-rsa-sha256-hex:",
        &sk,
        &rng,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlgorithmMismatch);
    let _ = SigAlgorithm::RsaSha1;
}

#[test]
fn dsa_and_md5_are_refused() {
    let mut s = Session::new();
    let e = s
        .add_policy("Authorizer: \"POLICY\"\nLicensees: \"dsa-hex:3081de02402ae5e2\"\n")
        .unwrap_err();
    assert_eq!(
        (e.kind, e.line, e.field),
        (ErrorKind::RefusedAlgorithm, 2, Some(Field::Licensees))
    );
    let e = s
        .add_credential(
            "Authorizer: \"x\"\nLicensees: \"y\"\nSignature: \"sig-rsa-md5-hex:00ff\"\n",
        )
        .unwrap_err();
    assert_eq!(
        (e.kind, e.line, e.field),
        (ErrorKind::RefusedAlgorithm, 3, Some(Field::Signature))
    );
    let e = s
        .add_credential("Authorizer: \"x\"\nSignature: \"sig-dsa-sha1-hex:00ff\"\n")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RefusedAlgorithm);
    assert_eq!(
        Query::new(&DA)
            .unwrap()
            .add_authorizer("dsa-base64:AAAA")
            .unwrap_err()
            .kind,
        ErrorKind::RefusedAlgorithm
    );
}

#[test]
fn session_is_send_and_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
    assert_send_sync::<Query>();
    let mut s = Session::new();
    policy(
        &mut s,
        "Authorizer: \"POLICY\"\nLicensees: \"a\"\nConditions: x ~= \"^[0-9]+$\";\n",
    );
    let s = std::sync::Arc::new(s);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let v = if i % 2 == 0 { "123" } else { "12a" };
                let mut qq = q(&DA, &[("x", v)], &["a"]);
                (0..100)
                    .all(|_| s.check(&mut qq).value() == if i % 2 == 0 { "ALLOW" } else { "DENY" })
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

#[test]
fn libkeynote_test_assertion_parses_with_dsa_refused() {
    // The shape of libkeynote's testsuite/test-assertion1 (comment inside
    // the Comment field, Local-Constants after Licensees, nested block,
    // string continuation), with its DSA key replaced by an opaque name
    // because DSA is refused.
    let t = include_str!("../../../policies/keynote/libkeynote-test-assertion1.kn");
    let mut s = Session::new();
    policy(&mut s, t);
    let vals = ["false", "true"];
    let mut qq = q(
        &vals,
        &[("app_domain", "testing"), ("request", "test"), ("foo", "7")],
        &["Key3"],
    );
    assert_eq!(s.check(&mut qq).value(), "true");
    let mut qq = q(
        &vals,
        &[("app_domain", "testing"), ("request", "test")],
        &["Key4"],
    );
    assert_eq!(s.check(&mut qq).value(), "false");
    let mut qq = q(
        &vals,
        &[("app_domain", "testing"), ("request", "test")],
        &["opaque-two"],
    );
    assert_eq!(s.check(&mut qq).value(), "true");
}

#[test]
fn example_netconn_policy() {
    let mut s = Session::new();
    policy(
        &mut s,
        include_str!("../../../policies/keynote/netconn-policy.kn"),
    );
    let vals = ["DENY", "LOG", "ALLOW"];
    let base = [
        ("app_domain", "netconn"),
        ("security_level", "2"),
        ("esp_enc_alg", "aes-gcm-256"),
        ("protocol", "tcp"),
    ];
    let with = |port: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut a: Vec<(&str, &str)> = base.to_vec();
        a.push(("dst_port", port));
        for (k, v) in extra {
            a.retain(|(n, _)| n != k);
            a.push((k, v));
        }
        a
    };
    assert_eq!(
        s.check(&mut q(&vals, &with("443", &[]), &["admin-key-placeholder"]))
            .value(),
        "ALLOW"
    );
    assert_eq!(
        s.check(&mut q(&vals, &with("22", &[]), &["admin-key-placeholder"]))
            .value(),
        "LOG"
    );
    assert_eq!(
        s.check(&mut q(
            &vals,
            &with("8080", &[]),
            &["admin-key-placeholder"]
        ))
        .value(),
        "DENY"
    );
    let weak = with("443", &[("esp_enc_alg", "null")]);
    assert_eq!(
        s.check(&mut q(&vals, &weak, &["admin-key-placeholder"]))
            .value(),
        "DENY"
    );
    let low = with("443", &[("security_level", "1")]);
    assert_eq!(
        s.check(&mut q(&vals, &low, &["admin-key-placeholder"]))
            .value(),
        "DENY"
    );
    assert_eq!(
        s.check(&mut q(&vals, &with("443", &[]), &["someone-else"]))
            .value(),
        "DENY"
    );
}

#[test]
fn compiled_regexes_are_bounded_per_session() {
    let (sk, key) = ed_key();
    // Regexes the bit-parallel matcher refuses (more than 64 positions):
    // each is compiled by the general engine.
    let cond = |n: usize, tag: &str| {
        (0..n)
            .map(|i| format!("host ~= \"^[a-z]{{1,80}}\\\\.{tag}{i}$\""))
            .collect::<Vec<_>>()
            .join(" || ")
    };
    let cred = |n: usize, tag: &str| {
        sign(
            &format!(
                "Authorizer: \"{key}\"\nLicensees: \"app\"\nConditions: {} -> \"ALLOW\";\n",
                cond(n, tag)
            ),
            &sk,
            "sig-ed25519-hex:",
        )
    };
    let mut s = Session::new();
    policy(
        &mut s,
        &format!(
            "Authorizer: \"POLICY\"\nLicensees: \"{key}\"\nConditions: host ~= \"^[a-z0-9.]+$\";\n"
        ),
    );
    let policy_bytes = s.regex_bytes();
    assert!(policy_bytes > 0);
    let one = {
        let mut f = s.fork();
        assert_eq!(
            f.regex_bytes(),
            policy_bytes,
            "a fork counts what it shares"
        );
        f.add_credential(&cred(1, "one")).unwrap();
        f.regex_bytes() - policy_bytes
    };
    assert!(one > 0);

    // A budget of the policy plus two such regexes: a credential with two
    // fits, one with three is refused with the limit's error, naming it,
    // and the session is left as it was.
    let limits = keynote::Limits {
        max_regex_total_bytes: policy_bytes + 2 * one + one / 2,
        ..Default::default()
    };
    let mut s = Session::with_limits(limits);
    policy(
        &mut s,
        &format!(
            "Authorizer: \"POLICY\"\nLicensees: \"{key}\"\nConditions: host ~= \"^[a-z0-9.]+$\";\n"
        ),
    );
    let big = cred(3, "big");
    let e = s.add_credential(&big).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::LimitExceeded("compiled regular expressions in a session")
    );
    assert!(
        e.to_string().contains("compiled regular expressions"),
        "{e}"
    );
    assert_eq!(s.len(), 1);
    assert_eq!(s.regex_bytes(), policy_bytes);
    // Several assertions in one text: all or none, and none are charged.
    let two = format!("{}\n{}", cred(1, "a"), cred(2, "b"));
    assert!(s.add_credential(&two).is_err());
    assert_eq!((s.len(), s.regex_bytes()), (1, policy_bytes));
    // What fits is added, and removing it gives its budget back.
    let ids = s.add_credential(&cred(2, "fits")).unwrap();
    assert_eq!(s.status(ids[0]), Some(Status::Usable));
    assert!(s.regex_bytes() > policy_bytes);
    let mut query = q(&DA, &[("host", "abc.fits1")], &["app"]);
    assert_eq!(s.check(&mut query).value(), "ALLOW");
    assert!(s.add_credential(&cred(1, "more")).is_err());
    assert!(s.remove(ids[0]));
    assert_eq!(s.regex_bytes(), policy_bytes);
    s.add_credential(&cred(2, "again")).unwrap();
}
