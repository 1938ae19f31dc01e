//! What the demo applications share: their public credentials (compiled in;
//! KeyNote credentials are signed public text, no private key ever enters an
//! application PD), the demo addresses, how a protection is described, and
//! the little time keeping the applications need on both backends.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::time::Duration;
use secsock::{Endpoint, InboundProtection, IpAddr, Protection};

/// The applications' stack on seL4 (`protection_domain!(.., stack_size)`):
/// every `secsock` call encodes and decodes through a stack buffer of
/// `netserver_api::MAX_MESSAGE` (64 KiB) in `ipc::rpc::Client::call`, so
/// the runtime's 64 KiB default is too small: 69 KB measured on QEMU
/// `virt` (system/sel4/demo-mock.system).
pub const STACK_SIZE: usize = 0x4_0000;
/// The applications' heap on seL4: 3.6 KB measured at most; a message is
/// at most 64 KiB (decoded once into owned data).
pub const HEAP_SIZE: usize = 0x10_0000;

/// Time since this PD started (host) or since boot (seL4): a monotonic
/// clock for retry loops.
pub fn now() -> Duration {
    #[cfg(target_os = "none")]
    {
        microkit::sel4::uptime()
    }
    #[cfg(not(target_os = "none"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}

/// Pauses for `d`: a sleep on the host; on seL4, where an application has
/// no timer service, a busy wait on the ARM counter (applications run below
/// the network server's priority, so it keeps running meanwhile).
pub fn pause(d: Duration) {
    #[cfg(target_os = "none")]
    {
        let until = now() + d;
        while now() < until {
            core::hint::spin_loop();
        }
    }
    #[cfg(not(target_os = "none"))]
    std::thread::sleep(d);
}

/// Node B's echo service (TCP and UDP).
pub const ECHO: Endpoint = Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7);
/// The echo port.
pub const ECHO_PORT: u16 = 7;

/// `client`'s credential from the administrator's KeyNote key.
pub const CLIENT_CRED: &str = include_str!("../../../policies/demo/credentials/client.cred");
/// `lowball`'s credential (licensed like `client`).
pub const LOWBALL_CRED: &str = include_str!("../../../policies/demo/credentials/lowball.cred");
/// What `intruder` presents: the client's credential re-licensed to the
/// intruder's key, whose signature does not verify.
pub const INTRUDER_CRED: &str =
    include_str!("../../../policies/demo/credentials/intruder-forged.cred");
/// `echo`'s credential on node B.
pub const ECHO_CRED: &str = include_str!("../../../policies/demo/credentials/echo.cred");

/// "auth-con require aes-gcm-256 (allowed: ...)".
pub fn describe(p: &Protection) -> String {
    let mut s = format!("service {:?}, level {:?}", p.service, p.level);
    if let Some(a) = p.outbound_algorithm() {
        let _ = write!(s, ", outbound algorithm {a}");
    }
    let allowed: Vec<&str> = p.algorithms.iter().map(|a| a.name()).collect();
    let _ = write!(s, " (acceptable: {})", allowed.join(", "));
    s
}

/// "ESP chacha20-poly1305, SPI 0x2003, peer ed25519-hex:…".
pub fn describe_inbound(p: &InboundProtection) -> String {
    match (p.algorithm, p.spi) {
        (Some(a), Some(spi)) => {
            let peer = p.peer_key.as_deref().map(short_key).unwrap_or("?".into());
            format!("ESP {a}, SPI {spi:#x}, peer key {peer}")
        }
        _ => "UNPROTECTED".into(),
    }
}

/// A key shortened for output: its algorithm and the first 16 hex digits.
pub fn short_key(k: &str) -> String {
    let k = k.trim();
    match k.find(':') {
        Some(i) => {
            let hex: String = k[i + 1..].chars().take(16).collect();
            format!("{}{hex}…", &k[..=i])
        }
        None => k.chars().take(24).collect(),
    }
}

/// The first `Authorizer:` and `Licensees:` lines of each credential.
pub fn describe_credentials(creds: &[String]) -> Vec<String> {
    creds
        .iter()
        .map(|c| {
            let field = |name: &str| {
                c.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| short_key(v.trim().trim_matches('"')))
                    .unwrap_or_default()
            };
            format!(
                "credential: authorizer {} licensees {}",
                field("Authorizer:"),
                field("Licensees:")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use secsock::{AlgSet, Algorithm, Level, Service};

    #[test]
    fn credentials_are_public_only() {
        for c in [CLIENT_CRED, LOWBALL_CRED, INTRUDER_CRED, ECHO_CRED] {
            assert!(c.contains("KeyNote-Version"));
            assert!(c.contains("Signature:"));
            assert!(
                !c.to_lowercase().contains("private"),
                "no private key in an app"
            );
        }
    }

    #[test]
    fn descriptions() {
        let p = Protection {
            service: Service::AuthCon,
            level: Level::Require,
            algorithms: AlgSet::of(&[Algorithm::AesGcm128, Algorithm::AesGcm256]),
        };
        assert_eq!(
            describe(&p),
            "service AuthCon, level Require, outbound algorithm aes-gcm-256 (acceptable: aes-gcm-256, aes-gcm-128)"
        );
        let i = InboundProtection {
            algorithm: Some(Algorithm::AesGcm256),
            spi: Some(0x2001),
            peer_key: Some("ed25519-hex:0123456789abcdef0123".into()),
        };
        assert_eq!(
            describe_inbound(&i),
            "ESP aes-gcm-256, SPI 0x2001, peer key ed25519-hex:0123456789abcdef…"
        );
        let none = InboundProtection {
            algorithm: None,
            spi: None,
            peer_key: None,
        };
        assert_eq!(describe_inbound(&none), "UNPROTECTED");
        let d = describe_credentials(&[CLIENT_CRED.to_string()]);
        assert!(
            d[0].starts_with("credential: authorizer ed25519-hex:"),
            "{d:?}"
        );
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn pause_waits_and_now_grows() {
        let t0 = now();
        pause(Duration::from_millis(20));
        let dt = now() - t0;
        assert!(dt >= Duration::from_millis(20), "{dt:?}");
    }
}
