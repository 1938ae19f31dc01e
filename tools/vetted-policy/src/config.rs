//! A node's policy configuration as the administrator writes it (TOML), and
//! its translation into a [`policyrepo::Bundle`].
//!
//! ```toml
//! version = 1
//! node = "node-a"
//! policy = ["policy.kn"]            # files of KeyNote POLICY assertions
//!
//! [default_floor]
//! service = "auth-con"              # auth | con | auth-con
//! level = "require"                 # bypass | avail | use | require | unique
//! algorithms = ["aes-gcm-256", "aes-gcm-128"]
//!
//! [network]
//! mac = "02:00:00:00:00:01"
//! addresses = ["192.0.2.1/24", "2001:db8::1/64"]
//! gateway = "192.0.2.254"           # optional
//!
//! [[app]]
//! pd = "client"                     # the application's PD name
//! channel = 10                      # the network server's channel id for it
//! repo_channel = 10                 # the policy repository's, optional
//! key_file = "client.pub"           # its KeyNote principal
//! credentials = ["client.cred"]     # credentials issued to it
//! ports = [7]                       # fixed local ports reserved for it
//! floor = { service = "auth-con", level = "require", algorithms = ["aes-gcm-128"] }
//!
//! [[sa]]
//! spi = 0x1001
//! direction = "outbound"            # seen from this node
//! algorithm = "aes-gcm-128"
//! key = "hex of key followed by the 4-byte salt"
//! local = "192.0.2.1"
//! remote = "192.0.2.2"
//! peer_key_file = "node-b.pub"
//! ```
//! Relative file names are taken from the configuration file's folder.

use netserver_api::{AlgSet, Algorithm, Floor, IpAddr, Level, Service};
use policyrepo::Bundle;
use policyrepo_api::{AppProfile, ManualSa, NetworkConfig, SaDirection};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// An error in the configuration, naming where.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeConfig {
    version: u64,
    node: String,
    #[serde(default)]
    policy: Vec<PathBuf>,
    default_floor: FloorConfig,
    #[serde(default)]
    app: Vec<AppConfig>,
    #[serde(default)]
    sa: Vec<SaConfig>,
    network: NetworkSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    mac: String,
    addresses: Vec<String>,
    gateway: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct FloorConfig {
    service: String,
    level: String,
    algorithms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppConfig {
    pd: String,
    channel: u8,
    repo_channel: Option<u8>,
    key_file: PathBuf,
    #[serde(default)]
    credentials: Vec<PathBuf>,
    #[serde(default)]
    ports: Vec<u16>,
    floor: Option<FloorConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaConfig {
    spi: u32,
    direction: String,
    algorithm: String,
    key: String,
    local: String,
    remote: String,
    peer_key_file: PathBuf,
    #[serde(default)]
    peer_credentials: Vec<PathBuf>,
}

/// Key plus salt length of each transform, as Linux `ip xfrm` takes it.
pub fn key_len(a: Algorithm) -> usize {
    match a {
        Algorithm::AesGcm128 | Algorithm::AesGmac128 => 16 + 4,
        Algorithm::AesGcm256 | Algorithm::AesGmac256 | Algorithm::ChaCha20Poly1305 => 32 + 4,
    }
}

fn service(s: &str) -> Result<Service, ConfigError> {
    match s {
        "auth" => Ok(Service::Auth),
        "con" => Ok(Service::Con),
        "auth-con" => Ok(Service::AuthCon),
        _ => err(format!(
            "unknown service {s:?} (expected auth, con or auth-con)"
        )),
    }
}

fn level(s: &str) -> Result<Level, ConfigError> {
    match s {
        "bypass" => Ok(Level::Bypass),
        "avail" => Ok(Level::Avail),
        "use" => Ok(Level::Use),
        "require" => Ok(Level::Require),
        "unique" => Ok(Level::Unique),
        _ => err(format!(
            "unknown level {s:?} (expected bypass, avail, use, require or unique)"
        )),
    }
}

fn algorithm(s: &str) -> Result<Algorithm, ConfigError> {
    Algorithm::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        ConfigError(format!(
            "unknown algorithm {s:?} (expected one of {})",
            names.join(", ")
        ))
    })
}

fn floor(f: &FloorConfig, what: &str) -> Result<Floor, ConfigError> {
    let mut algorithms = AlgSet::EMPTY;
    for a in &f.algorithms {
        algorithms.insert(algorithm(a).map_err(|e| ConfigError(format!("{what}: {e}")))?);
    }
    let floor = Floor {
        service: service(&f.service).map_err(|e| ConfigError(format!("{what}: {e}")))?,
        level: level(&f.level).map_err(|e| ConfigError(format!("{what}: {e}")))?,
        algorithms,
    };
    // A floor that protects must be satisfiable.
    if floor.level.protects_outbound()
        && !algorithms
            .iter()
            .any(|a| a.service().satisfies(floor.service))
    {
        return err(format!(
            "{what}: no listed algorithm provides service {}",
            f.service
        ));
    }
    Ok(floor)
}

fn ip(s: &str, what: &str) -> Result<IpAddr, ConfigError> {
    match s.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => Ok(IpAddr::V4(a.octets())),
        Ok(std::net::IpAddr::V6(a)) => Ok(IpAddr::V6(a.octets())),
        Err(_) => err(format!("{what}: {s:?} is not an IP address")),
    }
}

fn hex(s: &str, what: &str) -> Result<Vec<u8>, ConfigError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return err(format!("{what}: odd number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| ConfigError(format!("{what}: not hex")))
        })
        .collect()
}

fn read(dir: &Path, p: &Path) -> Result<String, ConfigError> {
    let path = dir.join(p);
    std::fs::read_to_string(&path).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
}

/// Splits a file of KeyNote assertions at blank lines (RFC 2704: a blank
/// line separates assertions).
pub fn split_assertions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn network(node: &str, n: &NetworkSection) -> Result<NetworkConfig, ConfigError> {
    let parts: Vec<&str> = n.mac.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return err(format!("network: mac {:?} is not six hex bytes", n.mac));
    }
    for (m, p) in mac.iter_mut().zip(&parts) {
        *m = u8::from_str_radix(p, 16)
            .map_err(|_| ConfigError(format!("network: mac {:?} is not six hex bytes", n.mac)))?;
    }
    if mac[0] & 1 != 0 {
        return err(format!("network: mac {:?} is a multicast address", n.mac));
    }
    let mut addresses = Vec::new();
    for a in &n.addresses {
        let (addr, len) = a
            .split_once('/')
            .ok_or_else(|| ConfigError(format!("network: {a:?} lacks a /prefix length")))?;
        let addr = ip(addr, "network")?;
        let max = if matches!(addr, IpAddr::V4(_)) {
            32
        } else {
            128
        };
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| ConfigError(format!("network: bad prefix length in {a:?}")))?;
        addresses.push((addr, len));
    }
    if addresses.is_empty() {
        return err("network: at least one address is needed");
    }
    let gateway = n.gateway.as_deref().map(|g| ip(g, "network")).transpose()?;
    Ok(NetworkConfig {
        node: node.to_string(),
        mac,
        addresses,
        gateway,
    })
}

/// Reads a node configuration file into a bundle.
pub fn load(path: &Path) -> Result<Bundle, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let cfg: NodeConfig =
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let mut policy = Vec::new();
    for p in &cfg.policy {
        policy.extend(split_assertions(&read(dir, p)?));
    }
    let default_floor = floor(&cfg.default_floor, "default_floor")?;
    let mut apps = Vec::new();
    for a in &cfg.app {
        if apps.iter().any(|x: &AppProfile| x.pd == a.pd) {
            return err(format!("app {:?} is listed twice", a.pd));
        }
        if a.channel > 61 || a.repo_channel.is_some_and(|c| c > 61) {
            return err(format!("app {:?}: channel ids are 0..=61", a.pd));
        }
        if apps.iter().any(|x: &AppProfile| x.channel == a.channel) {
            return err(format!(
                "app {:?}: network server channel {} is used twice",
                a.pd, a.channel
            ));
        }
        let what = format!("app {:?}", a.pd);
        let credentials = a
            .credentials
            .iter()
            .map(|c| read(dir, c))
            .collect::<Result<Vec<_>, _>>()?;
        apps.push(AppProfile {
            pd: a.pd.clone(),
            key: read(dir, &a.key_file)?.trim().to_string(),
            credentials,
            floor: match &a.floor {
                Some(f) => floor(f, &what)?,
                None => default_floor,
            },
            ports: a.ports.clone(),
            channel: a.channel,
            repo_channel: a.repo_channel,
        });
    }
    let mut sas = Vec::new();
    for s in &cfg.sa {
        let what = format!("sa {:#x}", s.spi);
        if s.spi < 256 {
            return err(format!("{what}: SPIs 0..=255 are reserved (RFC 4303)"));
        }
        if sas.iter().any(|x: &ManualSa| x.spi == s.spi) {
            return err(format!("{what}: SPI used twice"));
        }
        let algorithm = algorithm(&s.algorithm).map_err(|e| ConfigError(format!("{what}: {e}")))?;
        let key = hex(&s.key, &what)?;
        if key.len() != key_len(algorithm) {
            return err(format!(
                "{what}: {} needs {} bytes of key and salt, got {}",
                algorithm,
                key_len(algorithm),
                key.len()
            ));
        }
        let direction = match s.direction.as_str() {
            "inbound" => SaDirection::Inbound,
            "outbound" => SaDirection::Outbound,
            d => {
                return err(format!(
                    "{what}: direction {d:?} is not inbound or outbound"
                ))
            }
        };
        sas.push(ManualSa {
            spi: s.spi,
            direction,
            algorithm,
            key,
            local: ip(&s.local, &what)?,
            remote: ip(&s.remote, &what)?,
            peer_key: read(dir, &s.peer_key_file)?.trim().to_string(),
            peer_credentials: s
                .peer_credentials
                .iter()
                .map(|c| read(dir, c))
                .collect::<Result<Vec<_>, _>>()?,
        });
    }
    let network = network(&cfg.node, &cfg.network)?;
    Ok(Bundle {
        network,
        version: cfg.version,
        node: cfg.node,
        policy,
        default_floor,
        apps,
        sas,
    })
}
