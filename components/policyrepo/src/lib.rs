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
//!
//! # Installing policy at run time
//!
//! An application may install or replace one assertion of its own
//! ([`Request::InstallPolicy`], on its own channel), and only when a
//! credential authorizes it. The repository checks, in order:
//!
//! 1. sizes: the assertion at most [`MAX_INSTALL_TEXT`] bytes, at most
//!    [`MAX_INSTALL_CREDENTIALS`] credentials of at most
//!    [`MAX_CREDENTIAL_TEXT`] bytes each ([`Error::LimitExceeded`]);
//! 2. the caller is an application of the bundle ([`Error::UnknownApp`]);
//! 3. the text is exactly one KeyNote assertion that compiles, and its
//!    `Authorizer` is the application's own key (compared as keys, not as
//!    text), so the assertion can only pass on what the application itself
//!    holds ([`Error::BadAssertion`]);
//! 4. a KeyNote query against the bundle's POLICY assertions only (never
//!    against assertions installed at run time) with the supplied
//!    credentials plus those the bundle holds for the application, the
//!    application's key as the requester, values `DENY`/`ALLOW` and the
//!    action attributes `app_domain = "vetted-admin"`,
//!    `operation = "install_policy"`, `requesting_pd` (the caller's PD name,
//!    from its channel) and `node` yields `ALLOW` ([`Error::Unauthorized`]
//!    with KeyNote's reasons otherwise);
//! 5. the whole policy with the new assertion still compiles, its regular
//!    expressions within [`MAX_POLICY_REGEX_BYTES`].
//!
//! Each check compiles in a session of its own, with KeyNote's regular
//! expressions limited to [`MAX_POLICY_REGEX_BYTES`], and drops it before
//! the next, so an installation holds at most one such session at a time.
//!
//! The assertion then replaces the application's earlier one, the policy
//! version ([`Repo::version`]) grows by one, and [`Request::GetPolicy`]
//! serves the bundle's assertions followed by the installed ones (in the
//! bundle's order of applications). Installed assertions live in memory:
//! a restarted repository serves the signed bundle again. The PD notifies
//! the trust PD after a successful installation, so that the trust PD
//! fetches the policy again before its next decision.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use keynote::{Limits, Principal, Query, Session};
use netserver_api::Floor;
use policyrepo_api::{AppProfile, Error, ManualSa, NetworkConfig, Request, Response};
use ring::signature::{self, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Domain-separation tag of a bundle signature.
pub const SIGNATURE_CONTEXT: &[u8] = b"vetted-policy-bundle-v1\0";

/// The largest signed bundle accepted.
pub const MAX_BUNDLE: usize = 1 << 20;

/// Largest assertion an application may install, in bytes.
pub const MAX_INSTALL_TEXT: usize = 8 * 1024;

/// Most credentials with one installation request.
pub const MAX_INSTALL_CREDENTIALS: usize = 8;

/// Largest credential with an installation request, in bytes.
pub const MAX_CREDENTIAL_TEXT: usize = 16 * 1024;

/// Most bytes of compiled regular expressions (as
/// `keynote::Limits::max_regex_total_bytes` counts them) in each session
/// an installation compiles, and so in the whole policy after an
/// installation. Half the trust PD's per-session budget (KeyNote's default,
/// 4 MiB): the trust PD compiles the policy in one session and forks it
/// for each query's credentials, so a policy grown by installations never
/// exceeds what the trust PD accepts, and leaves it room for credentials.
/// Within the PD's 8 MiB heap: one session at a time, 2 MiB plus about
/// 2 MiB for the regex that crosses the budget.
pub const MAX_POLICY_REGEX_BYTES: usize = 2 << 20;

/// A session with the installation's limits.
fn install_session() -> Session {
    Session::with_limits(Limits {
        max_regex_total_bytes: MAX_POLICY_REGEX_BYTES,
        ..Limits::default()
    })
}

/// `app_domain` of the installation check.
pub const INSTALL_APP_DOMAIN: &str = "vetted-admin";

/// `operation` of the installation check.
pub const INSTALL_OPERATION: &str = "install_policy";

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
    /// Assertions installed at run time: (application PD, assertion), at
    /// most one per application of the bundle.
    installed: Vec<(String, String)>,
    /// Installations so far (added to the bundle's version).
    updates: u64,
}

impl Repo {
    /// Starts from a signed bundle; a bad one leaves the repository serving
    /// nothing (fail closed).
    pub fn new(signed: &[u8], admin_public_key: &[u8]) -> Self {
        Repo {
            bundle: verify(signed, admin_public_key).ok(),
            installed: Vec::new(),
            updates: 0,
        }
    }

    /// The verified bundle, if any.
    pub fn bundle(&self) -> Option<&Bundle> {
        self.bundle.as_ref()
    }

    /// The version of the policy served: the bundle's plus one per
    /// installation since start.
    pub fn version(&self) -> Option<u64> {
        self.bundle
            .as_ref()
            .map(|b| b.version.saturating_add(self.updates))
    }

    /// The application whose policy-repository channel is `channel`, if any.
    pub fn app_on_channel(&self, channel: u8) -> Option<&str> {
        self.bundle.as_ref().and_then(|b| {
            b.apps
                .iter()
                .find(|a| a.repo_channel == Some(channel))
                .map(|a| a.pd.as_str())
        })
    }

    /// The policy in force: the bundle's POLICY assertions, then those
    /// installed by applications.
    fn policy(&self, b: &Bundle) -> Vec<String> {
        let mut out = b.policy.clone();
        for app in &b.apps {
            if let Some((_, text)) = self.installed.iter().find(|(pd, _)| *pd == app.pd) {
                out.push(text.clone());
            }
        }
        out
    }

    /// Checks and installs an application's own assertion (see the crate
    /// docs for the rules).
    fn install(
        &mut self,
        pd: &str,
        assertion: String,
        credentials: Vec<String>,
    ) -> Result<Response, Error> {
        if assertion.len() > MAX_INSTALL_TEXT
            || credentials.len() > MAX_INSTALL_CREDENTIALS
            || credentials.iter().any(|c| c.len() > MAX_CREDENTIAL_TEXT)
        {
            return Err(Error::LimitExceeded);
        }
        let b = self.bundle.as_ref().ok_or(Error::BadBundle)?;
        let app = self.app(b, pd)?;
        // The profile's key as written, or in `kn keygen`'s quoted form.
        let key_text = match app.key.trim() {
            t if t.starts_with('"') => keynote::text::parse_key_file(t)
                .map_err(|e| Error::BadAssertion(format!("the application's key: {e}")))?,
            t => String::from(t),
        };
        let app_key = Principal::parse(&key_text)
            .map_err(|e| Error::BadAssertion(format!("the application's key: {e}")))?
            .canonical();

        // The assertion: exactly one, compiling, authorized by the app's key.
        let mut own = install_session();
        let ids = own
            .add_policy(&assertion)
            .map_err(|e| Error::BadAssertion(e.to_string()))?;
        let [id] = ids.as_slice() else {
            return Err(Error::BadAssertion(format!(
                "exactly one assertion expected, got {}",
                ids.len()
            )));
        };
        let authorizer = own.authorizer(*id).unwrap_or("");
        let is_own = match Principal::parse(authorizer) {
            Ok(p @ Principal::Key(_)) => p.canonical() == app_key,
            _ => false,
        };
        if !is_own {
            return Err(Error::BadAssertion(String::from(
                "the Authorizer must be the application's own key",
            )));
        }
        drop(own);

        // The authorization: a KeyNote check against the bundle's POLICY.
        let mut check = install_session();
        for p in &b.policy {
            check
                .add_policy(p)
                .map_err(|e| Error::Unauthorized(format!("the node's policy: {e}")))?;
        }
        for (i, c) in credentials.iter().chain(&app.credentials).enumerate() {
            check
                .add_credential(c)
                .map_err(|e| Error::Unauthorized(format!("credential {i}: {e}")))?;
        }
        let fixed = |e: keynote::Error| Error::Unauthorized(e.to_string());
        let mut q = Query::new(&["DENY", "ALLOW"]).map_err(fixed)?;
        q.set("app_domain", INSTALL_APP_DOMAIN).map_err(fixed)?;
        q.set("operation", INSTALL_OPERATION).map_err(fixed)?;
        q.set("requesting_pd", pd).map_err(fixed)?;
        q.set("node", &b.node).map_err(fixed)?;
        q.add_authorizer(&key_text).map_err(fixed)?;
        let why = check.explain(&mut q);
        if !why.verdict.is_max() {
            let mut reasons: Vec<String> = why
                .diagnostics
                .iter()
                .take(8)
                .map(|d| d.to_string())
                .collect();
            if reasons.is_empty() {
                reasons.push(String::from("no assertion grants it"));
            }
            return Err(Error::Unauthorized(reasons.join("; ")));
        }
        drop(why);
        drop(check);

        // The policy with the new assertion must still compile as a whole
        // (the trust PD refuses a policy that does not).
        let mut next: Vec<(String, String)> = self
            .installed
            .iter()
            .filter(|(p, _)| p != pd)
            .cloned()
            .collect();
        next.push((String::from(pd), assertion));
        let mut all = install_session();
        for text in b.policy.iter().chain(next.iter().map(|(_, t)| t)) {
            all.add_policy(text)
                .map_err(|e| Error::BadAssertion(format!("the policy would not compile: {e}")))?;
        }
        self.installed = next;
        self.updates += 1;
        self.version()
            .map(Response::Installed)
            .ok_or(Error::BadBundle)
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
                version: b.version.saturating_add(self.updates),
                assertions: self.policy(b),
            }),
            (Caller::NetServer, Request::GetApp { pd }) => self.app(b, &pd).map(Response::App),
            (Caller::NetServer, Request::GetSas) => Ok(Response::Sas(b.sas.clone())),
            (Caller::NetServer, Request::GetApps) => Ok(Response::Apps(b.apps.clone())),
            (Caller::NetServer, Request::GetNetwork) => Ok(Response::Network(NetworkConfig {
                node: b.node.clone(),
                ..b.network.clone()
            })),
            (
                Caller::App(pd),
                Request::InstallPolicy {
                    assertion,
                    credentials,
                },
            ) => self.install(pd, assertion, credentials),
            _ => Err(Error::NotPermitted),
        }
    }
}

#[cfg(test)]
mod tests;
