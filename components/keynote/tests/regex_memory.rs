//! Memory bound of compiled regular expressions
//! (`Limits::max_regex_total_bytes`), measured with a counting allocator.
//! One test function only: the allocator counts every thread of the binary.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use keynote::{ErrorKind, Limits, Query, Session};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged (so `System`'s guarantees hold) and only updates counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout` (above).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts measuring a peak from the current live bytes.
fn reset_peak() -> usize {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// A regex of about `len` bytes that the bit-parallel matcher refuses (too
/// many positions), so it goes to the general engine: alternatives of
/// counted classes, distinct per `seed`.
fn big_regex(seed: usize, len: usize) -> String {
    let mut p = String::from("^(");
    let mut i = 0;
    while p.len() + 40 < len {
        if i > 0 {
            p.push('|');
        }
        p.push_str(&format!(
            "[a-{}]{{1,30}}\\.x{}{}",
            (b'c' + (i % 20) as u8) as char,
            seed,
            i
        ));
        i += 1;
    }
    p.push_str(")$");
    p
}

/// A policy assertion with `n` regexes of about `len` bytes.
fn policy_with_regexes(seed: usize, n: usize, len: usize) -> String {
    let mut c = String::from("Authorizer: \"POLICY\"\nLicensees: \"app\"\nConditions: ");
    for i in 0..n {
        if i > 0 {
            c.push_str(" || ");
        }
        c.push_str(&format!(
            "dst_host ~= \"{}\"",
            big_regex(seed * 1000 + i, len)
        ));
    }
    c.push_str(" -> \"ALLOW\";\n");
    c
}

#[test]
fn regex_memory_is_bounded_by_the_session_budget() {
    // 1. The attack of the trust PD report: 50 regexes of 1000 bytes in one
    // assertion. With the default budget the session refuses it, having
    // allocated at most the budget plus one regex's build.
    let text = policy_with_regexes(1, 50, 1000);
    let limits = Limits::default();
    let budget = limits.max_regex_total_bytes;
    let base = reset_peak();
    let mut s = Session::new();
    let err = s.add_policy(&text).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::LimitExceeded("compiled regular expressions in a session")
    );
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!("50 x 1000-byte regexes: refused, peak {peak} bytes (budget {budget})");
    assert!(
        peak < budget + (2 << 20),
        "peak {peak} over budget {budget} + 2 MiB"
    );
    assert!(s.is_empty());
    assert_eq!(s.regex_bytes(), 0);
    drop(s);

    // 2. A session filled close to the budget, then searched many times
    // with distinct haystacks (which grows the engines' search caches):
    // the heap it holds stays within what it counted plus its text.
    let before = live();
    let mut s = Session::new();
    let mut texts = 0;
    for seed in 0..1000 {
        let t = policy_with_regexes(seed + 10, 2, 1000);
        match s.add_policy(&t) {
            Ok(_) => texts += t.len(),
            Err(e) => {
                assert_eq!(
                    e.kind,
                    ErrorKind::LimitExceeded("compiled regular expressions in a session")
                );
                break;
            }
        }
    }
    assert!(s.len() >= 2, "only {} assertions fit", s.len());
    assert!(s.regex_bytes() <= budget);
    let mut q = Query::new(&["DENY", "ALLOW"]).unwrap();
    q.add_authorizer("app").unwrap();
    for i in 0..300 {
        // Haystacks that go deep into the alternatives, all different.
        let host = format!(
            "{}.x{}{}",
            "abcdefghijklmnopqrstuvwxyz"
                .repeat(2)
                .get(..1 + (i * 7) % 30)
                .unwrap(),
            10_000 + (i % 20),
            i % 40
        );
        q.set("dst_host", &host).unwrap();
        let _ = s.check(&mut q);
    }
    let held = live() - before;
    println!(
        "{} assertions, {} regex bytes counted, {} text bytes, {} bytes held after 300 queries",
        s.len(),
        s.regex_bytes(),
        texts,
        held
    );
    assert!(
        held <= s.regex_bytes() + 4 * texts + (64 << 10),
        "held {held} > counted {} + 4 x text {texts} + 64 KiB",
        s.regex_bytes()
    );
}
