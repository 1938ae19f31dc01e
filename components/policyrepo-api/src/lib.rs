//! Interface of the policy repository PD.
//!
//! Who may ask what is decided by the channel a request arrives on (seL4
//! guarantees it), never by the request: the trust PD reads the policy, the
//! network server reads application profiles and hand-keyed SAs, and an
//! application may only submit policy for itself.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use netserver_api::{Algorithm, Floor, IpAddr};
use serde::{Deserialize, Serialize};

/// Direction of a hand-keyed SA, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaDirection {
    /// Protects traffic this node receives.
    Inbound,
    /// Protects traffic this node sends.
    Outbound,
}

/// A hand-keyed (manually keyed) transport-mode SA between this node and a
/// peer node. Only the network server ever receives one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualSa {
    /// Security parameter index.
    pub spi: u32,
    /// Direction.
    pub direction: SaDirection,
    /// Transform.
    pub algorithm: Algorithm,
    /// Keying material: the cipher key followed by the 4-byte salt, as Linux
    /// `ip xfrm state ... aead` takes it.
    pub key: Vec<u8>,
    /// This node's address.
    pub local: IpAddr,
    /// The peer node's address.
    pub remote: IpAddr,
    /// The KeyNote principal of the peer node, reported by
    /// `Sec_getremoteKey` for traffic on this SA.
    pub peer_key: String,
    /// Credentials of the peer, reported by `Sec_getremoteCredentials`.
    pub peer_credentials: Vec<String>,
}

impl fmt::Debug for ManualSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print keying material.
        f.debug_struct("ManualSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("direction", &self.direction)
            .field("algorithm", &self.algorithm)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("peer_key", &self.peer_key)
            .finish()
    }
}

/// What the policy repository knows of one application PD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppProfile {
    /// The application's PD name.
    pub pd: String,
    /// Its KeyNote principal (public key); the private key never leaves the
    /// repository.
    pub key: String,
    /// Credentials the administrator issued to it.
    pub credentials: Vec<String>,
    /// Its floor.
    pub floor: Floor,
    /// Local ports reserved for it (`Sec_bind` to a fixed port); ports from
    /// the dynamic pool are allocated by the network server.
    pub ports: Vec<u16>,
    /// The network server's id of the channel this application calls it on.
    pub channel: u8,
    /// The policy repository's id of the channel this application calls it
    /// on (to install its own policy), if it has one.
    pub repo_channel: Option<u8>,
}

/// The node's network configuration, for the network server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The node's name (the `node` action attribute); the repository
    /// answers with its bundle's node name.
    pub node: String,
    /// Ethernet address of the node's interface.
    pub mac: [u8; 6],
    /// Addresses with their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Default gateway, if any.
    pub gateway: Option<IpAddr>,
}

/// A request to the policy repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The KeyNote POLICY assertions in force (trust PD only).
    GetPolicy,
    /// The profile of an application PD (network server only).
    GetApp {
        /// PD name.
        pd: String,
    },
    /// The hand-keyed SAs of this node (network server only).
    GetSas,
    /// Every application profile (network server only), to map its
    /// channels to applications at start.
    GetApps,
    /// The node's network configuration (network server only).
    GetNetwork,
    /// Add or replace an application's own assertion, authorized by its
    /// credentials (the requesting application only; it names no PD: the
    /// channel does).
    InstallPolicy {
        /// The assertion; its Authorizer must be the application's own key.
        assertion: String,
        /// Credentials authorizing the update.
        credentials: Vec<String>,
    },
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The policy.
    Policy {
        /// Bundle version; it only grows.
        version: u64,
        /// The assertions.
        assertions: Vec<String>,
    },
    /// An application's profile.
    App(AppProfile),
    /// Hand-keyed SAs.
    Sas(Vec<ManualSa>),
    /// Every application profile.
    Apps(Vec<AppProfile>),
    /// The network configuration.
    Network(NetworkConfig),
    /// The policy was installed; the new version.
    Installed(u64),
}

/// Errors of the policy repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The caller's channel does not allow this request.
    NotPermitted,
    /// No such application.
    UnknownApp,
    /// The signed bundle failed verification; the repository serves nothing.
    BadBundle,
    /// The submitted assertion is malformed or not the application's own.
    BadAssertion(String),
    /// The credentials do not authorize the update.
    Unauthorized(String),
    /// The request could not be decoded.
    Protocol,
    /// A size or count limit was exceeded.
    LimitExceeded,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotPermitted => f.write_str("not permitted on this channel"),
            Error::UnknownApp => f.write_str("unknown application"),
            Error::BadBundle => f.write_str("policy bundle failed verification"),
            Error::BadAssertion(w) => write!(f, "bad assertion: {w}"),
            Error::Unauthorized(w) => write!(f, "update not authorized: {w}"),
            Error::Protocol => f.write_str("malformed request"),
            Error::LimitExceeded => f.write_str("limit exceeded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    #[test]
    fn debug_never_prints_keys() {
        let sa = ManualSa {
            spi: 0x1234,
            direction: SaDirection::Outbound,
            algorithm: Algorithm::AesGcm128,
            key: vec![0xAB; 20],
            local: IpAddr::V4([192, 0, 2, 1]),
            remote: IpAddr::V4([192, 0, 2, 2]),
            peer_key: "ed25519-hex:01".into(),
            peer_credentials: vec![],
        };
        let text = format!("{sa:?}");
        assert!(text.contains("<20 bytes>"), "{text}");
        assert!(
            !text.to_lowercase().contains("ab, ab") && !text.contains("171"),
            "{text}"
        );
        let bytes = postcard::to_allocvec(&Response::Sas(vec![sa.clone()])).unwrap();
        assert_eq!(
            postcard::from_bytes::<Response>(&bytes).unwrap(),
            Response::Sas(vec![sa])
        );
    }
}
