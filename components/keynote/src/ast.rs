//! The typed, compiled form of assertions.

use alloc::boxed::Box;
use alloc::vec::Vec;

/// Interned attribute name.
pub type AttrId = u32;
/// Index of a principal in a session.
pub type PrincipalIdx = u32;

/// Special attributes set by the evaluator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// `_MIN_TRUST`
    MinTrust,
    /// `_MAX_TRUST`
    MaxTrust,
    /// `_VALUES`
    Values,
    /// `_ACTION_AUTHORIZERS`
    ActionAuthorizers,
}

/// String expressions.
#[derive(Debug)]
pub enum StrExpr {
    /// A literal (or a folded Local-Constant).
    Lit(Box<str>),
    /// An action attribute.
    Attr(AttrId),
    /// A special attribute.
    Special(Special),
    /// A regular-expression capture `_N` (`_0` is the group count).
    Capture(u8),
    /// `$expr`: the attribute named by the value of `expr`.
    Deref(Box<StrExpr>),
    /// `a . b`
    Concat(Box<StrExpr>, Box<StrExpr>),
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `^`
    Pow,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// Applies the comparison to an ordering.
    pub fn holds(self, o: core::cmp::Ordering) -> bool {
        use core::cmp::Ordering::*;
        match self {
            CmpOp::Eq => o == Equal,
            CmpOp::Ne => o != Equal,
            CmpOp::Lt => o == Less,
            CmpOp::Gt => o == Greater,
            CmpOp::Le => o != Greater,
            CmpOp::Ge => o != Less,
        }
    }
}

/// Integer expressions.
#[derive(Debug)]
pub enum IntExpr {
    /// Literal.
    Lit(i64),
    /// Binary operation.
    Bin(ArithOp, Box<IntExpr>, Box<IntExpr>),
    /// Unary minus.
    Neg(Box<IntExpr>),
    /// `@str`
    FromStr(Box<StrExpr>),
}

/// Float expressions.
#[derive(Debug)]
pub enum FloatExpr {
    /// Literal.
    Lit(f64),
    /// Binary operation (no `%`).
    Bin(ArithOp, Box<FloatExpr>, Box<FloatExpr>),
    /// Unary minus.
    Neg(Box<FloatExpr>),
    /// `&str`
    FromStr(Box<StrExpr>),
}

/// A compiled regular expression (both engines run in linear time).
#[derive(Debug)]
pub enum Regex {
    /// Simple pattern, no captures needed: the bit-parallel matcher.
    Fast(crate::fastre::FastRegex),
    /// Anything else: regex-automata's meta engine.
    General(regex_automata::meta::Regex),
}

impl Regex {
    /// The memory this regex may hold while it is kept, in bytes: its
    /// compiled form, plus, for the general engine, one search cache at its
    /// largest (the lazy DFAs' capacity, the bounded backtracker's visited
    /// set and the PikeVM's state sets, which the engine keeps between
    /// searches). This is what [`crate::Limits::max_regex_total_bytes`]
    /// counts. A session searched from several threads at once holds one
    /// search cache per thread; the count assumes one.
    pub fn memory_usage(&self, limits: &crate::Limits) -> usize {
        match self {
            Regex::Fast(f) => f.memory_usage(),
            Regex::General(g) => {
                let cache = g.create_cache();
                core::mem::size_of::<regex_automata::meta::Regex>()
                    .saturating_add(g.memory_usage())
                    .saturating_add(core::mem::size_of::<regex_automata::meta::Cache>())
                    .saturating_add(cache.memory_usage())
                    // Forward and reverse lazy DFAs, each grown up to its
                    // capacity by searches.
                    .saturating_add(2 * crate::parse::hybrid_cache_capacity(limits))
                    // The bounded backtracker's visited set (regex-automata's
                    // default capacity, which the meta engine keeps).
                    .saturating_add(BACKTRACK_VISITED_BYTES)
            }
        }
    }
}

/// regex-automata's default `visited_capacity` of its bounded backtracker.
const BACKTRACK_VISITED_BYTES: usize = 256 * 1024;

/// The right-hand side of `~=`.
#[derive(Debug)]
pub enum RegexRhs {
    /// Known when the assertion was added: compiled then.
    Static(Box<Regex>),
    /// Computed from attributes: compiled at evaluation (bounded size).
    Dynamic(Box<StrExpr>),
    /// A literal that is not a valid regular expression: a runtime error.
    Invalid,
}

/// Tests (boolean expressions).
#[derive(Debug)]
pub enum BoolExpr {
    /// `true`
    True,
    /// `false`
    False,
    /// `&&`
    And(Box<BoolExpr>, Box<BoolExpr>),
    /// `||`
    Or(Box<BoolExpr>, Box<BoolExpr>),
    /// `!`
    Not(Box<BoolExpr>),
    /// Integer comparison.
    Int(CmpOp, IntExpr, IntExpr),
    /// Float comparison (no equality).
    Float(CmpOp, FloatExpr, FloatExpr),
    /// String comparison (byte-wise, like `strcmp`).
    Str(CmpOp, StrExpr, StrExpr),
    /// `~=`
    Regex(StrExpr, RegexRhs),
}

/// What a clause yields when its test holds.
#[derive(Debug)]
pub enum ClauseValue {
    /// No `->`: `_MAX_TRUST`.
    Max,
    /// `-> strexpr`
    Value(StrExpr),
    /// `-> { program }`
    Block(Vec<Clause>),
}

/// `test -> value;`
#[derive(Debug)]
pub struct Clause {
    /// The test.
    pub test: BoolExpr,
    /// The value.
    pub value: ClauseValue,
}

/// A principal reference in Licensees.
#[derive(Debug)]
pub enum PrincipalRef {
    /// Known when the assertion was added.
    Static(PrincipalIdx),
    /// Computed from action attributes at evaluation.
    Dynamic(StrExpr),
}

/// Licensees expressions.
#[derive(Debug)]
pub enum LicExpr {
    /// A principal.
    Principal(PrincipalRef),
    /// `&&` (minimum).
    And(Box<LicExpr>, Box<LicExpr>),
    /// `||` (maximum).
    Or(Box<LicExpr>, Box<LicExpr>),
    /// `K-of(list)`: the K-th highest value.
    KOf(u32, Vec<PrincipalRef>),
}
