//! A KeyNote trust-management engine (RFC 2704), `no_std` + `alloc`.
//!
//! Assertions (policies and signed credentials) are compiled once, when
//! they are added to a [`Session`]: fields are parsed into a typed AST,
//! attribute names are interned, regular expressions are compiled into a
//! linear-time matcher, keys are decoded into canonical form, and a
//! credential's signature is verified once (and remembered: the latest few
//! credentials verbatim, older ones by SHA-256).
//! A query ([`Query`]: action attributes, requesting principals and the
//! ordered compliance values) never re-parses text.
//!
//! ```
//! use keynote::{Query, Session};
//!
//! let mut session = Session::new();
//! session
//!     .add_policy(
//!         "Authorizer: \"POLICY\"\n\
//!          Licensees: \"app-key\"\n\
//!          Conditions: app_domain == \"netconn\" && @dst_port == 443 -> \"ALLOW\";\n",
//!     )
//!     .unwrap();
//! let mut q = Query::new(&["DENY", "ALLOW"]).unwrap();
//! q.set("app_domain", "netconn").unwrap();
//! q.set("dst_port", "443").unwrap();
//! q.add_authorizer("app-key").unwrap();
//! assert_eq!(session.check(&mut q).value(), "ALLOW");
//! q.set("dst_port", "22").unwrap();
//! let why = session.explain(&mut q);
//! assert_eq!(why.verdict.value(), "DENY");
//! assert!(!why.diagnostics.is_empty());
//! ```
//!
//! A [`Session`] holds no global state and is `Send + Sync`: share it
//! behind a lock or an `Arc` and run queries from several threads.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod ast;
pub mod crypto;
mod error;
mod eval;
pub mod fastre;
pub mod lex;
mod parse;
pub use parse::build_general_regex;
mod session;
pub mod text;

pub use crypto::{
    Encoding, KeyAlgorithm, Principal, PrivateKey, PublicKey, SigAlgorithm, Signature,
};
pub use error::{Error, ErrorKind, Field};
pub use session::{
    AssertionId, Diagnostic, Explanation, Origin, Query, Reason, Session, Status, Verdict,
};

/// Bounds on hostile input. The defaults suit policies written by people
/// and credentials sent over the network.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest assertion text accepted by one `add_*` call, in bytes.
    pub max_text_len: usize,
    /// Deepest nesting of parentheses, blocks, unary operators and chains
    /// of binary operators.
    pub max_depth: u32,
    /// Most tokens in one field.
    pub max_tokens: usize,
    /// Most Local-Constants in one assertion.
    pub max_local_constants: usize,
    /// Most principals listed in one `K-of(...)`.
    pub max_kof_list: usize,
    /// Largest `K` in `K-of(...)`.
    pub max_k: u32,
    /// Most clauses in one program (block).
    pub max_clauses: usize,
    /// Longest regular expression, in bytes.
    pub max_regex_len: usize,
    /// Largest compiled regular expression (NFA/DFA bytes).
    pub max_regex_nfa_bytes: usize,
    /// Most bytes of compiled regular expressions held by a session, all
    /// its assertions together (each counted by
    /// [`ast::Regex::memory_usage`]: compiled form plus its search cache at
    /// its largest). Checked as each regex is compiled, so an assertion
    /// over the budget is refused (`LimitExceeded("compiled regular
    /// expressions in a session")`) having cost at most one regex more,
    /// and the session is left without it. A fork counts what it shares
    /// with its parent.
    pub max_regex_total_bytes: usize,
    /// Most assertions in a session.
    pub max_assertions: usize,
    /// Most distinct principals in a session.
    pub max_principals: usize,
    /// Most distinct attribute names referenced by a session's assertions.
    pub max_attributes: usize,
    /// Most compliance values in a query.
    pub max_values: usize,
    /// Longest delegation chain followed from POLICY.
    pub max_delegation_depth: u32,
    /// Verified-signature cache entries kept by a session.
    pub signature_cache: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_len: 64 * 1024,
            max_depth: 128,
            max_tokens: 8192,
            max_local_constants: 256,
            max_kof_list: 256,
            max_k: 256,
            max_clauses: 1024,
            max_regex_len: 1024,
            max_regex_nfa_bytes: 1 << 20,
            max_regex_total_bytes: 4 << 20,
            max_assertions: 4096,
            max_principals: 8192,
            max_attributes: 4096,
            max_values: 64,
            max_delegation_depth: 64,
            signature_cache: 4096,
        }
    }
}
