//! The trust core's heap under hostile credentials, measured with a
//! counting allocator: the peak stays within the arithmetic of
//! `trust::MAX_CACHED_BYTES` (which sizes the trust PD's 16 MiB seL4 heap).
//! One test function only: the allocator counts every thread of the binary.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use netserver_api::{AlgSet, Algorithm, Endpoint, IpAddr, Level, Protection, Proto, Service};
use trust::{Action, Error, PolicySource, PolicyText, Trust, Unavailable, MAX_CACHED_BYTES};
use trust_api::Operation;

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

const POLICY_A: &str = include_str!("../../../policies/demo/node-a/policy.kn");
const CLIENT_KEY: &str = include_str!("../../../policies/demo/keys/client.key");
const CLIENT_CRED: &str = include_str!("../../../policies/demo/credentials/client.cred");
const CLIENT_PRIV: &str = include_str!("../../../policies/demo/keys/client.priv");

struct Source(PolicyText);

impl PolicySource for Source {
    fn fetch(&mut self) -> Result<PolicyText, Unavailable> {
        Ok(self.0.clone())
    }
}

fn connect() -> Action {
    Action {
        operation: Operation::Connect,
        protocol: Proto::Tcp,
        local: Endpoint::new(IpAddr::V4([192, 0, 2, 1]), 49152),
        remote: Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7),
        protection: Protection {
            service: Service::AuthCon,
            level: Level::Require,
            algorithms: AlgSet::of(&[Algorithm::AesGcm256]),
        },
        requesting_pd: "client".into(),
        node: "node-a".into(),
        now: 1_790_000_000,
    }
}

fn signed_by_client(body: &str) -> String {
    let rng = ring::rand::SystemRandom::new();
    let sk = keynote::PrivateKey::parse(&keynote::text::parse_key_file(CLIENT_PRIV).unwrap(), &rng)
        .unwrap();
    let unsigned = format!("{body}Signature:\n");
    let sig = keynote::text::sign_assertion(&unsigned, "sig-ed25519-hex:", &sk, &rng).unwrap();
    format!("{body}Signature: \"{sig}\"\n")
}

/// `n` general-engine regexes of about `len` bytes, distinct per `seed`.
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

#[test]
fn hostile_credentials_keep_the_heap_within_its_bound() {
    let mut src = Source(PolicyText {
        version: 1,
        assertions: POLICY_A
            .split("\n\n")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("{s}\n"))
            .collect(),
    });
    let client = CLIENT_KEY.trim();
    let good = vec![String::from(CLIENT_CRED)];
    let mut t = Trust::new();
    assert!(
        t.decide(CLIENT_KEY, &connect(), &good, &mut src)
            .unwrap()
            .allowed
    );
    // Inputs are built before measuring.
    let attacks: Vec<String> = (0..100)
        .map(|i| {
            format!(
                "Authorizer: \"{client}\"\nLicensees: \"{client}\"\nConditions: {} -> \"ALLOW\";\n",
                big_regexes(i, 50, 1000)
            )
        })
        .collect();
    let heavy: Vec<Vec<String>> = (0..40)
        .map(|i| {
            let body = format!(
                "Authorizer: \"{client}\"\nLicensees: \"y\"\nConditions: {} -> \"ALLOW\";\n",
                big_regexes(1000 + i, 6, 1000)
            );
            vec![String::from(CLIENT_CRED), signed_by_client(&body)]
        })
        .collect();

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    for a in &attacks {
        assert_eq!(
            t.decide(CLIENT_KEY, &connect(), std::slice::from_ref(a), &mut src),
            Err(Error::LimitExceeded)
        );
    }
    let attack_peak = PEAK.load(Ordering::Relaxed) - base;
    for (round, set) in heavy.iter().enumerate() {
        // Each set twice: cached, then searched from the cache.
        for _ in 0..2 {
            let d = t.decide(CLIENT_KEY, &connect(), set, &mut src).unwrap();
            assert!(d.allowed, "round {round}: {d:?}");
        }
        assert!(t.cached().1 <= MAX_CACHED_BYTES);
    }
    assert!(
        t.decide(CLIENT_KEY, &connect(), &good, &mut src)
            .unwrap()
            .allowed
    );
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    let (sets, counted) = t.cached();
    println!(
        "100 refused 50 x 1000-byte regex credentials: peak {attack_peak} bytes; \
         then 40 signed sets of 6 regexes: peak {peak} bytes, {held} held by {sets} cached sets \
         counted {counted} (bound {MAX_CACHED_BYTES})"
    );
    // The doc's worst case: cache 4 MiB + a query's session 4 MiB + the
    // refused regex 2 MiB + messages; the policy is in `base`.
    let bound = MAX_CACHED_BYTES + (4 << 20) + (2 << 20) + (1 << 20);
    assert!(peak <= bound, "peak {peak} > {bound}");
    assert!(held <= MAX_CACHED_BYTES, "held {held} > {MAX_CACHED_BYTES}");
    assert!(
        held <= counted + (256 << 10),
        "held {held} > counted {counted} + 256 KiB"
    );
}
