//! Test and benchmark support: two network servers wired back to back over
//! a [`pipe`](crate::pipe), with hand-keyed SAs as a node's policy bundle
//! would give them, and an [`Authority`] answering from fixed profiles.
//!
//! Node A is 192.0.2.1 and 2001:db8::1 (app `client` on channel 10,
//! `other` on 11, `plain` on 12), node B 192.0.2.2 and 2001:db8::2 (app
//! `echo` on channel 10 with port 7 reserved, `plain` on 12). Their SAs:
//! AES-GCM-128 (SPIs 0x1001 A→B, 0x2001 B→A) and ChaCha20-Poly1305 (0x1002,
//! 0x2002) over IPv4, AES-GCM-128 over IPv6 (0x1003, 0x2003).

use crate::pipe::{pipe, PipeEnd};
use crate::stack::{NetConfig, NetServer, Now};
use crate::vet::{Authority, Unreachable};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use netserver_api::{
    AlgSet, Algorithm, Endpoint, Error, Floor, IpAddr, Level, ProtectionRequest, Request, Response,
    SecurityContext, Service,
};
use policyrepo_api::{AppProfile, ManualSa, NetworkConfig, SaDirection};
use smoltcp::time::Instant;
use trust_api::{Action, Decision};

/// Node A's address.
pub const A: IpAddr = IpAddr::V4([192, 0, 2, 1]);
/// Node B's address.
pub const B: IpAddr = IpAddr::V4([192, 0, 2, 2]);
/// Node A's IPv6 address (2001:db8::1).
pub const A6: IpAddr = IpAddr::V6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/// Node B's IPv6 address (2001:db8::2).
pub const B6: IpAddr = IpAddr::V6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
/// The channel of node A's `client` and node B's `echo`.
pub const APP: u32 = 10;
/// The channel of node A's `other` application.
pub const OTHER: u32 = 11;
/// The channel of each node's `plain` application (floor: bypass).
pub const PLAIN: u32 = 12;
/// Node A's KeyNote principal, as node B's SAs name it.
pub const KEY_A: &str = "\"node-a-key\"";
/// Node B's KeyNote principal, as node A's SAs name it.
pub const KEY_B: &str = "\"node-b-key\"";

/// An [`Authority`] answering from fixed profiles; denies every action of
/// the PDs in `deny`, and fails (unreachable) when `reachable` is false.
#[derive(Debug, Clone)]
pub struct FixedAuthority {
    /// The profiles.
    pub apps: Vec<AppProfile>,
    /// PDs whose actions are denied.
    pub deny: Vec<String>,
    /// Whether the trust PD answers at all.
    pub reachable: bool,
    /// How many decisions were asked for.
    pub asked: u64,
}

impl FixedAuthority {
    /// Allows everything for these profiles.
    pub fn new(apps: Vec<AppProfile>) -> Self {
        FixedAuthority {
            apps,
            deny: Vec::new(),
            reachable: true,
            asked: 0,
        }
    }
}

impl Authority for FixedAuthority {
    fn profile(&mut self, pd: &str) -> Result<AppProfile, Unreachable> {
        if !self.reachable {
            return Err(Unreachable);
        }
        self.apps
            .iter()
            .find(|a| a.pd == pd)
            .cloned()
            .ok_or(Unreachable)
    }

    fn decide(
        &mut self,
        _requester: &str,
        action: &Action,
        _credentials: &[String],
    ) -> Result<Decision, Unreachable> {
        self.asked += 1;
        if !self.reachable {
            return Err(Unreachable);
        }
        let deny = self.deny.contains(&action.requesting_pd);
        Ok(Decision {
            allowed: !deny,
            value: if deny { "DENY" } else { "ALLOW" }.to_string(),
            reasons: if deny {
                vec![alloc::format!(
                    "policy: requesting_pd \"{}\" is not authorized",
                    action.requesting_pd
                )]
            } else {
                vec![]
            },
        })
    }
}

fn key(alg: Algorithm, seed: u8) -> Vec<u8> {
    let len = match alg {
        Algorithm::AesGcm128 | Algorithm::AesGmac128 => 20,
        _ => 36,
    };
    (0..len).map(|i: u8| i.wrapping_mul(7) ^ seed).collect()
}

fn sa(spi: u32, dir: SaDirection, alg: Algorithm, local: IpAddr, remote: IpAddr) -> ManualSa {
    let (peer_key, cred) = if remote == B || remote == B6 {
        (KEY_B, "node-b credential")
    } else {
        (KEY_A, "node-a credential")
    };
    ManualSa {
        spi,
        direction: dir,
        algorithm: alg,
        // Both nodes derive the same key from the SPI.
        key: key(alg, spi as u8),
        local,
        remote,
        peer_key: peer_key.to_string(),
        peer_credentials: vec![cred.to_string()],
    }
}

/// The hand-keyed SAs of the node at `local` (the other node is `remote`),
/// plus an AES-GCM-128 pair between their IPv6 addresses (0x1003, 0x2003).
pub fn sas(local: IpAddr, remote: IpAddr) -> Vec<ManualSa> {
    use SaDirection::{Inbound, Outbound};
    let (l6, r6) = if local == A { (A6, B6) } else { (B6, A6) };
    let pairs = [
        (0x1001, Algorithm::AesGcm128, local, remote),
        (0x1002, Algorithm::ChaCha20Poly1305, local, remote),
        (0x1003, Algorithm::AesGcm128, l6, r6),
    ];
    let mut v = Vec::new();
    for (spi_ab, alg, local, remote) in pairs {
        let spi_ba = spi_ab + 0x1000;
        if local == A || local == A6 {
            v.push(sa(spi_ab, Outbound, alg, local, remote));
            v.push(sa(spi_ba, Inbound, alg, local, remote));
        } else {
            v.push(sa(spi_ab, Inbound, alg, local, remote));
            v.push(sa(spi_ba, Outbound, alg, local, remote));
        }
    }
    v
}

/// A profile.
pub fn profile(pd: &str, channel: u8, floor: Floor, ports: Vec<u16>) -> AppProfile {
    AppProfile {
        pd: pd.to_string(),
        key: alloc::format!("\"{pd}-key\""),
        credentials: vec![],
        floor,
        ports,
        channel,
        repo_channel: None,
    }
}

/// The usual floor: confidentiality, level require, AES-GCM-128 or
/// ChaCha20-Poly1305.
pub fn require_floor() -> Floor {
    Floor {
        service: Service::AuthCon,
        level: Level::Require,
        algorithms: AlgSet::of(&[Algorithm::AesGcm128, Algorithm::ChaCha20Poly1305]),
    }
}

/// A floor allowing plaintext.
pub fn bypass_floor() -> Floor {
    Floor {
        service: Service::Auth,
        level: Level::Bypass,
        algorithms: AlgSet::EMPTY,
    }
}

/// Node A's profiles.
pub fn apps_a() -> Vec<AppProfile> {
    vec![
        profile("client", APP as u8, require_floor(), vec![]),
        profile("other", OTHER as u8, require_floor(), vec![5000]),
        profile("plain", PLAIN as u8, bypass_floor(), vec![]),
    ]
}

/// Node B's profiles.
pub fn apps_b() -> Vec<AppProfile> {
    vec![
        profile("echo", APP as u8, require_floor(), vec![7]),
        profile("plain", PLAIN as u8, bypass_floor(), vec![]),
    ]
}

/// The network configuration of node A (`a`) or B: its MAC, IPv4/24 and
/// IPv6/64 addresses.
pub fn network(a: bool) -> NetworkConfig {
    NetworkConfig {
        node: if a { "node-a" } else { "node-b" }.into(),
        mac: [2, 0, 0, 0, 0, if a { 1 } else { 2 }],
        addresses: if a {
            vec![(A, 24), (A6, 64)]
        } else {
            vec![(B, 24), (B6, 64)]
        },
        gateway: None,
    }
}

fn config(node: &str, a: bool, apps: Vec<AppProfile>, sas: Vec<ManualSa>) -> NetConfig {
    NetConfig::new(node, network(a), apps, sas)
}

/// Two nodes on one link, their authorities and a clock.
pub struct Testbed {
    /// Node A.
    pub a: NetServer<PipeEnd>,
    /// Node B.
    pub b: NetServer<PipeEnd>,
    /// Node A's authority.
    pub auth_a: FixedAuthority,
    /// Node B's authority.
    pub auth_b: FixedAuthority,
    /// The clock, advanced by [`Testbed::pump`].
    pub now: Now,
    nonce: u128,
}

impl Testbed {
    /// Both nodes, with the profiles and SAs above.
    pub fn new() -> Self {
        Self::with_sas(sas(A, B), sas(B, A))
    }

    /// Both nodes with the given SAs (e.g. none, for a plain baseline).
    pub fn with_sas(sas_a: Vec<ManualSa>, sas_b: Vec<ManualSa>) -> Self {
        Self::build(sas_a, sas_b, [0, 0])
    }

    /// Both nodes with smoltcp random seeds `seeds` (A's, B's).
    pub fn with_seeds(seeds: [u64; 2]) -> Self {
        Self::build(sas(A, B), sas(B, A), seeds)
    }

    fn build(sas_a: Vec<ManualSa>, sas_b: Vec<ManualSa>, seeds: [u64; 2]) -> Self {
        let (ea, eb) = pipe(1500);
        let t0 = Instant::from_millis(1);
        let mut cfg_a = config("node-a", true, apps_a(), sas_a);
        cfg_a.random_seed = seeds[0];
        let mut cfg_b = config("node-b", false, apps_b(), sas_b);
        cfg_b.random_seed = seeds[1];
        let a = NetServer::new(ea, cfg_a, t0);
        let b = NetServer::new(eb, cfg_b, t0);
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("testbed configuration refused");
        };
        Testbed {
            a,
            b,
            auth_a: FixedAuthority::new(apps_a()),
            auth_b: FixedAuthority::new(apps_b()),
            now: Now {
                instant: t0,
                unix: 1_700_000_000,
            },
            nonce: 0,
        }
    }

    /// Polls both nodes until the link is quiet, advancing the clock 1 ms
    /// per round (at most `rounds` rounds).
    pub fn pump(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.now.instant += smoltcp::time::Duration::from_millis(1);
            let x = self.a.poll(self.now.instant);
            let y = self.b.poll(self.now.instant);
            if !x
                && !y
                && self.a.device().inner().pending() == 0
                && self.b.device().inner().pending() == 0
            {
                break;
            }
        }
    }

    /// Advances the wall clock by `secs` (and smoltcp's by as much).
    pub fn advance(&mut self, secs: u64) {
        self.now.unix += secs;
        self.now.instant += smoltcp::time::Duration::from_secs(secs);
    }

    /// `owner`'s request to node A at the testbed's time.
    pub fn call_a(&mut self, owner: u32, req: Request) -> Result<Response, Error> {
        let now = self.now;
        self.a.handle(&mut self.auth_a, owner, req, now)
    }

    /// `owner`'s request to node B at the testbed's time.
    pub fn call_b(&mut self, owner: u32, req: Request) -> Result<Response, Error> {
        let now = self.now;
        self.b.handle(&mut self.auth_b, owner, req, now)
    }

    /// A fresh security context for `remote` asking for `protection`.
    pub fn ctx(&mut self, remote: Endpoint, protection: ProtectionRequest) -> SecurityContext {
        self.nonce += 1;
        SecurityContext {
            local: Endpoint::ANY,
            remote,
            issued: self.now.unix,
            nonce: self.nonce.to_le_bytes(),
            protection,
            signature: vec![],
        }
    }
}

impl Default for Testbed {
    fn default() -> Self {
        Self::new()
    }
}
