//! The compliance checker (RFC 2704 section 5).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::ast::*;
use crate::crypto::Principal;
use crate::parse::{build_regex, LicField};
use crate::session::{Entry, Session, Status};

pub(crate) const UNVISITED: u32 = u32::MAX;
const IN_PROGRESS: u32 = u32::MAX - 1;

/// A runtime error: makes the enclosing test false.
#[derive(Debug)]
pub(crate) struct Rt;

/// What explain() records per evaluated assertion.
#[derive(Debug)]
pub(crate) struct Record {
    pub assertion: u32,
    pub conditions: usize,
    pub licensees: usize,
    pub unknown: Vec<PrincipalIdx>,
}

impl Record {
    pub fn value(&self) -> usize {
        self.conditions.min(self.licensees)
    }
}

pub(crate) struct Ctx<'a> {
    pub s: &'a Session,
    pub values: &'a [Box<str>],
    pub attrs: &'a [(Box<str>, Box<str>)],
    pub authorizers: &'a [(Box<str>, Vec<u8>)],
    pub slots: &'a [u32],
    pub direct: &'a [bool],
    pub memo: &'a mut Vec<u32>,
    pub captures: Vec<String>,
    pub records: Option<&'a mut Vec<Record>>,
    pub unknown: Vec<PrincipalIdx>,
}

type R<T> = Result<T, Rt>;

impl<'a> Ctx<'a> {
    fn max(&self) -> usize {
        self.values.len().saturating_sub(1)
    }

    /// Policy Compliance Value: the maximum over the locally trusted
    /// assertions whose Authorizer is POLICY.
    pub fn root(&mut self) -> usize {
        let s = self.s;
        let p = s.policy as usize;
        let Some(list) = s.by_authorizer.get(p) else {
            return 0;
        };
        if let Some(m) = self.memo.get_mut(p) {
            *m = IN_PROGRESS;
        }
        let mut best = 0;
        for &ai in list {
            let Some(Some(e)) = s.assertions.get(ai as usize) else {
                continue;
            };
            let e: &'a Entry = e;
            if e.status != Status::Usable || e.origin != crate::Origin::Policy {
                continue;
            }
            best = best.max(self.assertion(ai, e, 1));
            if best == self.max() {
                break;
            }
        }
        if let Some(m) = self.memo.get_mut(p) {
            *m = best as u32;
        }
        best
    }

    fn principal(&mut self, p: PrincipalIdx, depth: u32) -> usize {
        let pi = p as usize;
        if self.direct.get(pi).copied().unwrap_or(false) {
            return self.max();
        }
        match self.memo.get(pi).copied() {
            Some(IN_PROGRESS) | None => return 0,
            Some(UNVISITED) => {}
            Some(v) => return v as usize,
        }
        if depth > self.s.limits.max_delegation_depth {
            return 0;
        }
        let s = self.s;
        let list = match s.by_authorizer.get(pi) {
            Some(l) if !l.is_empty() => l,
            _ => {
                self.unknown.push(p);
                return 0;
            }
        };
        self.memo[pi] = IN_PROGRESS;
        let mut best = 0;
        for &ai in list {
            let Some(Some(e)) = s.assertions.get(ai as usize) else {
                continue;
            };
            let e: &'a Entry = e;
            if e.status != Status::Usable {
                continue;
            }
            best = best.max(self.assertion(ai, e, depth + 1));
            if best == self.max() {
                break;
            }
        }
        self.memo[pi] = best as u32;
        best
    }

    fn assertion(&mut self, ai: u32, e: &'a Entry, depth: u32) -> usize {
        let c = &e.compiled;
        let cond = match &c.conditions {
            None => self.max(),
            Some(prog) => self.program(prog, e),
        };
        let saved_unknown = core::mem::take(&mut self.unknown);
        let lic = if cond == 0 {
            0
        } else {
            match &c.licensees {
                LicField::Missing => self.max(),
                LicField::Empty => 0,
                LicField::Expr(x) => self.lic(x, e, depth),
            }
        };
        let unknown = core::mem::replace(&mut self.unknown, saved_unknown);
        if let Some(rec) = self.records.as_deref_mut() {
            rec.push(Record {
                assertion: ai,
                conditions: cond,
                licensees: if cond == 0 { usize::MAX } else { lic },
                unknown,
            });
        }
        cond.min(lic)
    }

    fn lic(&mut self, x: &'a LicExpr, e: &'a Entry, depth: u32) -> usize {
        match x {
            LicExpr::Principal(r) => self.principal_ref(r, e, depth),
            LicExpr::And(a, b) => {
                let va = self.lic(a, e, depth);
                if va == 0 {
                    0
                } else {
                    va.min(self.lic(b, e, depth))
                }
            }
            LicExpr::Or(a, b) => {
                let va = self.lic(a, e, depth);
                if va == self.max() {
                    va
                } else {
                    va.max(self.lic(b, e, depth))
                }
            }
            LicExpr::KOf(k, list) => {
                let mut vals: Vec<usize> = list
                    .iter()
                    .map(|r| self.principal_ref(r, e, depth))
                    .collect();
                vals.sort_unstable_by(|a, b| b.cmp(a));
                vals.get((*k as usize).saturating_sub(1))
                    .copied()
                    .unwrap_or(0)
            }
        }
    }

    fn principal_ref(&mut self, r: &'a PrincipalRef, e: &'a Entry, depth: u32) -> usize {
        match r {
            PrincipalRef::Static(p) => self.principal(*p, depth),
            PrincipalRef::Dynamic(x) => {
                let Ok(text) = self.str(x, e) else { return 0 };
                let Ok(p) = Principal::parse(&text) else {
                    return 0;
                };
                let canon = p.canonical();
                if self.authorizers.iter().any(|(_, c)| *c == canon) {
                    return self.max();
                }
                match self.s.principals.get(canon.as_slice()) {
                    Some(&idx) => self.principal(idx, depth),
                    None => 0,
                }
            }
        }
    }

    fn program(&mut self, clauses: &'a [Clause], e: &'a Entry) -> usize {
        let mut best = 0;
        for c in clauses {
            self.captures.clear();
            if let Ok(true) = self.test(&c.test, e) {
                let v = match &c.value {
                    ClauseValue::Max => self.max(),
                    ClauseValue::Value(x) => match self.str(x, e) {
                        Ok(s) => self.values.iter().position(|v| **v == *s).unwrap_or(0),
                        Err(Rt) => 0,
                    },
                    ClauseValue::Block(b) => self.program(b, e),
                };
                best = best.max(v);
                if best == self.max() {
                    break;
                }
            }
        }
        self.captures.clear();
        best
    }

    fn test(&mut self, t: &'a BoolExpr, e: &'a Entry) -> R<bool> {
        Ok(match t {
            BoolExpr::True => true,
            BoolExpr::False => false,
            BoolExpr::And(a, b) => self.test(a, e)? && self.test(b, e)?,
            BoolExpr::Or(a, b) => self.test(a, e)? || self.test(b, e)?,
            BoolExpr::Not(a) => !self.test(a, e)?,
            BoolExpr::Int(op, a, b) => {
                let (x, y) = (self.int(a, e)?, self.int(b, e)?);
                op.holds(x.cmp(&y))
            }
            BoolExpr::Float(op, a, b) => {
                let (x, y) = (self.float(a, e)?, self.float(b, e)?);
                match x.partial_cmp(&y) {
                    Some(o) => op.holds(o),
                    None => return Err(Rt),
                }
            }
            BoolExpr::Str(op, a, b) => {
                let x = self.str(a, e)?;
                let y = self.str(b, e)?;
                op.holds(x.as_bytes().cmp(y.as_bytes()))
            }
            BoolExpr::Regex(l, rhs) => {
                let hay = self.str(l, e)?;
                let dynamic;
                let re = match rhs {
                    RegexRhs::Static(r) => &**r,
                    RegexRhs::Invalid => return Err(Rt),
                    RegexRhs::Dynamic(x) => {
                        let pat = self.str(x, e)?;
                        dynamic = build_regex(&pat, &self.s.limits, e.compiled.uses_captures)
                            .ok_or(Rt)?;
                        &dynamic
                    }
                };
                self.captures.clear();
                let re = match re {
                    Regex::Fast(f) => return Ok(f.is_match(hay.as_bytes())),
                    Regex::General(g) if !e.compiled.uses_captures => {
                        return Ok(g.is_match(hay.as_bytes()))
                    }
                    Regex::General(g) => g,
                };
                let mut caps = re.create_captures();
                re.captures(hay.as_bytes(), &mut caps);
                if !caps.is_match() {
                    return Ok(false);
                }
                let groups = caps.group_len().saturating_sub(1);
                self.captures.push(groups.to_string());
                for i in 1..=groups.min(31) {
                    match caps.get_group(i) {
                        Some(span) => {
                            let bytes = hay.as_bytes().get(span.start..span.end).unwrap_or(&[]);
                            self.captures
                                .push(String::from_utf8_lossy(bytes).into_owned());
                        }
                        None => break,
                    }
                }
                true
            }
        })
    }

    fn int(&mut self, x: &'a IntExpr, e: &'a Entry) -> R<i64> {
        match x {
            IntExpr::Lit(n) => Ok(*n),
            IntExpr::Neg(a) => self.int(a, e)?.checked_neg().ok_or(Rt),
            IntExpr::FromStr(s) => {
                let s = self.str(s, e)?;
                str_to_int(&s)
            }
            IntExpr::Bin(op, a, b) => {
                let x = self.int(a, e)?;
                let y = self.int(b, e)?;
                match op {
                    ArithOp::Add => x.checked_add(y),
                    ArithOp::Sub => x.checked_sub(y),
                    ArithOp::Mul => x.checked_mul(y),
                    ArithOp::Div => x.checked_div(y),
                    ArithOp::Rem => x.checked_rem(y),
                    ArithOp::Pow => int_pow(x, y),
                }
                .ok_or(Rt)
            }
        }
    }

    fn float(&mut self, x: &'a FloatExpr, e: &'a Entry) -> R<f64> {
        match x {
            FloatExpr::Lit(v) => Ok(*v),
            FloatExpr::Neg(a) => Ok(-self.float(a, e)?),
            FloatExpr::FromStr(s) => {
                let s = self.str(s, e)?;
                Ok(str_to_float(&s))
            }
            FloatExpr::Bin(op, a, b) => {
                let x = self.float(a, e)?;
                let y = self.float(b, e)?;
                let r = match op {
                    ArithOp::Add => x + y,
                    ArithOp::Sub => x - y,
                    ArithOp::Mul => x * y,
                    ArithOp::Div => {
                        if y == 0.0 {
                            return Err(Rt);
                        }
                        x / y
                    }
                    ArithOp::Pow => libm::pow(x, y),
                    ArithOp::Rem => return Err(Rt),
                };
                if r.is_nan() {
                    Err(Rt)
                } else {
                    Ok(r)
                }
            }
        }
    }

    fn attr(&self, id: AttrId) -> &'a str {
        match self.slots.get(id as usize) {
            Some(&k) if k != u32::MAX => self.attrs.get(k as usize).map_or("", |(_, v)| &**v),
            _ => "",
        }
    }

    fn special(&self, sp: Special) -> Cow<'a, str> {
        let values = self.values;
        match sp {
            Special::MinTrust => Cow::Borrowed(values.first().map_or("", |v| &**v)),
            Special::MaxTrust => Cow::Borrowed(values.last().map_or("", |v| &**v)),
            Special::Values => Cow::Owned(join(values.iter().map(|v| &**v))),
            Special::ActionAuthorizers => {
                Cow::Owned(join(self.authorizers.iter().map(|(t, _)| &**t)))
            }
        }
    }

    fn str(&mut self, x: &'a StrExpr, e: &'a Entry) -> R<Cow<'a, str>> {
        Ok(match x {
            StrExpr::Lit(s) => Cow::Borrowed(&**s),
            StrExpr::Attr(id) => Cow::Borrowed(self.attr(*id)),
            StrExpr::Special(sp) => self.special(*sp),
            StrExpr::Capture(n) => {
                Cow::Owned(self.captures.get(*n as usize).cloned().unwrap_or_default())
            }
            StrExpr::Concat(a, b) => {
                let mut s = self.str(a, e)?.into_owned();
                s.push_str(&self.str(b, e)?);
                Cow::Owned(s)
            }
            StrExpr::Deref(inner) => {
                let name = self.str(inner, e)?;
                self.lookup(&name, e)
            }
        })
    }

    /// Attribute lookup by name at evaluation time, in libkeynote's order:
    /// special attributes, regex captures, Local-Constants, the action.
    fn lookup(&self, name: &str, e: &'a Entry) -> Cow<'a, str> {
        match name {
            "_MIN_TRUST" => return self.special(Special::MinTrust),
            "_MAX_TRUST" => return self.special(Special::MaxTrust),
            "_VALUES" => return self.special(Special::Values),
            "_ACTION_AUTHORIZERS" => return self.special(Special::ActionAuthorizers),
            _ => {}
        }
        if let Some(d) = name.strip_prefix('_') {
            return match d.parse::<usize>() {
                Ok(n) => Cow::Owned(self.captures.get(n).cloned().unwrap_or_default()),
                Err(_) => Cow::Borrowed(""),
            };
        }
        if let Some((_, v)) = e.compiled.consts.iter().find(|(n, _)| **n == *name) {
            return Cow::Borrowed(&**v);
        }
        if let Some(&id) = self.s.attrs.get(name) {
            return Cow::Borrowed(self.attr(id));
        }
        Cow::Borrowed(
            self.attrs
                .iter()
                .find(|(n, _)| **n == *name)
                .map_or("", |(_, v)| &**v),
        )
    }
}

fn join<'x>(it: impl Iterator<Item = &'x str>) -> String {
    let mut s = String::new();
    for (i, v) in it.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(v);
    }
    s
}

/// libkeynote's `isfloatstring`: digits with at most one '.' (the empty
/// string qualifies and converts to 0).
fn is_float_string(s: &str) -> bool {
    let mut point = false;
    for c in s.bytes() {
        if c == b'.' {
            if point {
                return false;
            }
            point = true;
        } else if !c.is_ascii_digit() {
            return false;
        }
    }
    true
}

/// `@`: the integer part of a decimal number; 0 when the string is not a
/// number (RFC 2704 4.6.5); a value too large for 64 bits is a runtime error.
pub(crate) fn str_to_int(s: &str) -> R<i64> {
    if !is_float_string(s) {
        return Ok(0);
    }
    let int_part = s.split('.').next().unwrap_or("");
    if int_part.is_empty() {
        return Ok(0);
    }
    int_part.parse::<i64>().map_err(|_| Rt)
}

/// `&`: a decimal number, or 0.0.
pub(crate) fn str_to_float(s: &str) -> f64 {
    if !is_float_string(s) {
        return 0.0;
    }
    s.parse::<f64>().unwrap_or(0.0)
}

/// Integer power; a negative exponent gives 0 (as libkeynote), overflow is
/// a runtime error.
fn int_pow(mut x: i64, mut y: i64) -> Option<i64> {
    if y < 0 {
        return Some(0);
    }
    let mut acc: i64 = 1;
    while y > 0 {
        if y & 1 == 1 {
            acc = acc.checked_mul(x)?;
        }
        y >>= 1;
        if y > 0 {
            x = x.checked_mul(x)?;
        }
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(str_to_int("443").unwrap(), 443);
        assert_eq!(str_to_int("12.9").unwrap(), 12);
        assert_eq!(str_to_int("").unwrap(), 0);
        assert_eq!(str_to_int("-5").unwrap(), 0);
        assert_eq!(str_to_int("1a").unwrap(), 0);
        assert!(str_to_int("99999999999999999999").is_err());
        assert_eq!(str_to_float("2.5"), 2.5);
        assert_eq!(str_to_float("x"), 0.0);
        assert_eq!(int_pow(2, 10), Some(1024));
        assert_eq!(int_pow(2, -1), Some(0));
        assert_eq!(int_pow(2, 64), None);
        assert_eq!(int_pow(-3, 3), Some(-27));
    }
}
