//! Core of the trust PD, `no_std` + `alloc` and host-testable: KeyNote
//! decisions about network actions, over the POLICY assertions of the
//! policy repository.
//!
//! The PD (`components/trust-pd`) only wires channels to [`Trust`]: it hands
//! each decoded [`Request`] to [`Trust::handle`] with a [`PolicySource`] that
//! asks the policy repository, and marks the policy stale
//! ([`Trust::mark_stale`]) when the repository notifies it of an update.
//!
//! # Decisions
//!
//! A [`Request::Query`] is evaluated with the compliance values
//! [`trust_api::VALUES`] (`["DENY", "ALLOW"]`), the action attributes of
//! [`trust_api::Action::attributes`], the requester's key as the only action
//! authorizer and the request's credentials. Only `ALLOW` allows. On denial
//! the reasons are KeyNote's diagnostics, one line per assertion that did not
//! contribute: `credential 1 (authorizer ed25519-hex:…): signature
//! verification failure`, `policy assertion 0 (…): conditions not satisfied`,
//! `… licensees not satisfied; unknown keys: …`, `… authorizer not reached
//! from POLICY (unknown key)`.
//!
//! # Fail closed
//!
//! Without a policy there is no decision: if the repository cannot be asked,
//! answers with an error, or sends a policy that does not compile, the query
//! is answered with [`Error::PolicyUnavailable`] (which the network server
//! treats as a refusal), and the next query asks again.
//!
//! # Speed
//!
//! The policy is compiled once per policy version (a [`keynote::Session`]);
//! queries run on a working session forked from it, whose credentials are
//! removed after each query while its cache of verified signatures is kept,
//! so a credential presented again is not verified again. A stale policy
//! (after a notification) is fetched again at the next query, but only
//! recompiled when its version changed.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use keynote::{AssertionId, ErrorKind, Origin, Query, Session};
pub use trust_api::{Action, Decision, Error, Request, Response, VALUES};

/// Most credentials in one query.
pub const MAX_CREDENTIALS: usize = 32;

/// Longest requester key text, in bytes (an RSA-8192 key in hex is about
/// 2 200 bytes).
pub const MAX_REQUESTER: usize = 4096;

/// Most reason lines in a decision (the rest are summarised in one line).
pub const MAX_REASONS: usize = 32;

/// The working session is replaced by a fresh fork of the policy after this
/// many queries, so that the principals interned from credentials do not
/// accumulate without bound (the signature cache is lost then, once).
pub const REFORK_AFTER: u64 = 4096;

/// The policy as the repository sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyText {
    /// The repository's policy version.
    pub version: u64,
    /// KeyNote POLICY assertions, one per string.
    pub assertions: Vec<String>,
}

/// The policy repository could not be asked or gave no policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// Where the policy comes from (the policy repository, over a channel).
pub trait PolicySource {
    /// Fetches the policy in force.
    fn fetch(&mut self) -> Result<PolicyText, Unavailable>;
}

/// Counters, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Policies fetched from the repository.
    pub fetches: u64,
    /// Policies compiled (a fetch of an unchanged version compiles nothing).
    pub compiles: u64,
    /// Queries decided.
    pub queries: u64,
    /// Signature verifications performed by the current working session
    /// (cache hits are not counted).
    pub verifications: u64,
}

/// The compiled policy of one version.
struct Compiled {
    version: u64,
    /// Policy only; forked into `work`.
    policy: Session,
    /// Policy plus the current query's credentials; keeps the signature cache.
    work: Session,
    /// Queries since `work` was forked.
    uses: u64,
}

/// The trust PD's state.
pub struct Trust {
    compiled: Option<Compiled>,
    stale: bool,
    query: Query,
    stats: Stats,
}

impl core::fmt::Debug for Trust {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Trust")
            .field("version", &self.version())
            .field("stale", &self.stale)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for Trust {
    fn default() -> Self {
        Self::new()
    }
}

fn keynote_error(what: &str, e: &keynote::Error) -> Error {
    match e.kind {
        ErrorKind::TooLarge { .. } | ErrorKind::LimitExceeded(_) | ErrorKind::TooDeep => {
            Error::LimitExceeded
        }
        _ => Error::BadCredential(format!("{what}: {e}")),
    }
}

impl Trust {
    /// A trust core without a policy: the first query fetches it.
    pub fn new() -> Self {
        Trust {
            compiled: None,
            stale: true,
            // VALUES is a fixed, valid list of two distinct values.
            query: match Query::new(&VALUES) {
                Ok(q) => q,
                Err(_) => unreachable!("VALUES is a valid compliance value list"),
            },
            stats: Stats::default(),
        }
    }

    /// The version of the compiled policy, if there is one.
    pub fn version(&self) -> Option<u64> {
        self.compiled.as_ref().map(|c| c.version)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.verifications = self.compiled.as_ref().map_or(0, |c| c.work.verifications());
        s
    }

    /// The repository's policy may have changed (it notified us): ask it
    /// again at the next query; recompile only if the version changed.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Drops the compiled policy (fail closed until a new one is loaded).
    pub fn forget(&mut self) {
        self.compiled = None;
        self.stale = true;
    }

    /// Compiles a policy. Every assertion must compile: a policy that does
    /// not is refused as a whole (fail closed), and the old one is dropped.
    pub fn load(&mut self, text: &PolicyText) -> Result<usize, Error> {
        self.stale = false;
        if self.compiled.as_ref().map(|c| c.version) == Some(text.version) {
            return Ok(self.compiled.as_ref().map_or(0, |c| c.policy.len()));
        }
        self.compiled = None;
        let mut policy = Session::new();
        if text.assertions.len() > policy.limits().max_assertions {
            return Err(Error::PolicyUnavailable);
        }
        for a in &text.assertions {
            if policy.add_policy(a).is_err() {
                return Err(Error::PolicyUnavailable);
            }
        }
        self.stats.compiles += 1;
        let n = policy.len();
        self.compiled = Some(Compiled {
            version: text.version,
            work: policy.fork(),
            policy,
            uses: 0,
        });
        Ok(n)
    }

    /// Makes sure a current policy is compiled.
    fn ensure(&mut self, source: &mut dyn PolicySource) -> Result<(), Error> {
        if !self.stale && self.compiled.is_some() {
            return Ok(());
        }
        self.stats.fetches += 1;
        match source.fetch() {
            Ok(text) => self.load(&text).map(|_| ()),
            Err(Unavailable) => {
                self.forget();
                Err(Error::PolicyUnavailable)
            }
        }
    }

    /// Answers a request from the network server.
    pub fn handle(
        &mut self,
        request: Request,
        source: &mut dyn PolicySource,
    ) -> Result<Response, Error> {
        match request {
            Request::Query {
                requester,
                action,
                credentials,
            } => self
                .decide(&requester, &action, &credentials, source)
                .map(Response::Decision),
            Request::Reload => {
                self.forget();
                self.ensure(source)?;
                let n = self.compiled.as_ref().map_or(0, |c| c.policy.len());
                Ok(Response::Reloaded(u32::try_from(n).unwrap_or(u32::MAX)))
            }
        }
    }

    /// Decides whether `requester` may do `action` given `credentials`.
    pub fn decide(
        &mut self,
        requester: &str,
        action: &Action,
        credentials: &[String],
        source: &mut dyn PolicySource,
    ) -> Result<Decision, Error> {
        // Bounds first: nothing unbounded reaches the engine.
        if credentials.len() > MAX_CREDENTIALS || requester.len() > MAX_REQUESTER {
            return Err(Error::LimitExceeded);
        }
        self.ensure(source)?;
        let Some(c) = self.compiled.as_mut() else {
            return Err(Error::PolicyUnavailable);
        };
        let max_text = c.policy.limits().max_text_len;
        if credentials.iter().any(|t| t.len() > max_text) {
            return Err(Error::LimitExceeded);
        }
        if c.uses >= REFORK_AFTER {
            c.work = c.policy.fork();
            c.uses = 0;
        }
        c.uses += 1;
        self.stats.queries += 1;

        let q = &mut self.query;
        q.clear_attributes();
        q.clear_authorizers();
        for (name, value) in action.attributes() {
            // Attribute names are fixed, documented and never reserved.
            q.set(name, &value)
                .map_err(|e| keynote_error("action attribute", &e))?;
        }
        q.add_authorizer(requester.trim())
            .map_err(|e| keynote_error("requester key", &e))?;

        let ids = match add_credentials(&mut c.work, credentials) {
            Ok(ids) => ids,
            // The working session's interned principals or attribute names
            // may have filled up: start from a fresh fork once.
            Err(Error::LimitExceeded) => {
                c.work = c.policy.fork();
                c.uses = 1;
                add_credentials(&mut c.work, credentials)?
            }
            Err(e) => return Err(e),
        };
        let verdict = c.work.check(q);
        let decision = if verdict.is_max() {
            Decision {
                allowed: true,
                value: verdict.value().to_string(),
                reasons: Vec::new(),
            }
        } else {
            let why = c.work.explain(q);
            let mut reasons = Vec::new();
            let total = why.diagnostics.len();
            for d in why.diagnostics.iter().take(MAX_REASONS) {
                reasons.push(describe(&c.work, &ids, d));
            }
            if total > MAX_REASONS {
                reasons.push(format!("... and {} more", total - MAX_REASONS));
            }
            if reasons.is_empty() {
                reasons.push(String::from("no assertion grants this action"));
            }
            Decision {
                allowed: false,
                value: why.verdict.value().to_string(),
                reasons,
            }
        };
        c.work.clear_credentials();
        Ok(decision)
    }
}

/// Adds the credentials to the working session; on error none stays.
/// Returns, for each credential text, the ids of its assertions.
fn add_credentials(
    work: &mut Session,
    credentials: &[String],
) -> Result<Vec<Vec<AssertionId>>, Error> {
    let mut ids = Vec::with_capacity(credentials.len());
    for (i, text) in credentials.iter().enumerate() {
        match work.add_credential(text) {
            Ok(v) => ids.push(v),
            Err(e) => {
                work.clear_credentials();
                return Err(keynote_error(&format!("credential {i}"), &e));
            }
        }
    }
    Ok(ids)
}

/// One reason line: which assertion (policy assertion N in the policy's
/// order, or credential N in the query's order), its authorizer and why.
fn describe(work: &Session, ids: &[Vec<AssertionId>], d: &keynote::Diagnostic) -> String {
    let short: String = d.authorizer.chars().take(40).collect();
    let ellipsis = if d.authorizer.chars().count() > 40 {
        "..."
    } else {
        ""
    };
    let which = match d.origin {
        Origin::Credential => match ids.iter().position(|v| v.contains(&d.assertion)) {
            Some(i) => format!("credential {i}"),
            None => format!("credential (assertion {})", d.assertion),
        },
        Origin::Policy => {
            let n = work
                .ids()
                .filter(|&id| work.origin(id) == Some(Origin::Policy))
                .position(|id| id == d.assertion);
            match n {
                Some(n) => format!("policy assertion {n}"),
                None => format!("policy (assertion {})", d.assertion),
            }
        }
    };
    format!("{which} (authorizer {short}{ellipsis}): {}", d.reason)
}

#[cfg(test)]
mod tests;
