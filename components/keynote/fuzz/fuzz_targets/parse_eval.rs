//! Parser + evaluator: arbitrary bytes are split into a policy, a
//! credential and action attributes; nothing may panic, and a verdict is
//! always one of the query's values.
#![no_main]

use keynote::{text, Query, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let mut parts = s.splitn(3, '\u{0}');
    let policy = parts.next().unwrap_or("");
    let credential = parts.next().unwrap_or("");
    let attrs = parts.next().unwrap_or("");

    let mut session = Session::new();
    let _ = session.add_policy(policy);
    let _ = session.add_credential(credential);
    let Ok(mut q) = Query::new(&["DENY", "MAYBE", "ALLOW"]) else { return };
    for line in attrs.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let _ = q.set(k, v);
        } else {
            let _ = q.add_authorizer(line);
        }
    }
    let v = session.check(&mut q);
    assert!(v.index() < 3);
    let e = session.explain(&mut q);
    assert_eq!(e.verdict.index(), v.index());
    let mut fork = session.fork();
    let _ = fork.add_credential(policy);
    let _ = fork.check(&mut q);
    let _ = text::verify_assertion(credential);
    let _ = text::parse_key_file(attrs);
    let _ = text::parse_environment(attrs);
    let _ = keynote::Principal::parse(attrs);
    let _ = keynote::Signature::parse(attrs);
    let _ = keynote::fastre::FastRegex::new(attrs).map(|r| r.is_match(policy.as_bytes()));
});
