//! Trust decisions with the demo policy and the client's credential
//! (Ed25519), warm against cold, measured in the same run:
//!
//! - warm: one `Trust` for every query (the PD's case): the compiled
//!   policy and the verified signature are reused;
//! - cold: a fresh `Trust` per query: the policy is compiled and the
//!   credential's signature verified every time (what a trust server
//!   without caching would do).
//!
//! Also the deny path (forged credential: a verification per query, plus
//! the diagnostics). `ratio` = warm / cold: below 1.0 means reuse wins.
//! Queries alternate between cases in rounds so that machine noise hits
//! both alike; the ratio printed is the median of the rounds' ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use netserver_api::{AlgSet, Algorithm, Endpoint, IpAddr, Level, Protection, Proto, Service};
use trust::{PolicySource, PolicyText, Trust, Unavailable};
use trust_api::{Action, Operation};

const POLICY_A: &str = include_str!("../../../policies/demo/node-a/policy.kn");
const CLIENT_KEY: &str = include_str!("../../../policies/demo/keys/client.key");
const INTRUDER_KEY: &str = include_str!("../../../policies/demo/keys/intruder.key");
const CLIENT_CRED: &str = include_str!("../../../policies/demo/credentials/client.cred");
const FORGED_CRED: &str = include_str!("../../../policies/demo/credentials/intruder-forged.cred");

struct Fixed(PolicyText);

impl PolicySource for Fixed {
    fn fetch(&mut self) -> Result<PolicyText, Unavailable> {
        Ok(self.0.clone())
    }
}

fn action(pd: &str) -> Action {
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
        requesting_pd: pd.into(),
        node: "node-a".into(),
        now: 1_790_000_000,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let policy = PolicyText {
        version: 1,
        assertions: POLICY_A
            .split("\n\n")
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("{}\n", s.trim()))
            .collect(),
    };
    let mut src = Fixed(policy);
    let client = action("client");
    let intruder = action("intruder");
    let good = vec![String::from(CLIENT_CRED)];
    let forged = vec![String::from(FORGED_CRED)];

    let mut warm = Trust::new();
    let (mut t_warm, mut t_cold, mut t_deny) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (rounds, per) = (20u32, 100u32);
    let mut n = 0u64;
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let (w0, c0) = (t_warm, t_cold);
        let t0 = Instant::now();
        for _ in 0..per {
            let d = warm.decide(CLIENT_KEY, &client, &good, &mut src);
            assert!(black_box(d).is_ok_and(|d| d.allowed));
        }
        t_warm += t0.elapsed();
        let t0 = Instant::now();
        for _ in 0..per {
            let mut cold = Trust::new();
            let d = cold.decide(CLIENT_KEY, &client, &good, &mut src);
            assert!(black_box(d).is_ok_and(|d| d.allowed));
        }
        t_cold += t0.elapsed();
        let t0 = Instant::now();
        for _ in 0..per {
            let d = warm.decide(INTRUDER_KEY, &intruder, &forged, &mut src);
            assert!(black_box(d).is_ok_and(|d| !d.allowed && !d.reasons.is_empty()));
        }
        t_deny += t0.elapsed();
        n += u64::from(per);
        ratios.push((t_warm - w0).as_secs_f64() / (t_cold - c0).as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!("trust decisions, demo policy, Ed25519 credential ({n} queries per case)");
    println!(
        "  warm ALLOW (policy and signature reused): {:8.1} us/query",
        us(t_warm)
    );
    println!(
        "  cold ALLOW (compile + verify per query):  {:8.1} us/query",
        us(t_cold)
    );
    println!(
        "  warm DENY, forged credential + reasons:   {:8.1} us/query",
        us(t_deny)
    );
    println!("  ratio warm/cold: {median:.3} (median of {rounds} rounds)");
    println!(
        "  verifications by the warm session: {}",
        warm.stats().verifications
    );
}
