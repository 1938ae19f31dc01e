//! Parser: field tokens to the typed AST of [`crate::ast`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::ast::*;
use crate::crypto::{Principal, Signature};
use crate::error::{Error, ErrorKind, Field};
use crate::lex::{self, Chunk, Tok, Token};
use crate::Limits;

/// Where the parser interns names and principals.
pub(crate) trait Interner {
    /// Interns an attribute name.
    fn attr(&mut self, name: &str) -> Result<AttrId, ErrorKind>;
    /// Interns a principal.
    fn principal(&mut self, p: Principal, text: &str) -> Result<PrincipalIdx, ErrorKind>;
    /// Counts `bytes` of compiled regular expressions against the
    /// session's [`Limits::max_regex_total_bytes`].
    fn charge_regex(&mut self, bytes: usize) -> Result<(), ErrorKind>;
    /// Interns a principal by its text, decoding it only if this exact
    /// text was not seen before; returns its index and decoded form.
    fn principal_text(&mut self, text: &str) -> Result<(PrincipalIdx, Arc<Principal>), ErrorKind>;
}

/// Local-Constants: (name, value) pairs.
pub(crate) type Consts = Vec<(Box<str>, Box<str>)>;

/// Licensees field state.
#[derive(Debug)]
pub(crate) enum LicField {
    /// No Licensees field: `_MAX_TRUST`.
    Missing,
    /// Empty Licensees field: `_MIN_TRUST`.
    Empty,
    /// An expression.
    Expr(LicExpr),
}

/// A signature found in an assertion.
#[derive(Debug)]
pub(crate) struct SigInfo {
    /// The parsed signature.
    pub sig: Signature,
    /// Absolute byte range of the signed text (start, end = Signature keyword).
    pub signed: (usize, usize),
}

/// An assertion compiled from text.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub authorizer: PrincipalIdx,
    pub authorizer_principal: Arc<Principal>,
    pub licensees: LicField,
    pub conditions: Option<Vec<Clause>>,
    pub consts: Consts,
    pub signature: Option<SigInfo>,
    pub uses_captures: bool,
    /// Absolute range of the assertion in the text.
    pub range: (usize, usize),
}

/// Compiles one assertion chunk of `text`.
pub(crate) fn compile(
    text: &str,
    chunk: Chunk,
    limits: &Limits,
    cx: &mut dyn Interner,
) -> Result<Compiled, Error> {
    let raw = lex::split_fields(text, chunk)?;
    let find = |f: Field| raw.fields.iter().find(|r| r.field == f);
    let mk = |f: Field, keypred: bool| -> Result<Option<(Vec<Token>, usize)>, Error> {
        match find(f) {
            None => Ok(None),
            Some(r) => {
                let toks = lex::lex(text, r.value_start, r.value_end, f, keypred)?;
                if toks.len() > limits.max_tokens {
                    return Err(Error::at(
                        ErrorKind::LimitExceeded("tokens per field"),
                        lex::line_of(text, r.value_start),
                        Some(f),
                    ));
                }
                Ok(Some((toks, r.value_end)))
            }
        }
    };

    if let Some((toks, _)) = mk(Field::Version, false)? {
        let ok = matches!(
            toks.as_slice(),
            [Token {
                tok: Tok::Int(2),
                ..
            }]
        ) || matches!(toks.as_slice(), [Token { tok: Tok::Str(s), .. }] if s == "2");
        if !ok {
            let r = find(Field::Version).map_or(0, |r| r.value_start);
            return Err(Error::at(
                ErrorKind::BadVersion,
                lex::line_of(text, r),
                Some(Field::Version),
            ));
        }
    }

    // Local-Constants apply to every field, wherever they appear.
    let mut consts: Consts = Vec::new();
    if let Some((toks, end)) = mk(Field::LocalConstants, false)? {
        let mut p = P::new(text, toks, end, Field::LocalConstants, limits, cx, &[]);
        consts = p.local_constants()?;
    }

    let mut uses_captures = false;
    let consts_ref: &[(Box<str>, Box<str>)] = &consts;

    let (authorizer, authorizer_principal) = {
        let (toks, end) = mk(Field::Authorizer, false)?.ok_or_else(|| {
            Error::at(
                ErrorKind::MissingAuthorizer,
                lex::line_of(text, chunk.start),
                None,
            )
        })?;
        let mut p = P::new(text, toks, end, Field::Authorizer, limits, cx, consts_ref);
        let s = p.constant_string()?;
        p.cx.principal_text(&s).map_err(|k| p.err_at_start(k))?
    };

    let licensees = match mk(Field::Licensees, true)? {
        None => LicField::Missing,
        Some((toks, _)) if toks.is_empty() => LicField::Empty,
        Some((toks, end)) => {
            let mut p = P::new(text, toks, end, Field::Licensees, limits, cx, consts_ref);
            let e = p.lic_or()?;
            p.expect_end()?;
            LicField::Expr(e)
        }
    };

    let conditions = match mk(Field::Conditions, false)? {
        None => None,
        Some((toks, end)) => {
            // Whether `_N` capture attributes may be read (directly, or via
            // `$`): regexes then run on the engine that reports groups.
            let caps = toks.iter().any(|t| match &t.tok {
                Tok::Ident(n) => {
                    n.len() > 1 && n.starts_with('_') && n[1..].bytes().all(|c| c.is_ascii_digit())
                }
                Tok::Op("$") => true,
                _ => false,
            });
            let mut p = P::new(text, toks, end, Field::Conditions, limits, cx, consts_ref);
            p.uses_captures = caps;
            let prog = p.program(false)?;
            p.expect_end()?;
            uses_captures |= p.uses_captures;
            Some(prog)
        }
    };

    let signature = match mk(Field::Signature, false)? {
        None => None,
        Some((toks, end)) => {
            let mut p = P::new(text, toks, end, Field::Signature, limits, cx, consts_ref);
            let s = p.constant_string()?;
            let sig = Signature::parse(&s).map_err(|e| p.err_at_start(e.kind))?;
            let start = raw.signed_start;
            let end = raw.signature_keyword.unwrap_or(start);
            Some(SigInfo {
                sig,
                signed: (start, end),
            })
        }
    };

    Ok(Compiled {
        authorizer,
        authorizer_principal,
        licensees,
        conditions,
        consts,
        signature,
        uses_captures,
        range: (chunk.start, raw.end),
    })
}

/// A typed operand with its tree depth.
enum Val {
    I(IntExpr),
    F(FloatExpr),
    S(StrExpr),
    B(BoolExpr),
}

struct P<'a, 'c> {
    text: &'a str,
    toks: Vec<Token>,
    pos: usize,
    end: usize,
    field: Field,
    limits: &'a Limits,
    cx: &'c mut dyn Interner,
    consts: &'a [(Box<str>, Box<str>)],
    depth: u32,
    uses_captures: bool,
}

impl<'a, 'c> P<'a, 'c> {
    fn new(
        text: &'a str,
        toks: Vec<Token>,
        end: usize,
        field: Field,
        limits: &'a Limits,
        cx: &'c mut dyn Interner,
        consts: &'a [(Box<str>, Box<str>)],
    ) -> Self {
        P {
            text,
            toks,
            pos: 0,
            end,
            field,
            limits,
            cx,
            consts,
            depth: 0,
            uses_captures: false,
        }
    }

    fn here(&self) -> usize {
        match self.toks.get(self.pos).or(self.toks.last()) {
            Some(t) => t.at,
            None => self.end,
        }
    }
    fn err(&self, kind: ErrorKind) -> Error {
        Error::at(kind, lex::line_of(self.text, self.here()), Some(self.field))
    }
    fn err_at_start(&self, kind: ErrorKind) -> Error {
        let at = self.toks.first().map_or(self.end, |t| t.at);
        Error::at(kind, lex::line_of(self.text, at), Some(self.field))
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    /// The current token, owned. A string or name token is moved out of
    /// the token list rather than copied (every caller consumes such a
    /// token at once, and the parser never goes back).
    fn peek_owned(&mut self) -> Option<Tok> {
        let t = self.toks.get_mut(self.pos)?;
        Some(match &mut t.tok {
            Tok::Str(s) => Tok::Str(core::mem::take(s)),
            Tok::Ident(s) => Tok::Ident(core::mem::take(s)),
            other => other.clone(),
        })
    }
    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, op: &'static str) -> Result<(), Error> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(self.err(ErrorKind::Syntax(match op {
                ")" => "expected ')'",
                "}" => "expected '}'",
                "(" => "expected '('",
                "=" => "expected '='",
                _ => "unexpected token",
            })))
        }
    }
    fn expect_end(&self) -> Result<(), Error> {
        if self.pos < self.toks.len() {
            Err(self.err(ErrorKind::Syntax("unexpected token")))
        } else {
            Ok(())
        }
    }
    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            Err(self.err(ErrorKind::TooDeep))
        } else {
            Ok(())
        }
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }
    /// Tracks the depth of chains of binary operators, which build deep
    /// trees without recursing in the parser.
    fn chain(&self, n: u32) -> Result<(), Error> {
        if self.depth + n > self.limits.max_depth {
            Err(self.err(ErrorKind::TooDeep))
        } else {
            Ok(())
        }
    }

    // ---- Local-Constants -------------------------------------------------

    fn local_constants(&mut self) -> Result<Consts, Error> {
        let mut out: Consts = Vec::new();
        while self.pos < self.toks.len() {
            let name = match self.peek() {
                Some(Tok::Ident(n)) => n.clone(),
                _ => return Err(self.err(ErrorKind::Syntax("expected a constant name"))),
            };
            if name.starts_with('_') || out.iter().any(|(n, _)| **n == *name) {
                return Err(self.err(ErrorKind::BadLocalConstant));
            }
            self.pos += 1;
            self.expect("=")?;
            let value = match self.peek() {
                Some(Tok::Str(s)) => s.clone(),
                _ => return Err(self.err(ErrorKind::Syntax("expected a string literal"))),
            };
            self.pos += 1;
            if out.len() >= self.limits.max_local_constants {
                return Err(self.err(ErrorKind::LimitExceeded("local constants")));
            }
            out.push((name.into(), value.into()));
        }
        Ok(out)
    }

    // ---- names -------------------------------------------------------------

    fn resolve(&mut self, name: &str) -> Result<StrExpr, Error> {
        Ok(match name {
            "_MIN_TRUST" => StrExpr::Special(Special::MinTrust),
            "_MAX_TRUST" => StrExpr::Special(Special::MaxTrust),
            "_VALUES" => StrExpr::Special(Special::Values),
            "_ACTION_AUTHORIZERS" => StrExpr::Special(Special::ActionAuthorizers),
            _ if name.starts_with('_') => {
                let digits = &name[1..];
                if !digits.is_empty()
                    && digits.len() <= 2
                    && digits.bytes().all(|c| c.is_ascii_digit())
                {
                    self.uses_captures = true;
                    // `digits` is at most two ASCII digits, so it fits a u8.
                    StrExpr::Capture(digits.parse::<u8>().unwrap_or(u8::MAX))
                } else {
                    StrExpr::Lit("".into())
                }
            }
            _ => match self.consts.iter().find(|(n, _)| **n == *name) {
                Some((_, v)) => StrExpr::Lit(v.clone()),
                None => StrExpr::Attr(self.cx.attr(name).map_err(|k| self.err(k))?),
            },
        })
    }

    fn concat(&self, a: StrExpr, b: StrExpr) -> StrExpr {
        match (a, b) {
            (StrExpr::Lit(x), StrExpr::Lit(y)) => {
                let mut s = String::with_capacity(x.len() + y.len());
                s.push_str(&x);
                s.push_str(&y);
                StrExpr::Lit(s.into())
            }
            (a, b) => StrExpr::Concat(Box::new(a), Box::new(b)),
        }
    }

    fn deref(&mut self, inner: StrExpr) -> Result<StrExpr, Error> {
        match inner {
            StrExpr::Lit(name) => self.resolve(&name),
            other => Ok(StrExpr::Deref(Box::new(other))),
        }
    }

    // ---- constant key strings (Authorizer, Signature) -----------------------

    fn constant_string(&mut self) -> Result<String, Error> {
        let e = self.key_str()?;
        self.expect_end()?;
        match e {
            StrExpr::Lit(s) => Ok(s.into()),
            _ => Err(self.err_at_start(ErrorKind::NotConstant)),
        }
    }

    fn key_str(&mut self) -> Result<StrExpr, Error> {
        let mut a = self.key_unary()?;
        let mut n = 0;
        while self.eat(".") {
            n += 1;
            self.chain(n)?;
            let b = self.key_unary()?;
            a = self.concat(a, b);
        }
        Ok(a)
    }

    fn key_unary(&mut self) -> Result<StrExpr, Error> {
        match self.peek_owned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(StrExpr::Lit(s.into()))
            }
            Some(Tok::Ident(n)) => {
                self.pos += 1;
                self.resolve(&n)
            }
            Some(Tok::Op("$")) => {
                self.pos += 1;
                self.enter()?;
                let inner = self.key_unary()?;
                self.leave();
                self.deref(inner)
            }
            _ => Err(self.err(ErrorKind::Syntax("expected a principal"))),
        }
    }

    // ---- Licensees -----------------------------------------------------------

    fn principal_ref(&mut self, e: StrExpr) -> Result<PrincipalRef, Error> {
        match e {
            StrExpr::Lit(s) => {
                let (idx, _) = self.cx.principal_text(&s).map_err(|k| self.err(k))?;
                Ok(PrincipalRef::Static(idx))
            }
            other => Ok(PrincipalRef::Dynamic(other)),
        }
    }

    fn lic_or(&mut self) -> Result<LicExpr, Error> {
        let mut l = self.lic_and()?;
        let mut n = 0;
        while self.eat("||") {
            n += 1;
            self.chain(n)?;
            let r = self.lic_and()?;
            l = LicExpr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn lic_and(&mut self) -> Result<LicExpr, Error> {
        let mut l = self.lic_atom()?;
        let mut n = 0;
        while self.eat("&&") {
            n += 1;
            self.chain(n)?;
            let r = self.lic_atom()?;
            l = LicExpr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn lic_atom(&mut self) -> Result<LicExpr, Error> {
        if self.eat("(") {
            self.enter()?;
            let e = self.lic_or()?;
            self.expect(")")?;
            self.leave();
            return Ok(e);
        }
        if let Some(Tok::KOf(k)) = self.peek().cloned() {
            self.pos += 1;
            self.expect("(")?;
            let mut list = Vec::new();
            loop {
                if list.len() >= self.limits.max_kof_list {
                    return Err(self.err(ErrorKind::LimitExceeded("principals in K-of")));
                }
                let e = self.key_str()?;
                list.push(self.principal_ref(e)?);
                if !self.eat(",") {
                    break;
                }
            }
            self.expect(")")?;
            if k == 0 || k as usize > list.len() || k > self.limits.max_k {
                return Err(self.err(ErrorKind::BadThreshold));
            }
            return Ok(LicExpr::KOf(k, list));
        }
        let e = self.key_str()?;
        Ok(LicExpr::Principal(self.principal_ref(e)?))
    }

    // ---- Conditions ----------------------------------------------------------

    fn program(&mut self, in_block: bool) -> Result<Vec<Clause>, Error> {
        let mut clauses = Vec::new();
        loop {
            if self.pos >= self.toks.len() {
                if in_block {
                    return Err(self.err(ErrorKind::Syntax("expected '}'")));
                }
                break;
            }
            if in_block && matches!(self.peek(), Some(Tok::Op("}"))) {
                break;
            }
            if clauses.len() >= self.limits.max_clauses {
                return Err(self.err(ErrorKind::LimitExceeded("clauses")));
            }
            let test = self.or()?;
            let test = self.to_bool(test)?;
            let value = if self.eat("->") {
                if self.eat("{") {
                    self.enter()?;
                    let inner = self.program(true)?;
                    self.expect("}")?;
                    self.leave();
                    ClauseValue::Block(inner)
                } else {
                    let v = self.sum()?;
                    ClauseValue::Value(self.to_str(v)?)
                }
            } else {
                ClauseValue::Max
            };
            clauses.push(Clause { test, value });
            if self.eat(";") {
                continue;
            }
            // A missing ';' after the last clause is accepted.
            if self.pos >= self.toks.len()
                || (in_block && matches!(self.peek(), Some(Tok::Op("}"))))
            {
                break;
            }
            return Err(self.err(ErrorKind::Syntax("expected ';'")));
        }
        Ok(clauses)
    }

    fn to_bool(&self, v: Val) -> Result<BoolExpr, Error> {
        match v {
            Val::B(b) => Ok(b),
            _ => Err(self.err(ErrorKind::TypeMismatch("expected a test"))),
        }
    }
    fn to_str(&self, v: Val) -> Result<StrExpr, Error> {
        match v {
            Val::S(s) => Ok(s),
            _ => Err(self.err(ErrorKind::TypeMismatch("expected a string expression"))),
        }
    }

    fn or(&mut self) -> Result<Val, Error> {
        let mut l = self.and()?;
        let mut n = 0;
        while self.eat("||") {
            n += 1;
            self.chain(n)?;
            let r = self.and()?;
            l = Val::B(BoolExpr::Or(
                Box::new(self.to_bool(l)?),
                Box::new(self.to_bool(r)?),
            ));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Val, Error> {
        let mut l = self.not()?;
        let mut n = 0;
        while self.eat("&&") {
            n += 1;
            self.chain(n)?;
            let r = self.not()?;
            l = Val::B(BoolExpr::And(
                Box::new(self.to_bool(l)?),
                Box::new(self.to_bool(r)?),
            ));
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Val, Error> {
        if self.eat("!") {
            self.enter()?;
            let v = self.not()?;
            self.leave();
            return Ok(Val::B(BoolExpr::Not(Box::new(self.to_bool(v)?))));
        }
        self.rel()
    }

    fn rel(&mut self) -> Result<Val, Error> {
        let l = self.sum()?;
        let op = match self.peek() {
            Some(Tok::Op(o)) => *o,
            _ => return Ok(l),
        };
        let cmp = match op {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            ">" => CmpOp::Gt,
            "<=" => CmpOp::Le,
            ">=" => CmpOp::Ge,
            "~=" => {
                self.pos += 1;
                let r = self.sum()?;
                let (l, r) = match (l, r) {
                    (Val::S(l), Val::S(r)) => (l, r),
                    _ => return Err(self.err(ErrorKind::TypeMismatch("~= needs strings"))),
                };
                let rhs = self.regex(r)?;
                return Ok(Val::B(BoolExpr::Regex(l, rhs)));
            }
            _ => return Ok(l),
        };
        self.pos += 1;
        let r = self.sum()?;
        Ok(Val::B(match (l, r) {
            (Val::I(a), Val::I(b)) => BoolExpr::Int(cmp, a, b),
            (Val::F(a), Val::F(b)) => {
                if matches!(cmp, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.err(ErrorKind::TypeMismatch(
                        "floats cannot be compared for equality",
                    )));
                }
                BoolExpr::Float(cmp, a, b)
            }
            (Val::S(a), Val::S(b)) => BoolExpr::Str(cmp, a, b),
            _ => return Err(self.err(ErrorKind::TypeMismatch("comparison of different types"))),
        }))
    }

    fn regex(&mut self, r: StrExpr) -> Result<RegexRhs, Error> {
        match r {
            StrExpr::Lit(pat) => {
                if pat.len() > self.limits.max_regex_len {
                    return Err(self.err(ErrorKind::BadRegex));
                }
                match build_regex(&pat, self.limits, self.uses_captures) {
                    Some(re) => {
                        self.cx
                            .charge_regex(re.memory_usage(self.limits))
                            .map_err(|k| self.err(k))?;
                        Ok(RegexRhs::Static(Box::new(re)))
                    }
                    // An invalid regex is a runtime error (RFC 2704 5.3.4):
                    // the test is false, the assertion stays.
                    None => Ok(RegexRhs::Invalid),
                }
            }
            other => Ok(RegexRhs::Dynamic(Box::new(other))),
        }
    }

    fn sum(&mut self) -> Result<Val, Error> {
        let mut l = self.prod()?;
        let mut n = 0;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("+")) => ArithOp::Add,
                Some(Tok::Op("-")) => ArithOp::Sub,
                Some(Tok::Op(".")) => {
                    self.pos += 1;
                    n += 1;
                    self.chain(n)?;
                    let r = self.prod()?;
                    l = match (l, r) {
                        (Val::S(a), Val::S(b)) => Val::S(self.concat(a, b)),
                        _ => return Err(self.err(ErrorKind::TypeMismatch("'.' needs strings"))),
                    };
                    continue;
                }
                _ => return Ok(l),
            };
            self.pos += 1;
            n += 1;
            self.chain(n)?;
            let r = self.prod()?;
            l = self.arith(op, l, r)?;
        }
    }

    fn prod(&mut self) -> Result<Val, Error> {
        let mut l = self.pow()?;
        let mut n = 0;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("*")) => ArithOp::Mul,
                Some(Tok::Op("/")) => ArithOp::Div,
                Some(Tok::Op("%")) => ArithOp::Rem,
                _ => return Ok(l),
            };
            self.pos += 1;
            n += 1;
            self.chain(n)?;
            let r = self.pow()?;
            l = self.arith(op, l, r)?;
        }
    }

    fn pow(&mut self) -> Result<Val, Error> {
        let mut l = self.unary()?;
        let mut n = 0;
        while self.eat("^") {
            n += 1;
            self.chain(n)?;
            let r = self.unary()?;
            l = self.arith(ArithOp::Pow, l, r)?;
        }
        Ok(l)
    }

    fn arith(&self, op: ArithOp, l: Val, r: Val) -> Result<Val, Error> {
        match (l, r) {
            (Val::I(a), Val::I(b)) => Ok(Val::I(IntExpr::Bin(op, Box::new(a), Box::new(b)))),
            (Val::F(a), Val::F(b)) if op != ArithOp::Rem => {
                Ok(Val::F(FloatExpr::Bin(op, Box::new(a), Box::new(b))))
            }
            _ => Err(self.err(ErrorKind::TypeMismatch(
                "arithmetic needs two integers or two floats",
            ))),
        }
    }

    fn unary(&mut self) -> Result<Val, Error> {
        let tok = match self.peek_owned() {
            Some(t) => t,
            None => return Err(self.err(ErrorKind::Syntax("unexpected end of field"))),
        };
        match tok {
            Tok::Op("-") => {
                self.pos += 1;
                self.enter()?;
                let v = self.unary()?;
                self.leave();
                match v {
                    Val::I(IntExpr::Lit(n)) => Ok(Val::I(IntExpr::Lit(n.wrapping_neg()))),
                    Val::I(e) => Ok(Val::I(IntExpr::Neg(Box::new(e)))),
                    Val::F(FloatExpr::Lit(x)) => Ok(Val::F(FloatExpr::Lit(-x))),
                    Val::F(e) => Ok(Val::F(FloatExpr::Neg(Box::new(e)))),
                    _ => Err(self.err(ErrorKind::TypeMismatch("unary '-' needs a number"))),
                }
            }
            Tok::Op(op @ ("@" | "&" | "$")) => {
                self.pos += 1;
                self.enter()?;
                let v = self.unary()?;
                self.leave();
                let s = self.to_str(v)?;
                Ok(match op {
                    "@" => Val::I(IntExpr::FromStr(Box::new(s))),
                    "&" => Val::F(FloatExpr::FromStr(Box::new(s))),
                    _ => Val::S(self.deref(s)?),
                })
            }
            Tok::Op("(") => {
                self.pos += 1;
                self.enter()?;
                let v = self.or()?;
                self.expect(")")?;
                self.leave();
                Ok(v)
            }
            Tok::Int(n) => {
                self.pos += 1;
                Ok(Val::I(IntExpr::Lit(n)))
            }
            Tok::Float(x) => {
                self.pos += 1;
                Ok(Val::F(FloatExpr::Lit(x)))
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Val::S(StrExpr::Lit(s.into())))
            }
            Tok::Ident(n) => {
                self.pos += 1;
                Ok(Val::S(self.resolve(&n)?))
            }
            Tok::True => {
                self.pos += 1;
                Ok(Val::B(BoolExpr::True))
            }
            Tok::False => {
                self.pos += 1;
                Ok(Val::B(BoolExpr::False))
            }
            _ => Err(self.err(ErrorKind::Syntax("unexpected token"))),
        }
    }
}

/// Builds a linear-time matcher for a POSIX-style extended regular
/// expression (byte-oriented, leftmost-first). `None` when it is invalid or
/// too large.
pub(crate) fn build_regex(pat: &str, limits: &Limits, captures: bool) -> Option<Regex> {
    if pat.len() > limits.max_regex_len {
        return None;
    }
    if !captures {
        if let Some(f) = crate::fastre::FastRegex::new(pat) {
            return Some(Regex::Fast(f));
        }
    }
    build_general_regex(pat, limits).map(Regex::General)
}

/// Capacity of each lazy DFA's cache of a general-engine regex: it grows
/// with searches up to this, and is kept between searches, so it is
/// counted in [`Regex::memory_usage`]. Small regexes need a few KiB; a
/// regex whose lazy DFA needs more falls back to the PikeVM (still linear).
pub(crate) fn hybrid_cache_capacity(limits: &Limits) -> usize {
    limits.max_regex_nfa_bytes.clamp(1 << 12, 1 << 16)
}

/// The general engine (regex-automata), configured for POSIX-like bytes
/// semantics: no Unicode classes, `.` matches any byte including newline.
pub fn build_general_regex(pat: &str, limits: &Limits) -> Option<regex_automata::meta::Regex> {
    use regex_automata::{meta, util::syntax};
    if pat.len() > limits.max_regex_len {
        return None;
    }
    meta::Regex::builder()
        .syntax(
            syntax::Config::new()
                .unicode(false)
                .utf8(false)
                .dot_matches_new_line(true)
                .nest_limit(64),
        )
        .configure(
            meta::Config::new()
                .utf8_empty(false)
                .nfa_size_limit(Some(limits.max_regex_nfa_bytes))
                .onepass_size_limit(Some(limits.max_regex_nfa_bytes))
                .dfa_size_limit(Some(limits.max_regex_nfa_bytes))
                .hybrid_cache_capacity(hybrid_cache_capacity(limits)),
        )
        .build(pat)
        .ok()
}
