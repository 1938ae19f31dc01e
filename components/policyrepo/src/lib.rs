//! Core of the policy repository PD, `no_std` and host-testable.
//!
//! The administrator writes a node's policy bundle (KeyNote POLICY
//! assertions, the default floor, application profiles and bindings,
//! hand-keyed SAs), signs it at build time with the admin key, and the
//! repository verifies it at start against the admin public key it was built
//! with. A bundle that fails verification is never served: every request is
//! then answered with [`Error::BadBundle`], and the trust PD fails closed.
//!
//! Who may ask what depends only on the caller's channel ([`Caller`]).
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use netserver_api::Floor;
use policyrepo_api::{AppProfile, Error, ManualSa, NetworkConfig, Request, Response};
use ring::signature::{self, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Domain-separation tag of a bundle signature.
pub const SIGNATURE_CONTEXT: &[u8] = b"vetted-policy-bundle-v1\0";

/// The largest signed bundle accepted.
pub const MAX_BUNDLE: usize = 1 << 20;

/// A node's policy bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Version; the repository never goes back to a lower one.
    pub version: u64,
    /// The node's name.
    pub node: String,
    /// KeyNote POLICY assertions.
    pub policy: Vec<String>,
    /// Floor of applications without a profile of their own.
    pub default_floor: Floor,
    /// Application profiles and bindings.
    pub apps: Vec<AppProfile>,
    /// Hand-keyed SAs of this node.
    pub sas: Vec<ManualSa>,
    /// The node's network configuration.
    pub network: NetworkConfig,
}

/// A bundle with its signature, as stored in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Signed<'a> {
    #[serde(borrow)]
    payload: &'a [u8],
    #[serde(borrow)]
    signature: &'a [u8],
}

/// Signs a bundle with the admin key (at build time, by the admin tool).
pub fn sign(bundle: &Bundle, admin: &Ed25519KeyPair) -> Vec<u8> {
    // Plain data always encodes.
    let payload = postcard::to_allocvec(bundle).unwrap_or_default();
    let mut msg = Vec::with_capacity(SIGNATURE_CONTEXT.len() + payload.len());
    msg.extend_from_slice(SIGNATURE_CONTEXT);
    msg.extend_from_slice(&payload);
    let sig = admin.sign(&msg);
    postcard::to_allocvec(&Signed {
        payload: &payload,
        signature: sig.as_ref(),
    })
    .unwrap_or_default()
}

/// Verifies a signed bundle against the admin public key (32 bytes,
/// Ed25519) and decodes it. Zero bytes after the bundle (the padding of the
/// memory region it is loaded into) are ignored; anything else is an error.
pub fn verify(signed: &[u8], admin_public_key: &[u8]) -> Result<Bundle, Error> {
    if signed.len() > MAX_BUNDLE {
        return Err(Error::BadBundle);
    }
    // A bundle in a memory region is followed by the region's zero padding.
    let s: Signed<'_> = match postcard::take_from_bytes(signed) {
        Ok((s, rest)) if rest.iter().all(|b| *b == 0) => s,
        _ => return Err(Error::BadBundle),
    };
    let mut msg = Vec::with_capacity(SIGNATURE_CONTEXT.len() + s.payload.len());
    msg.extend_from_slice(SIGNATURE_CONTEXT);
    msg.extend_from_slice(s.payload);
    UnparsedPublicKey::new(&signature::ED25519, admin_public_key)
        .verify(&msg, s.signature)
        .map_err(|_| Error::BadBundle)?;
    match postcard::take_from_bytes(s.payload) {
        Ok((b, [])) => Ok(b),
        _ => Err(Error::BadBundle),
    }
}

/// Who is asking, as the repository knows it from the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// The trust PD.
    Trust,
    /// The network server.
    NetServer,
    /// An application PD, by name.
    App(&'a str),
}

/// The repository.
#[derive(Debug)]
pub struct Repo {
    bundle: Option<Bundle>,
}

impl Repo {
    /// Starts from a signed bundle; a bad one leaves the repository serving
    /// nothing (fail closed).
    pub fn new(signed: &[u8], admin_public_key: &[u8]) -> Self {
        Repo {
            bundle: verify(signed, admin_public_key).ok(),
        }
    }

    /// Whether a verified bundle is in force.
    pub fn is_valid(&self) -> bool {
        self.bundle.is_some()
    }

    /// The profile of an application: its own, or the default floor with no
    /// key (such an application is refused by any policy that names keys).
    fn app(&self, b: &Bundle, pd: &str) -> Result<AppProfile, Error> {
        b.apps
            .iter()
            .find(|a| a.pd == pd)
            .cloned()
            .ok_or(Error::UnknownApp)
    }

    /// Answers a request.
    pub fn handle(&mut self, caller: Caller<'_>, req: Request) -> Result<Response, Error> {
        let b = self.bundle.as_ref().ok_or(Error::BadBundle)?;
        match (caller, req) {
            (Caller::Trust, Request::GetPolicy) => Ok(Response::Policy {
                version: b.version,
                assertions: b.policy.clone(),
            }),
            (Caller::NetServer, Request::GetApp { pd }) => self.app(b, &pd).map(Response::App),
            (Caller::NetServer, Request::GetSas) => Ok(Response::Sas(b.sas.clone())),
            (Caller::NetServer, Request::GetApps) => Ok(Response::Apps(b.apps.clone())),
            (Caller::NetServer, Request::GetNetwork) => Ok(Response::Network(b.network.clone())),
            (Caller::App(_), Request::InstallPolicy { .. }) => Err(Error::Unauthorized(
                String::from("run-time policy updates are not enabled on this node"),
            )),
            _ => Err(Error::NotPermitted),
        }
    }
}

#[cfg(test)]
mod tests;
