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
//! The policy is compiled once per policy version (a [`keynote::Session`]).
//! Each distinct set of credentials gets a session forked from it (sharing
//! the compiled policy) with those credentials parsed and their signatures
//! verified once; up to [`MAX_CACHED_SETS`] such sessions, of
//! [`MAX_CACHED_BYTES`] in all, are kept (least recently used evicted), so
//! an application presenting the same credentials again costs one
//! evaluation, no parsing and no signature check. Only sets whose every
//! credential parsed, stayed within the limits and verified are kept: a
//! set with a bad or missing signature is decided (denied its
//! contribution) and dropped, so garbage costs its sender each time and
//! never occupies the cache.
//!
//! # Memory
//!
//! See [`MAX_CACHED_BYTES`] for the worst case and how it fits the trust
//! PD's heap. A stale policy (after a notification) is fetched again at the
//! next query, but only recompiled (and the cache dropped) when its version
//! or its text changed.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use keynote::{AssertionId, ErrorKind, Origin, Query, Session, Status};
pub use trust_api::{Action, Decision, Error, Request, Response, VALUES};

/// Most credentials in one query.
pub const MAX_CREDENTIALS: usize = 32;

/// Longest requester key text, in bytes (an RSA-8192 key in hex is about
/// 2 200 bytes).
pub const MAX_REQUESTER: usize = 4096;

/// Most reason lines in a decision (the rest are summarised in one line).
pub const MAX_REASONS: usize = 32;

/// Most credential sets whose compiled sessions are kept. Each is a fork of
/// the policy plus the set's credentials, so memory stays bounded whatever
/// the requesters send.
pub const MAX_CACHED_SETS: usize = 64;

/// Most bytes of credential text in one query, all credentials together
/// (the PD receives a query in one 64 KiB message, so it never sees more).
pub const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;

/// Most bytes of cached credential sets, each counted by [`set_cost`].
///
/// # Worst case against the trust PD's heap (`trust_pd::HEAP_SIZE`, 16 MiB)
///
/// What an application controls is bounded so:
///
/// - a query's credentials: at most [`MAX_CREDENTIAL_BYTES`] (64 KiB) of
///   text, which the session holds in about 1.8× its size (measured on
///   seL4: 77 KB for 42 KB), so 128 KiB, counted as 2× the text;
/// - their compiled regular expressions: at most the session's
///   `keynote::Limits::max_regex_total_bytes` (4 MiB, the policy's shared
///   regexes included), each regex counted with its search cache at its
///   largest (the counting-allocator test in `keynote` measures about a
///   third of the count actually held); the regex that crosses the budget
///   is built before it is refused: at most about 2 MiB more while the
///   query runs (measured: 1.9 MB peak for a refused 50 × 1 000-byte set);
/// - the cache: at most 4 MiB ([`MAX_CACHED_BYTES`]) of sets, each counted
///   by [`set_cost`], over at most [`MAX_CACHED_SETS`] sessions.
///
/// Peak: cache 4 MiB + the query's new session 4 MiB + 128 KiB + the
/// refused regex 2 MiB + the policy (a few hundred KiB for policies of
/// the repository's install limits, its regexes inside the 4 MiB above) +
/// the PD's message copies and reasons (under 512 KiB) ≈ 11 MiB, which
/// leaves a third of the 16 MiB heap free. A set is cached only after
/// older ones are evicted to make room, so the cache never holds more than
/// its bound while a query's session is being built.
pub const MAX_CACHED_BYTES: usize = 4 << 20;

/// What a cached credential set is counted for in [`MAX_CACHED_BYTES`]:
/// twice its credential text (the parsed assertions and the copy kept for
/// comparison), the bytes of the regexes its credentials compiled (as
/// `keynote` counts them) and 1 KiB for the forked session's tables.
pub fn set_cost(credentials: &[String], session: &Session, policy: &Session) -> usize {
    let text: usize = credentials.iter().map(String::len).sum();
    text.saturating_mul(2)
        .saturating_add(session.regex_bytes().saturating_sub(policy.regex_bytes()))
        .saturating_add(1024)
}

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
    /// Queries whose credential set was compiled already.
    pub cache_hits: u64,
    /// Signature verifications performed (a credential set seen before is
    /// not verified again).
    pub verifications: u64,
    /// Credential sets compiled and decided but not cached (a signature
    /// missing or bad, or larger than [`MAX_CACHED_BYTES`]).
    pub uncached: u64,
}

/// The compiled policy of one version.
struct Compiled {
    version: u64,
    /// The assertions it was compiled from.
    texts: Vec<String>,
    /// Policy only; forked for each credential set.
    policy: Session,
    /// Compiled credential sets, at most [`MAX_CACHED_SETS`].
    sets: Vec<CredentialSet>,
    /// Sum of the sets' costs, at most [`MAX_CACHED_BYTES`].
    cached_bytes: usize,
    /// Use counter for least-recently-used eviction.
    clock: u64,
}

/// A session holding the policy and one set of credentials.
struct CredentialSet {
    /// The credential texts, compared exactly.
    texts: Vec<String>,
    /// A cheap hash of `texts`, to skip most comparisons.
    hash: u64,
    session: Session,
    /// For each credential text, the ids of its assertions.
    ids: Vec<Vec<AssertionId>>,
    last_use: u64,
    /// Its [`set_cost`].
    cost: usize,
}

/// FNV-1a over the credential texts (lengths included): only a filter
/// before an exact comparison, so it needs no resistance to collisions.
fn set_hash(texts: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for t in texts {
        for b in (t.len() as u64).to_le_bytes() {
            eat(b);
        }
        for &b in t.as_bytes() {
            eat(b);
        }
    }
    h
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
        self.stats
    }

    /// The cached credential sets: how many, and their total cost
    /// ([`set_cost`], at most [`MAX_CACHED_BYTES`]).
    pub fn cached(&self) -> (usize, usize) {
        self.compiled
            .as_ref()
            .map_or((0, 0), |c| (c.sets.len(), c.cached_bytes))
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
        // Unchanged (same version and the same text: a restarted repository
        // may reuse a version number for a different policy) is kept as it
        // is, with its compiled credential sets.
        if let Some(c) = &self.compiled {
            if c.version == text.version && c.texts == text.assertions {
                return Ok(c.policy.len());
            }
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
            texts: text.assertions.clone(),
            policy,
            sets: Vec::new(),
            cached_bytes: 0,
            clock: 0,
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
        if credentials.iter().any(|t| t.len() > max_text)
            || credentials.iter().map(String::len).sum::<usize>() > MAX_CREDENTIAL_BYTES
        {
            return Err(Error::LimitExceeded);
        }
        self.stats.queries += 1;

        let q = &mut self.query;
        q.clear_attributes();
        q.clear_authorizers();
        for (name, value) in action.attributes() {
            // Attribute names are fixed, documented and never reserved.
            q.set(name, &value)
                .map_err(|e| keynote_error("action attribute", &e))?;
        }
        let key = requester_key(requester).map_err(|e| keynote_error("requester key", &e))?;
        q.add_authorizer(&key)
            .map_err(|e| keynote_error("requester key", &e))?;

        c.clock += 1;
        let hash = set_hash(credentials);
        let found = c
            .sets
            .iter()
            .position(|e| e.hash == hash && e.texts.as_slice() == credentials);
        let at = match found {
            Some(i) => {
                self.stats.cache_hits += 1;
                i
            }
            None => {
                // Not cached: a parse error or a limit (the `?`) drops the
                // session at once, and so does a failed signature, after
                // the decision.
                let mut session = c.policy.fork();
                let ids = add_credentials(&mut session, credentials);
                self.stats.verifications += session.verifications();
                let ids = ids?;
                let cost = set_cost(credentials, &session, &c.policy);
                let verified = ids
                    .iter()
                    .flatten()
                    .all(|&id| session.status(id) == Some(Status::Usable));
                if !verified || cost > MAX_CACHED_BYTES {
                    self.stats.uncached += 1;
                    return Ok(evaluate(&session, &ids, q));
                }
                while !c.sets.is_empty()
                    && (c.sets.len() >= MAX_CACHED_SETS
                        || c.cached_bytes.saturating_add(cost) > MAX_CACHED_BYTES)
                {
                    let oldest = c
                        .sets
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| e.last_use)
                        .map_or(0, |(i, _)| i);
                    let gone = c.sets.swap_remove(oldest);
                    c.cached_bytes = c.cached_bytes.saturating_sub(gone.cost);
                }
                c.cached_bytes += cost;
                c.sets.push(CredentialSet {
                    texts: credentials.to_vec(),
                    hash,
                    session,
                    ids,
                    last_use: 0,
                    cost,
                });
                c.sets.len() - 1
            }
        };
        let Some(set) = c.sets.get_mut(at) else {
            return Err(Error::PolicyUnavailable);
        };
        set.last_use = c.clock;
        Ok(evaluate(&set.session, &set.ids, q))
    }
}

/// Evaluates the query on a session holding the policy and the
/// credentials (`ids`: each credential's assertions).
fn evaluate(work: &Session, ids: &[Vec<AssertionId>], q: &mut Query) -> Decision {
    let verdict = work.check(q);
    if verdict.is_max() {
        Decision {
            allowed: true,
            value: verdict.value().to_string(),
            reasons: Vec::new(),
        }
    } else {
        let why = work.explain(q);
        let mut reasons = Vec::new();
        let total = why.diagnostics.len();
        // The credentials' reasons first: they are the ones a requester
        // can act on (and the policy's follow from them).
        let mut diags: Vec<&keynote::Diagnostic> = why.diagnostics.iter().collect();
        diags.sort_by_key(|d| d.origin == Origin::Policy);
        for d in diags.into_iter().take(MAX_REASONS) {
            reasons.push(describe(work, ids, d));
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
    }
}

/// The requester's key text: as written (`ed25519-hex:...`), or in the
/// quoted and wrapped form of a `kn keygen` public key file.
pub fn requester_key(text: &str) -> Result<String, keynote::Error> {
    let t = text.trim();
    if t.starts_with('"') {
        keynote::text::parse_key_file(t)
    } else {
        Ok(String::from(t))
    }
}

/// Adds the credentials to a session forked from the policy. Returns, for
/// each credential text, the ids of its assertions.
fn add_credentials(
    work: &mut Session,
    credentials: &[String],
) -> Result<Vec<Vec<AssertionId>>, Error> {
    let mut ids = Vec::with_capacity(credentials.len());
    for (i, text) in credentials.iter().enumerate() {
        match work.add_credential(text) {
            Ok(v) => ids.push(v),
            Err(e) => return Err(keynote_error(&format!("credential {i}"), &e)),
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
