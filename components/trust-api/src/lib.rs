//! Interface of the trust PD: the network server asks "may this application
//! do this network action with these credentials?" and gets a KeyNote
//! compliance value with, on denial, the reasons.
//!
//! # Action attributes
//!
//! The trust PD turns an [`Action`] into KeyNote action attributes with
//! [`Action::attributes`]; policies and credentials are written against these
//! names (in the spirit of isakmpd's `app_domain`, `local_filter`, ...):
//!
//! | attribute | value |
//! |---|---|
//! | `app_domain` | always `vetted` |
//! | `operation` | `connect`, `bind`, `sendto` or `accept` |
//! | `protocol` | `tcp` or `udp` |
//! | `address_family` | `IPv4` or `IPv6` |
//! | `local_address`, `remote_address` | canonical form: IPv4 zero-padded (`192.000.002.001`), IPv6 full lower-case hex (`2001:0db8:0000:...:0001`), so `<`/`>` compare addresses; `ANY` when unspecified |
//! | `local_port`, `remote_port` | decimal (`443`), `ANY` when unspecified; use `@remote_port` to compare numerically |
//! | `service` | `auth`, `con` or `auth-con` (SEC_AUTH, SEC_CON, SEC_AUTH_CON) |
//! | `level`, `level_num` | `bypass`, `avail`, `use`, `require`, `unique`; and OpenBSD's number 0..4 |
//! | `esp_alg` | the outbound transform (`aes-gcm-256`, `chacha20-poly1305`, `aes-gcm-128`, `aes-gmac-256`, `aes-gmac-128`) or `none` |
//! | `esp_algs` | every acceptable transform, comma-separated, preference order |
//! | `requesting_pd` | the application's protection domain name |
//! | `node` | the name of the node the network server runs on |
//! | `GMTTimeOfDay` | UTC time `YYYYMMDDHHMMSS` (as isakmpd) |
//! | `time_of_day` | UTC time of day `HHMMSS` |
//!
//! Attributes with unspecified values (`ANY`) make numeric tests fail, so a
//! policy that compares `@remote_port` never admits an unspecified port.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use netserver_api::{Endpoint, IpAddr, Protection, Proto};
use serde::{Deserialize, Serialize};

/// The network operation being vetted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// `Sec_connect`.
    Connect,
    /// `Sec_bind`.
    Bind,
    /// `Sec_sendto`.
    SendTo,
    /// Accepting an inbound connection on a bound socket.
    Accept,
}

impl Operation {
    /// Attribute value.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::Connect => "connect",
            Operation::Bind => "bind",
            Operation::SendTo => "sendto",
            Operation::Accept => "accept",
        }
    }
}

/// A network action an application asks for, after the admin floor has been
/// applied (so `protection` is what the connection would really get).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// What is done.
    pub operation: Operation,
    /// Transport protocol.
    pub protocol: Proto,
    /// Local endpoint.
    pub local: Endpoint,
    /// Remote endpoint.
    pub remote: Endpoint,
    /// Effective protection.
    pub protection: Protection,
    /// The application's PD name (from the channel, not from the application).
    pub requesting_pd: String,
    /// The node's name.
    pub node: String,
    /// Current time, seconds since the Unix epoch.
    pub now: u64,
}

/// `app_domain` of every action.
pub const APP_DOMAIN: &str = "vetted";

/// Canonical attribute form of an address (see the crate docs).
pub fn canonical_addr(addr: Option<IpAddr>) -> String {
    match addr {
        None => String::from("ANY"),
        Some(IpAddr::V4(a)) => format!("{:03}.{:03}.{:03}.{:03}", a[0], a[1], a[2], a[3]),
        Some(IpAddr::V6(a)) => {
            let mut s = String::with_capacity(39);
            for (i, pair) in a.chunks_exact(2).enumerate() {
                if i > 0 {
                    s.push(':');
                }
                s.push_str(&format!("{:02x}{:02x}", pair[0], pair[1]));
            }
            s
        }
    }
}

fn port(p: Option<u16>) -> String {
    match p {
        Some(p) => format!("{p}"),
        None => String::from("ANY"),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYYMMDDHHMMSS` in UTC.
pub fn gmt_time_of_day(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl Action {
    /// The KeyNote action attributes of this action, as documented in the
    /// crate docs.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let family = match self.remote.addr.or(self.local.addr) {
            Some(IpAddr::V6(_)) => "IPv6",
            _ => "IPv4",
        };
        let p = &self.protection;
        let level = match p.level {
            netserver_api::Level::Bypass => "bypass",
            netserver_api::Level::Avail => "avail",
            netserver_api::Level::Use => "use",
            netserver_api::Level::Require => "require",
            netserver_api::Level::Unique => "unique",
        };
        let service = match p.service {
            netserver_api::Service::Auth => "auth",
            netserver_api::Service::Con => "con",
            netserver_api::Service::AuthCon => "auth-con",
        };
        let mut algs = String::new();
        for (i, a) in p.algorithms.iter().enumerate() {
            if i > 0 {
                algs.push(',');
            }
            algs.push_str(a.name());
        }
        let gmt = gmt_time_of_day(self.now);
        let tod = String::from(&gmt[8..]);
        alloc::vec![
            ("app_domain", String::from(APP_DOMAIN)),
            ("operation", String::from(self.operation.name())),
            ("protocol", String::from(self.protocol.name())),
            ("address_family", String::from(family)),
            ("local_address", canonical_addr(self.local.addr)),
            ("local_port", port(self.local.port)),
            ("remote_address", canonical_addr(self.remote.addr)),
            ("remote_port", port(self.remote.port)),
            ("service", String::from(service)),
            ("level", String::from(level)),
            ("level_num", format!("{}", p.level.to_c())),
            (
                "esp_alg",
                String::from(p.outbound_algorithm().map_or("none", |a| a.name()))
            ),
            ("esp_algs", algs),
            ("requesting_pd", self.requesting_pd.clone()),
            ("node", self.node.clone()),
            ("GMTTimeOfDay", gmt),
            ("time_of_day", tod),
        ]
    }
}

/// A request to the trust PD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Decide an action.
    Query {
        /// The application's KeyNote principal (its public key), from the
        /// policy repository's binding of the application PD.
        requester: String,
        /// The action.
        action: Action,
        /// Credentials the application supplied, plus those the policy
        /// repository holds for it.
        credentials: Vec<String>,
    },
    /// Drop the cached policy and fetch it again from the policy repository.
    Reload,
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the action is allowed (the compliance value is `ALLOW`).
    pub allowed: bool,
    /// The compliance value reached, one of [`VALUES`].
    pub value: String,
    /// On denial: which assertions did not contribute and why, one per line.
    pub reasons: Vec<String>,
}

/// The compliance values of every query, lowest first.
pub const VALUES: [&str; 2] = ["DENY", "ALLOW"];

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The decision.
    Decision(Decision),
    /// The policy was reloaded; this many assertions are in force.
    Reloaded(u32),
}

/// Errors of the trust PD. Every error means the action is denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The policy repository could not be reached or gave no valid policy.
    PolicyUnavailable,
    /// A credential could not be parsed; the text says which and why.
    BadCredential(String),
    /// A limit (size, count, nesting) was exceeded.
    LimitExceeded,
    /// The request could not be decoded.
    Protocol,
    /// The caller may not make this request.
    NotPermitted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PolicyUnavailable => f.write_str("policy unavailable"),
            Error::BadCredential(why) => write!(f, "bad credential: {why}"),
            Error::LimitExceeded => f.write_str("limit exceeded"),
            Error::Protocol => f.write_str("malformed request"),
            Error::NotPermitted => f.write_str("not permitted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use netserver_api::{AlgSet, Algorithm, Level, Service};

    fn action() -> Action {
        Action {
            operation: Operation::Connect,
            protocol: Proto::Tcp,
            local: Endpoint::new(IpAddr::V4([192, 0, 2, 1]), 49152),
            remote: Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7),
            protection: Protection {
                service: Service::AuthCon,
                level: Level::Require,
                algorithms: AlgSet::of(&[Algorithm::AesGcm128, Algorithm::AesGcm256]),
            },
            requesting_pd: "client".into(),
            node: "node-a".into(),
            now: 1_700_000_000,
        }
    }

    fn get<'a>(attrs: &'a [(&'static str, String)], name: &str) -> &'a str {
        attrs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no attribute {name}"))
    }

    #[test]
    fn attributes_are_canonical() {
        let a = action().attributes();
        assert_eq!(get(&a, "app_domain"), "vetted");
        assert_eq!(get(&a, "operation"), "connect");
        assert_eq!(get(&a, "protocol"), "tcp");
        assert_eq!(get(&a, "address_family"), "IPv4");
        assert_eq!(get(&a, "local_address"), "192.000.002.001");
        assert_eq!(get(&a, "remote_address"), "192.000.002.002");
        assert_eq!(get(&a, "remote_port"), "7");
        assert_eq!(get(&a, "service"), "auth-con");
        assert_eq!(get(&a, "level"), "require");
        assert_eq!(get(&a, "level_num"), "3");
        assert_eq!(get(&a, "esp_alg"), "aes-gcm-256");
        assert_eq!(get(&a, "esp_algs"), "aes-gcm-256,aes-gcm-128");
        assert_eq!(get(&a, "requesting_pd"), "client");
        assert_eq!(get(&a, "node"), "node-a");
        // 1_700_000_000 is 2023-11-14 22:13:20 UTC.
        assert_eq!(get(&a, "GMTTimeOfDay"), "20231114221320");
        assert_eq!(get(&a, "time_of_day"), "221320");
        let names: Vec<_> = a.iter().map(|(n, _)| *n).collect();
        let mut dedup = names.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), names.len(), "attribute names are unique");
    }

    #[test]
    fn canonical_addresses_sort_like_addresses() {
        let lo = canonical_addr(Some(IpAddr::V4([10, 0, 0, 9])));
        let hi = canonical_addr(Some(IpAddr::V4([10, 0, 0, 10])));
        assert!(lo < hi, "{lo} < {hi}");
        let mut v6 = [0u8; 16];
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[2] = 0x0d;
        v6[3] = 0xb8;
        v6[15] = 1;
        assert_eq!(
            canonical_addr(Some(IpAddr::V6(v6))),
            "2001:0db8:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(canonical_addr(None), "ANY");
    }

    #[test]
    fn any_ports_and_ipv6_family() {
        let mut a = action();
        a.local = Endpoint::ANY;
        a.remote = Endpoint::new(IpAddr::V6([0xff; 16]), 443);
        a.protection.level = Level::Bypass;
        let attrs = a.attributes();
        assert_eq!(get(&attrs, "local_port"), "ANY");
        assert_eq!(get(&attrs, "local_address"), "ANY");
        assert_eq!(get(&attrs, "address_family"), "IPv6");
        assert_eq!(get(&attrs, "esp_alg"), "none");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(gmt_time_of_day(0), "19700101000000");
        assert_eq!(gmt_time_of_day(951_782_400), "20000229000000");
        assert_eq!(gmt_time_of_day(4_102_444_799), "20991231235959");
    }

    #[test]
    fn requests_round_trip() {
        let r = Request::Query {
            requester: "ed25519-hex:00".into(),
            action: action(),
            credentials: vec!["Authorizer: POLICY".into()],
        };
        let bytes = postcard::to_allocvec(&r).unwrap();
        assert_eq!(postcard::from_bytes::<Request>(&bytes).unwrap(), r);
    }
}
