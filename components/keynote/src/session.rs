//! Sessions, queries, verdicts and diagnostics.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::ast::{AttrId, PrincipalIdx};
use crate::crypto::Principal;
use crate::error::{Error, ErrorKind};
use crate::eval::{Ctx, Record};
use crate::lex;
use crate::parse::{self, Compiled, Interner};
use crate::Limits;

/// Handle of an assertion in a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssertionId(pub u32);

impl fmt::Display for AssertionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an assertion came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Locally trusted (policy): no signature needed.
    Policy,
    /// Untrusted (credential): must carry a valid signature by its Authorizer key.
    Credential,
}

/// Whether an assertion may take part in evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Trusted policy, or credential whose signature verified.
    Usable,
    /// Credential whose signature did not verify.
    BadSignature,
    /// Credential without a signature, or whose Authorizer is not a key.
    Unsigned,
}

pub(crate) struct Entry {
    pub compiled: Compiled,
    pub origin: Origin,
    pub status: Status,
    /// Bytes of its compiled regexes (see [`Limits::max_regex_total_bytes`]).
    pub regex_bytes: usize,
}

/// A KeyNote session: a set of policies and credentials, compiled.
///
/// `Send + Sync`; adding or removing assertions needs `&mut`, queries need
/// only `&self`.
pub struct Session {
    pub(crate) limits: Limits,
    // Names, texts and canonical keys are `Arc`s so that `fork` shares
    // them (a reference count each) instead of copying them.
    pub(crate) attrs: BTreeMap<Arc<str>, AttrId>,
    pub(crate) attr_names: Vec<Arc<str>>,
    pub(crate) principals: BTreeMap<Arc<[u8]>, PrincipalIdx>,
    pub(crate) principal_text: Vec<Arc<str>>,
    principal_value: Vec<Arc<Principal>>,
    principal_by_text: BTreeMap<Arc<str>, PrincipalIdx>,
    pub(crate) by_authorizer: Vec<Vec<u32>>,
    pub(crate) assertions: Vec<Option<Arc<Entry>>>,
    live: usize,
    sig_cache: SigCache,
    pub(crate) policy: PrincipalIdx,
    verifications: u64,
    /// Bytes of compiled regexes of the assertions held.
    regex_bytes: usize,
    /// Bytes of compiled regexes of the `add` under way.
    pending_regex: usize,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("assertions", &self.live)
            .field("principals", &self.principal_text.len())
            .field("attributes", &self.attr_names.len())
            .finish()
    }
}

impl Interner for Session {
    fn attr(&mut self, name: &str) -> Result<AttrId, ErrorKind> {
        if let Some(&id) = self.attrs.get(name) {
            return Ok(id);
        }
        if self.attr_names.len() >= self.limits.max_attributes {
            return Err(ErrorKind::LimitExceeded("attribute names"));
        }
        let id = self.attr_names.len() as AttrId;
        let name: Arc<str> = name.into();
        self.attr_names.push(name.clone());
        self.attrs.insert(name, id);
        Ok(id)
    }

    fn principal(&mut self, p: Principal, text: &str) -> Result<PrincipalIdx, ErrorKind> {
        self.intern_principal(Arc::new(p), text.into())
    }

    fn charge_regex(&mut self, bytes: usize) -> Result<(), ErrorKind> {
        let total = self
            .regex_bytes
            .saturating_add(self.pending_regex)
            .saturating_add(bytes);
        if total > self.limits.max_regex_total_bytes {
            return Err(ErrorKind::LimitExceeded(
                "compiled regular expressions in a session",
            ));
        }
        self.pending_regex += bytes;
        Ok(())
    }

    fn principal_text(&mut self, text: &str) -> Result<(PrincipalIdx, Arc<Principal>), ErrorKind> {
        if let Some(&idx) = self.principal_by_text.get(text) {
            if let Some(p) = self.principal_value.get(idx as usize) {
                return Ok((idx, p.clone()));
            }
        }
        let p = Arc::new(Principal::parse(text).map_err(|e| e.kind)?);
        let text: Arc<str> = text.into();
        let idx = self.intern_principal(p.clone(), text.clone())?;
        if self.principal_by_text.len() < self.limits.max_principals {
            self.principal_by_text.insert(text, idx);
        }
        Ok((idx, p))
    }
}

impl Session {
    fn intern_principal(
        &mut self,
        p: Arc<Principal>,
        text: Arc<str>,
    ) -> Result<PrincipalIdx, ErrorKind> {
        let canon = p.canonical();
        if let Some(&idx) = self.principals.get(canon.as_slice()) {
            return Ok(idx);
        }
        if self.principal_text.len() >= self.limits.max_principals {
            return Err(ErrorKind::LimitExceeded("principals"));
        }
        let idx = self.principal_text.len() as PrincipalIdx;
        self.principal_text.push(text);
        self.principal_value.push(p);
        self.by_authorizer.push(Vec::new());
        self.principals.insert(canon.into(), idx);
        Ok(idx)
    }

    /// An empty session with default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// An empty session with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        let mut s = Session {
            limits,
            attrs: BTreeMap::new(),
            attr_names: Vec::new(),
            principals: BTreeMap::new(),
            principal_text: Vec::new(),
            principal_value: Vec::new(),
            principal_by_text: BTreeMap::new(),
            by_authorizer: Vec::new(),
            assertions: Vec::new(),
            live: 0,
            sig_cache: SigCache::default(),
            policy: 0,
            verifications: 0,
            regex_bytes: 0,
            pending_regex: 0,
        };
        // The limit on principals is at least 1, so this cannot fail; fall
        // back to index 0 (which is what it gets) if it somehow did.
        s.policy = s
            .principal(Principal::Opaque("POLICY".into()), "POLICY")
            .unwrap_or(0);
        s
    }

    /// A new session holding the same assertions (sharing their compiled
    /// form, so this costs no parsing) but with an empty cache of verified
    /// signatures. Use it to stamp out per-request sessions from a session
    /// that holds the policy.
    pub fn fork(&self) -> Session {
        Session {
            limits: self.limits.clone(),
            attrs: self.attrs.clone(),
            attr_names: self.attr_names.clone(),
            principals: self.principals.clone(),
            principal_text: self.principal_text.clone(),
            principal_value: self.principal_value.clone(),
            principal_by_text: self.principal_by_text.clone(),
            by_authorizer: self.by_authorizer.clone(),
            assertions: self.assertions.clone(),
            live: self.live,
            sig_cache: SigCache::default(),
            policy: self.policy,
            verifications: 0,
            regex_bytes: self.regex_bytes,
            pending_regex: 0,
        }
    }

    /// The session's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Number of assertions in the session.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the session holds no assertions.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes of compiled regular expressions held by the session's
    /// assertions, as counted against [`Limits::max_regex_total_bytes`]
    /// (a fork counts those it shares with its parent).
    pub fn regex_bytes(&self) -> usize {
        self.regex_bytes
    }

    /// How many signature verifications this session has performed (cache
    /// hits are not counted).
    pub fn verifications(&self) -> u64 {
        self.verifications
    }

    /// Adds locally trusted assertions (policies). `text` may hold several
    /// assertions separated by blank lines. All are added or none.
    pub fn add_policy(&mut self, text: &str) -> Result<Vec<AssertionId>, Error> {
        self.add(text, Origin::Policy)
    }

    /// Adds untrusted assertions (credentials). Each must be signed by its
    /// Authorizer key; the signature is checked now (or found in the cache of
    /// verified signatures). A credential whose signature is missing or bad is
    /// kept, marked with its [`Status`], never contributes to a verdict and is
    /// reported by [`Session::explain`]. Malformed text is an error.
    pub fn add_credential(&mut self, text: &str) -> Result<Vec<AssertionId>, Error> {
        self.add(text, Origin::Credential)
    }

    /// Adds assertions with the given origin.
    pub fn add(&mut self, text: &str, origin: Origin) -> Result<Vec<AssertionId>, Error> {
        if text.len() > self.limits.max_text_len {
            return Err(Error::new(ErrorKind::TooLarge {
                limit: self.limits.max_text_len,
            }));
        }
        let chunks = lex::split_assertions(text);
        if chunks.is_empty() {
            return Err(Error::at(ErrorKind::Empty, 1, None));
        }
        if self.live + chunks.len() > self.limits.max_assertions {
            return Err(Error::new(ErrorKind::LimitExceeded(
                "assertions in a session",
            )));
        }
        let limits = self.limits.clone();
        let mut compiled = Vec::with_capacity(chunks.len());
        self.pending_regex = 0;
        for ch in chunks {
            let before = self.pending_regex;
            match parse::compile(text, ch, &limits, self) {
                Ok(c) => compiled.push((c, self.pending_regex - before)),
                Err(e) => {
                    // Nothing is added: the regexes compiled so far are
                    // dropped with `compiled`.
                    self.pending_regex = 0;
                    return Err(e);
                }
            }
        }
        self.regex_bytes += core::mem::take(&mut self.pending_regex);
        let mut ids = Vec::with_capacity(compiled.len());
        for (c, regex_bytes) in compiled {
            let status = match origin {
                Origin::Policy => Status::Usable,
                Origin::Credential => self.check_signature(text, &c),
            };
            let idx = self.assertions.len() as u32;
            if let Some(list) = self.by_authorizer.get_mut(c.authorizer as usize) {
                list.push(idx);
            }
            self.assertions.push(Some(Arc::new(Entry {
                compiled: c,
                origin,
                status,
                regex_bytes,
            })));
            self.live += 1;
            ids.push(AssertionId(idx));
        }
        Ok(ids)
    }

    fn check_signature(&mut self, text: &str, c: &Compiled) -> Status {
        let (sig, key) = match (&c.signature, &*c.authorizer_principal) {
            (Some(sig), Principal::Key(key)) => (sig, key),
            _ => return Status::Unsigned,
        };
        let body = text.as_bytes().get(c.range.0..c.range.1).unwrap_or(&[]);
        let hash = match self.sig_cache.lookup(body) {
            Lookup::Hit => return Status::Usable,
            Lookup::Miss(hash) => hash,
        };
        let signed = text
            .as_bytes()
            .get(sig.signed.0..sig.signed.1)
            .unwrap_or(&[]);
        self.verifications += 1;
        if key.verify(
            sig.sig.algorithm,
            &[signed, sig.sig.name.as_bytes()],
            &sig.sig.bits,
        ) {
            self.sig_cache
                .insert(body, hash, self.limits.signature_cache);
            Status::Usable
        } else {
            Status::BadSignature
        }
    }

    /// Status of an assertion, if it is in the session.
    pub fn status(&self, id: AssertionId) -> Option<Status> {
        self.entry(id).map(|e| e.status)
    }

    /// Origin of an assertion, if it is in the session.
    pub fn origin(&self, id: AssertionId) -> Option<Origin> {
        self.entry(id).map(|e| e.origin)
    }

    /// Ids of all assertions in the session, in the order they were added.
    pub fn ids(&self) -> impl Iterator<Item = AssertionId> + '_ {
        self.assertions
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(i, _)| AssertionId(i as u32))
    }

    pub(crate) fn entry(&self, id: AssertionId) -> Option<&Entry> {
        self.assertions
            .get(id.0 as usize)
            .and_then(|e| e.as_deref())
    }

    /// The Authorizer principal text of an assertion.
    pub fn authorizer(&self, id: AssertionId) -> Option<&str> {
        self.entry(id)
            .and_then(|e| self.principal_text.get(e.compiled.authorizer as usize))
            .map(|s| &**s)
    }

    /// Removes an assertion; returns whether it was there.
    pub fn remove(&mut self, id: AssertionId) -> bool {
        let Some(slot) = self.assertions.get_mut(id.0 as usize) else {
            return false;
        };
        let Some(e) = slot.take() else {
            return false;
        };
        if let Some(list) = self.by_authorizer.get_mut(e.compiled.authorizer as usize) {
            list.retain(|&i| i != id.0);
        }
        self.regex_bytes = self.regex_bytes.saturating_sub(e.regex_bytes);
        self.live -= 1;
        true
    }

    /// Removes every credential, keeping policies and the cache of verified
    /// signatures (so credentials sent again are not verified again).
    pub fn clear_credentials(&mut self) {
        let ids: Vec<AssertionId> = self
            .ids()
            .filter(|&id| self.origin(id) == Some(Origin::Credential))
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// Evaluates a query: the Policy Compliance Value (RFC 2704 section 5.3).
    pub fn check(&self, q: &mut Query) -> Verdict {
        let index = self.run(q, None);
        Verdict {
            index,
            values: q.values.clone(),
        }
    }

    /// Evaluates a query and explains which assertions did not contribute
    /// and why.
    pub fn explain(&self, q: &mut Query) -> Explanation {
        let mut records = Vec::new();
        let index = self.run(q, Some(&mut records));
        let mut diagnostics = Vec::new();
        for id in self.ids() {
            let Some(e) = self.entry(id) else { continue };
            let reason = match e.status {
                Status::BadSignature => Some(Reason::BadSignature),
                Status::Unsigned => Some(Reason::Unsigned),
                Status::Usable => match records.iter().find(|r: &&Record| r.assertion == id.0) {
                    None => Some(Reason::NotReached),
                    Some(r) if r.conditions == 0 => Some(Reason::ConditionsFalse),
                    Some(r) if r.licensees == 0 => Some(Reason::NotLicensed {
                        unknown: r
                            .unknown
                            .iter()
                            .map(|&p| {
                                self.principal_text
                                    .get(p as usize)
                                    .map_or("".into(), |s| Box::from(&**s))
                            })
                            .collect(),
                    }),
                    Some(r) if r.value() < index => Some(Reason::Weaker { value: r.value() }),
                    Some(_) => None,
                },
            };
            if let Some(reason) = reason {
                diagnostics.push(Diagnostic {
                    assertion: id,
                    origin: e.origin,
                    authorizer: self.authorizer(id).unwrap_or("").into(),
                    reason,
                });
            }
        }
        Explanation {
            verdict: Verdict {
                index,
                values: q.values.clone(),
            },
            diagnostics,
        }
    }

    fn run(&self, q: &mut Query, records: Option<&mut Vec<Record>>) -> usize {
        let n_attr = self.attr_names.len();
        q.slots.clear();
        q.slots.resize(n_attr, u32::MAX);
        for (k, (name, _)) in q.attrs.iter().enumerate() {
            if let Some(&id) = self.attrs.get(&**name) {
                if let Some(slot) = q.slots.get_mut(id as usize) {
                    *slot = k as u32;
                }
            }
        }
        let n_p = self.principal_text.len();
        q.memo.clear();
        q.memo.resize(n_p, crate::eval::UNVISITED);
        q.direct.clear();
        q.direct.resize(n_p, false);
        for (_, canon) in &q.authorizers {
            if let Some(&idx) = self.principals.get(canon.as_slice()) {
                if let Some(d) = q.direct.get_mut(idx as usize) {
                    *d = true;
                }
            }
        }
        let mut ctx = Ctx {
            s: self,
            values: &q.values,
            attrs: &q.attrs,
            authorizers: &q.authorizers,
            slots: &q.slots,
            direct: &q.direct,
            memo: &mut q.memo,
            captures: Vec::new(),
            records,
            unknown: Vec::new(),
        };
        ctx.root()
    }
}

/// The cache of verified signatures: the bytes of every credential whose
/// signature verified (the whole assertion, signature included), so that
/// the same credential sent again is not verified again.
///
/// The few most recent credentials are kept verbatim and compared byte for
/// byte; older ones are remembered by their SHA-256. A lookup therefore
/// hashes nothing while the cache holds only verbatim entries (a fresh
/// session, a per-request fork), and a hit is always on exactly the same
/// bytes (or, for hashed entries, the same SHA-256).
#[derive(Default)]
struct SigCache {
    /// Most recently verified assertions, verbatim.
    recent: Vec<Box<[u8]>>,
    /// Bytes held by `recent`.
    recent_bytes: usize,
    /// SHA-256 of older verified assertions.
    hashed: BTreeSet<[u8; 32]>,
}

/// Result of a signature-cache lookup.
enum Lookup {
    /// Verified before.
    Hit,
    /// Not in the cache; the SHA-256 of the bytes if the lookup computed it.
    Miss(Option<[u8; 32]>),
}

/// Most assertions kept verbatim in a [`SigCache`].
const RECENT_MAX: usize = 4;
/// Most bytes kept verbatim in a [`SigCache`].
const RECENT_BYTES: usize = 16 * 1024;

fn sha256(body: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

impl SigCache {
    fn len(&self) -> usize {
        self.recent.len() + self.hashed.len()
    }

    fn lookup(&self, body: &[u8]) -> Lookup {
        if self.recent.iter().any(|r| **r == *body) {
            return Lookup::Hit;
        }
        if self.hashed.is_empty() {
            return Lookup::Miss(None);
        }
        let hash = sha256(body);
        if self.hashed.contains(&hash) {
            Lookup::Hit
        } else {
            Lookup::Miss(Some(hash))
        }
    }

    /// Remembers `body` (whose SHA-256 is `hash` if already computed); at
    /// most `limit` entries are kept (the cache is emptied when full).
    fn insert(&mut self, body: &[u8], hash: Option<[u8; 32]>, limit: usize) {
        if self.len() >= limit {
            self.recent.clear();
            self.recent_bytes = 0;
            self.hashed.clear();
        }
        if self.recent.len() < RECENT_MAX && self.recent_bytes + body.len() <= RECENT_BYTES {
            self.recent_bytes += body.len();
            self.recent.push(body.into());
        } else {
            self.hashed.insert(hash.unwrap_or_else(|| sha256(body)));
        }
    }
}

/// A query: action attributes, requesting principals and the ordered
/// compliance values. Reuse one `Query` for many checks: its buffers are
/// kept.
#[derive(Clone, Debug)]
pub struct Query {
    pub(crate) values: Arc<[Box<str>]>,
    pub(crate) attrs: Vec<(Box<str>, Box<str>)>,
    pub(crate) authorizers: Vec<(Box<str>, Vec<u8>)>,
    slots: Vec<u32>,
    memo: Vec<u32>,
    direct: Vec<bool>,
}

/// Most compliance values in a query.
pub const MAX_VALUES: usize = 64;

impl Query {
    /// A query with the compliance values ordered from `_MIN_TRUST` to
    /// `_MAX_TRUST` (e.g. `["DENY", "ALLOW"]`).
    pub fn new(values: &[&str]) -> Result<Self, Error> {
        if values.is_empty() || values.len() > MAX_VALUES {
            return Err(Error::new(ErrorKind::BadValues));
        }
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(Error::new(ErrorKind::BadValues));
            }
        }
        let values: Vec<Box<str>> = values.iter().map(|v| Box::from(*v)).collect();
        Ok(Query {
            values: values.into(),
            attrs: Vec::new(),
            authorizers: Vec::new(),
            slots: Vec::new(),
            memo: Vec::new(),
            direct: Vec::new(),
        })
    }

    /// The compliance values.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|v| &**v)
    }

    /// Sets an action attribute (replacing an earlier value). Names starting
    /// with `_` are reserved.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        if name.starts_with('_') {
            return Err(Error::new(ErrorKind::ReservedAttribute));
        }
        match self.attrs.iter_mut().find(|(n, _)| **n == *name) {
            Some(slot) => {
                if *slot.1 != *value {
                    slot.1 = value.into();
                }
            }
            None => self.attrs.push((name.into(), value.into())),
        }
        Ok(())
    }

    /// The value of an action attribute.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| **n == *name)
            .map(|(_, v)| &**v)
    }

    /// Removes every action attribute.
    pub fn clear_attributes(&mut self) {
        self.attrs.clear();
    }

    /// Adds a requesting principal (`_ACTION_AUTHORIZERS`): a key text such as
    /// `ed25519-hex:...` or an opaque name.
    pub fn add_authorizer(&mut self, principal: &str) -> Result<(), Error> {
        let p = Principal::parse(principal)?;
        self.authorizers.push((principal.into(), p.canonical()));
        Ok(())
    }

    /// Removes every requesting principal.
    pub fn clear_authorizers(&mut self) {
        self.authorizers.clear();
    }
}

/// The result of a query.
#[derive(Clone, Debug)]
pub struct Verdict {
    index: usize,
    values: Arc<[Box<str>]>,
}

impl Verdict {
    /// Position of the value in the query's compliance values (0 is
    /// `_MIN_TRUST`).
    pub fn index(&self) -> usize {
        self.index
    }
    /// The compliance value.
    pub fn value(&self) -> &str {
        self.values.get(self.index).map_or("", |v| &**v)
    }
    /// Whether the value is `_MAX_TRUST`.
    pub fn is_max(&self) -> bool {
        self.index + 1 == self.values.len()
    }
}

/// Why an assertion did not contribute to the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The credential's signature does not verify with its Authorizer key.
    BadSignature,
    /// The credential is unsigned, or its Authorizer is not a key.
    Unsigned,
    /// The Conditions gave `_MIN_TRUST` for this action (no clause held, or
    /// a runtime error such as division by zero made the tests false).
    ConditionsFalse,
    /// The Licensees gave `_MIN_TRUST`; `unknown` lists licensee principals
    /// that are neither requesters nor the Authorizer of any assertion.
    NotLicensed {
        /// Unknown principals (as written).
        unknown: Vec<Box<str>>,
    },
    /// The assertion's Authorizer is not reached from any POLICY assertion
    /// (an unknown key, or a delegation chain that breaks earlier).
    NotReached,
    /// The assertion held, but with a lower value than the verdict.
    Weaker {
        /// Its value's index.
        value: usize,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BadSignature => f.write_str("signature verification failure"),
            Reason::Unsigned => f.write_str("unsigned credential"),
            Reason::ConditionsFalse => f.write_str("conditions not satisfied"),
            Reason::NotLicensed { unknown } if unknown.is_empty() => {
                f.write_str("licensees not satisfied")
            }
            Reason::NotLicensed { unknown } => {
                f.write_str("licensees not satisfied; unknown keys:")?;
                for u in unknown {
                    let short: String = u.chars().take(48).collect();
                    write!(f, " {short}")?;
                }
                Ok(())
            }
            Reason::NotReached => f.write_str("authorizer not reached from POLICY (unknown key)"),
            Reason::Weaker { value } => write!(f, "held with a lower value (index {value})"),
        }
    }
}

/// One assertion that did not contribute, and why.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// The assertion.
    pub assertion: AssertionId,
    /// Policy or credential.
    pub origin: Origin,
    /// Its Authorizer, as written.
    pub authorizer: Box<str>,
    /// Why.
    pub reason: Reason,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short: String = self.authorizer.chars().take(48).collect();
        write!(
            f,
            "assertion {} (authorizer {short}): {}",
            self.assertion, self.reason
        )
    }
}

/// A verdict with diagnostics.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The verdict.
    pub verdict: Verdict,
    /// Assertions that did not contribute.
    pub diagnostics: Vec<Diagnostic>,
}
