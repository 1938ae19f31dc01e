//! Typed errors. Every error from parsing names the line (1-based, counted
//! in the assertion text given to the library) and, where known, the field.

use core::fmt;

/// The assertion field an error was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `KeyNote-Version:`
    Version,
    /// `Local-Constants:`
    LocalConstants,
    /// `Authorizer:`
    Authorizer,
    /// `Licensees:`
    Licensees,
    /// `Conditions:`
    Conditions,
    /// `Comment:`
    Comment,
    /// `Signature:`
    Signature,
}

impl Field {
    /// The field name as written in assertions.
    pub fn name(self) -> &'static str {
        match self {
            Field::Version => "KeyNote-Version",
            Field::LocalConstants => "Local-Constants",
            Field::Authorizer => "Authorizer",
            Field::Licensees => "Licensees",
            Field::Conditions => "Conditions",
            Field::Comment => "Comment",
            Field::Signature => "Signature",
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is larger than the configured limit (bytes).
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The input is not valid UTF-8 (assertions are ASCII text).
    NotUtf8,
    /// The assertion text is empty or holds only whitespace and comments.
    Empty,
    /// A line that should start a field has no `Name:` keyword.
    MissingColon,
    /// A field name that RFC 2704 does not define.
    UnknownField,
    /// A field appears twice in one assertion.
    DuplicateField,
    /// `KeyNote-Version` is not the first field.
    VersionNotFirst,
    /// `KeyNote-Version` is not "2".
    BadVersion,
    /// The mandatory `Authorizer` field is missing.
    MissingAuthorizer,
    /// A token the grammar does not allow here.
    Syntax(&'static str),
    /// A string literal is not closed before the end of the field.
    UnterminatedString,
    /// An integer or float literal that does not fit.
    BadNumber,
    /// Operands of different types (string, integer, float) are mixed.
    TypeMismatch(&'static str),
    /// Parentheses, clause blocks or operators nest deeper than the limit.
    TooDeep,
    /// A local constant is defined twice or its name starts with `_`.
    BadLocalConstant,
    /// An attribute name starting with `_` was set by the caller.
    ReservedAttribute,
    /// The `K` of a `K-of(...)` is 0, larger than the limit, or larger than
    /// the number of listed principals.
    BadThreshold,
    /// A regular expression is too long or does not compile.
    BadRegex,
    /// The field needs a value known when the assertion is added (it may use
    /// literals and Local-Constants only).
    NotConstant,
    /// More assertions, principals or values than the limits allow.
    LimitExceeded(&'static str),
    /// A key or signature uses an algorithm that is refused (DSA, MD5, X.509).
    RefusedAlgorithm,
    /// A key or signature algorithm name that this implementation does not know.
    UnknownAlgorithm,
    /// The hex or base64 text of a key or signature is malformed.
    BadEncoding,
    /// The decoded key is not a valid key of its algorithm.
    BadKey,
    /// The signature algorithm does not match the authorizer's key type.
    AlgorithmMismatch,
    /// A signed credential has an opaque (non-key) authorizer, or is unsigned.
    NotSigned,
    /// Creating a signature failed.
    SignFailed,
    /// A compliance value list that is empty, too long, or has duplicates.
    BadValues,
}

/// An error with the place it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// 1-based line in the assertion text (0 when not tied to a line).
    pub line: u32,
    /// The field, when the error is inside one.
    pub field: Option<Field>,
}

impl Error {
    /// An error not tied to a position.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            line: 0,
            field: None,
        }
    }
    /// An error at `line` in `field`.
    pub fn at(kind: ErrorKind, line: u32, field: Option<Field>) -> Self {
        Error { kind, line, field }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::TooLarge { limit } => write!(f, "input larger than {limit} bytes"),
            ErrorKind::NotUtf8 => f.write_str("input is not valid UTF-8 text"),
            ErrorKind::Empty => f.write_str("empty assertion"),
            ErrorKind::MissingColon => f.write_str("field keyword without ':'"),
            ErrorKind::UnknownField => f.write_str("unknown field name"),
            ErrorKind::DuplicateField => f.write_str("field appears more than once"),
            ErrorKind::VersionNotFirst => f.write_str("KeyNote-Version must be the first field"),
            ErrorKind::BadVersion => f.write_str("unsupported KeyNote-Version (must be 2)"),
            ErrorKind::MissingAuthorizer => f.write_str("missing Authorizer field"),
            ErrorKind::Syntax(what) => write!(f, "syntax error: {what}"),
            ErrorKind::UnterminatedString => f.write_str("unterminated string literal"),
            ErrorKind::BadNumber => f.write_str("number out of range"),
            ErrorKind::TypeMismatch(what) => write!(f, "type error: {what}"),
            ErrorKind::TooDeep => f.write_str("expression nested too deeply"),
            ErrorKind::BadLocalConstant => {
                f.write_str("local constant defined twice or named with a leading '_'")
            }
            ErrorKind::ReservedAttribute => {
                f.write_str("attribute names starting with '_' are reserved")
            }
            ErrorKind::BadThreshold => f.write_str("bad K in K-of(...)"),
            ErrorKind::BadRegex => f.write_str("regular expression too long or invalid"),
            ErrorKind::NotConstant => {
                f.write_str("field must be made of literals and Local-Constants only")
            }
            ErrorKind::LimitExceeded(what) => write!(f, "limit exceeded: {what}"),
            ErrorKind::RefusedAlgorithm => {
                f.write_str("refused algorithm (DSA, MD5 and X.509 are not accepted)")
            }
            ErrorKind::UnknownAlgorithm => f.write_str("unknown key or signature algorithm"),
            ErrorKind::BadEncoding => f.write_str("malformed hex or base64 encoding"),
            ErrorKind::BadKey => f.write_str("invalid key"),
            ErrorKind::AlgorithmMismatch => {
                f.write_str("signature algorithm does not match the authorizer key")
            }
            ErrorKind::NotSigned => f.write_str("credential is not signed by a key"),
            ErrorKind::SignFailed => f.write_str("signing failed"),
            ErrorKind::BadValues => f.write_str("bad compliance value list"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        if let Some(field) = self.field {
            write!(f, "{}: ", field.name())?;
        }
        write!(f, "{}", self.kind)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
