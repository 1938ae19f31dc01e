//! A small bit-parallel matcher (Glushkov automaton in a `u64`) for the
//! common, simple regular expressions of policies and credentials. It
//! compiles in about a microsecond and matches in linear time with a few
//! bit operations per byte. Patterns it does not handle exactly like the
//! general engine (regex-automata) are refused, and the caller falls back
//! to the general engine; a property test checks both agree.
//!
//! Handled: literals, `.`, bracket expressions with ranges, negation and
//! POSIX classes (`[[:digit:]]`), groups, `|`, `*`, `+`, `?`, `{m}`,
//! `{m,}`, `{m,n}`, a leading `^` and a trailing `$`, escaped punctuation;
//! at most 64 positions after expanding counted repetitions.

use alloc::boxed::Box;
use alloc::vec::Vec;

const MAX_POS: usize = 64;
const MAX_REPEAT: u32 = 64;

#[derive(Clone)]
enum Node {
    Empty,
    /// Index into the parser's class table.
    Class(u16),
    Cat(Vec<Node>),
    Alt(Vec<Node>),
    Star(Box<Node>),
    Plus(Box<Node>),
    Opt(Box<Node>),
}

/// A compiled simple pattern.
#[derive(Debug)]
pub struct FastRegex {
    masks: Box<[u64; 256]>,
    follow: Box<[u64; MAX_POS]>,
    first: u64,
    last: u64,
    nullable: bool,
    anchored_start: bool,
    anchored_end: bool,
}

struct Parser<'p> {
    p: &'p [u8],
    i: usize,
    classes: Vec<[u64; 4]>,
}

fn set(c: &mut [u64; 4], b: u8) {
    c[usize::from(b >> 6)] |= 1u64 << (b & 63);
}

fn posix_class(name: &[u8]) -> Option<fn(u8) -> bool> {
    Some(match name {
        b"alpha" => |b: u8| b.is_ascii_alphabetic(),
        b"digit" => |b: u8| b.is_ascii_digit(),
        b"alnum" => |b: u8| b.is_ascii_alphanumeric(),
        b"upper" => |b: u8| b.is_ascii_uppercase(),
        b"lower" => |b: u8| b.is_ascii_lowercase(),
        b"space" => |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b"blank" => |b: u8| b == b' ' || b == b'\t',
        b"xdigit" => |b: u8| b.is_ascii_hexdigit(),
        b"punct" => |b: u8| b.is_ascii_punctuation(),
        b"print" => |b: u8| (0x20..0x7f).contains(&b),
        b"graph" => |b: u8| b.is_ascii_graphic(),
        b"cntrl" => |b: u8| b < 0x20 || b == 0x7f,
        _ => return None,
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.p.get(self.i).copied()
    }

    fn alt(&mut self, depth: u32) -> Option<Node> {
        if depth > 16 {
            return None;
        }
        let mut alts = Vec::new();
        loop {
            alts.push(self.cat(depth)?);
            if self.peek() == Some(b'|') {
                self.i += 1;
            } else {
                break;
            }
        }
        Some(if alts.len() == 1 {
            alts.pop()?
        } else {
            Node::Alt(alts)
        })
    }

    fn cat(&mut self, depth: u32) -> Option<Node> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let atom = self.atom(depth)?;
            let atom = self.repeat(atom)?;
            items.push(atom);
        }
        Some(match items.len() {
            0 => Node::Empty,
            1 => items.pop()?,
            _ => Node::Cat(items),
        })
    }

    fn atom(&mut self, depth: u32) -> Option<Node> {
        let c = self.peek()?;
        self.i += 1;
        let mut cls = [0u64; 4];
        match c {
            b'(' => {
                let inner = self.alt(depth + 1)?;
                if self.peek() != Some(b')') {
                    return None;
                }
                self.i += 1;
                return Some(inner);
            }
            b'.' => cls = [u64::MAX; 4],
            b'[' => cls = self.bracket()?,
            b'\\' => {
                let e = self.peek()?;
                // Only escaped ASCII punctuation means the same everywhere.
                if !e.is_ascii_punctuation() {
                    return None;
                }
                self.i += 1;
                set(&mut cls, e);
            }
            b')' | b']' | b'{' | b'}' | b'*' | b'+' | b'?' | b'^' | b'$' | b'|' => return None,
            c if c.is_ascii() && !c.is_ascii_whitespace() || c == b' ' => set(&mut cls, c),
            _ => return None,
        }
        if self.classes.len() >= 4 * MAX_POS {
            return None;
        }
        self.classes.push(cls);
        Some(Node::Class((self.classes.len() - 1) as u16))
    }

    fn bracket(&mut self) -> Option<[u64; 4]> {
        let mut cls = [0u64; 4];
        let negate = self.peek() == Some(b'^');
        if negate {
            self.i += 1;
        }
        let mut first = true;
        loop {
            let c = self.peek()?;
            self.i += 1;
            if c == b']' && !first {
                break;
            }
            first = false;
            if c == b'\\' || !c.is_ascii() || (c == b'[' && self.peek() != Some(b':')) {
                return None;
            }
            if c == b'[' {
                // [:name:]
                let rest = &self.p[self.i + 1..];
                let end = rest.windows(2).position(|w| w == b":]")?;
                let f = posix_class(&rest[..end])?;
                for b in 0..=255u8 {
                    if f(b) {
                        set(&mut cls, b);
                    }
                }
                self.i += 1 + end + 2;
                continue;
            }
            // Operators of the general engine's class syntax.
            if (c == b'&' || c == b'-' || c == b'~') && self.peek() == Some(c) {
                return None;
            }
            if self.peek() == Some(b'-') && self.p.get(self.i + 1).is_some_and(|&n| n != b']') {
                let hi = *self.p.get(self.i + 1)?;
                if hi == b'\\' || hi == b'[' || !hi.is_ascii() || hi < c {
                    return None;
                }
                for b in c..=hi {
                    set(&mut cls, b);
                }
                self.i += 2;
            } else {
                set(&mut cls, c);
            }
        }
        if negate {
            for w in &mut cls {
                *w = !*w;
            }
        }
        Some(cls)
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == start || self.i - start > 3 {
            return None;
        }
        core::str::from_utf8(&self.p[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    fn repeat(&mut self, atom: Node) -> Option<Node> {
        let node = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Node::Star(Box::new(atom))
            }
            Some(b'+') => {
                self.i += 1;
                Node::Plus(Box::new(atom))
            }
            Some(b'?') => {
                self.i += 1;
                Node::Opt(Box::new(atom))
            }
            Some(b'{') => {
                self.i += 1;
                let m = self.number()?;
                let n = if self.peek() == Some(b',') {
                    self.i += 1;
                    if self.peek() == Some(b'}') {
                        None
                    } else {
                        Some(self.number()?)
                    }
                } else {
                    Some(m)
                };
                if self.peek() != Some(b'}') {
                    return None;
                }
                self.i += 1;
                if m > MAX_REPEAT || n.is_some_and(|n| n < m || n > MAX_REPEAT) {
                    return None;
                }
                let mut items = Vec::new();
                for _ in 0..m {
                    items.push(atom.clone());
                }
                match n {
                    None => items.push(Node::Star(Box::new(atom))),
                    Some(n) => {
                        for _ in m..n {
                            items.push(Node::Opt(Box::new(atom.clone())));
                        }
                    }
                }
                Node::Cat(items)
            }
            _ => return Some(atom),
        };
        // Stacked quantifiers are left to the general engine.
        if matches!(self.peek(), Some(b'*' | b'+' | b'?' | b'{')) {
            return None;
        }
        Some(node)
    }
}

struct Builder<'t> {
    table: &'t [[u64; 4]],
    classes: Vec<[u64; 4]>,
    follow: [u64; MAX_POS],
}

/// (nullable, first, last)
impl Builder<'_> {
    fn walk(&mut self, n: &Node) -> Option<(bool, u64, u64)> {
        Some(match n {
            Node::Empty => (true, 0, 0),
            Node::Class(c) => {
                let p = self.classes.len();
                if p >= MAX_POS {
                    return None;
                }
                self.classes.push(*self.table.get(usize::from(*c))?);
                (false, 1 << p, 1 << p)
            }
            Node::Cat(items) => {
                let (mut nullable, mut first, mut last) = (true, 0u64, 0u64);
                for it in items {
                    let (n2, f2, l2) = self.walk(it)?;
                    self.link(last, f2);
                    if nullable {
                        first |= f2;
                    }
                    last = if n2 { last | l2 } else { l2 };
                    nullable &= n2;
                }
                (nullable, first, last)
            }
            Node::Alt(items) => {
                let (mut nullable, mut first, mut last) = (false, 0u64, 0u64);
                for it in items {
                    let (n2, f2, l2) = self.walk(it)?;
                    nullable |= n2;
                    first |= f2;
                    last |= l2;
                }
                (nullable, first, last)
            }
            Node::Star(a) | Node::Plus(a) => {
                let (n2, f2, l2) = self.walk(a)?;
                self.link(l2, f2);
                (n2 || matches!(n, Node::Star(_)), f2, l2)
            }
            Node::Opt(a) => {
                let (_, f2, l2) = self.walk(a)?;
                (true, f2, l2)
            }
        })
    }

    fn link(&mut self, from: u64, to: u64) {
        let mut m = from;
        while m != 0 {
            let p = m.trailing_zeros() as usize;
            self.follow[p] |= to;
            m &= m - 1;
        }
    }
}

impl FastRegex {
    /// Compiles `pat`, or `None` when the pattern is outside the simple
    /// subset (the caller then uses the general engine).
    pub fn new(pat: &str) -> Option<FastRegex> {
        let mut p = pat.as_bytes();
        let anchored_start = p.first() == Some(&b'^');
        if anchored_start {
            p = &p[1..];
        }
        let anchored_end = p.last() == Some(&b'$') && !(p.len() >= 2 && p[p.len() - 2] == b'\\');
        if anchored_end {
            p = &p[..p.len() - 1];
        }
        let mut parser = Parser {
            p,
            i: 0,
            classes: Vec::new(),
        };
        let root = parser.alt(0)?;
        if parser.i != p.len() {
            return None;
        }
        let mut b = Builder {
            table: &parser.classes,
            classes: Vec::new(),
            follow: [0; MAX_POS],
        };
        let (nullable, first, last) = b.walk(&root)?;
        let mut masks = Box::new([0u64; 256]);
        for (pos, cls) in b.classes.iter().enumerate() {
            for (w, word) in cls.iter().enumerate() {
                let mut bits = *word;
                while bits != 0 {
                    let bit = bits.trailing_zeros() as usize;
                    masks[w * 64 + bit] |= 1 << pos;
                    bits &= bits - 1;
                }
            }
        }
        Some(FastRegex {
            masks,
            follow: Box::new(b.follow),
            first,
            last,
            nullable,
            anchored_start,
            anchored_end,
        })
    }

    /// Whether the pattern matches somewhere in `hay`.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        if self.nullable && (!(self.anchored_start && self.anchored_end) || hay.is_empty()) {
            return true;
        }
        let mut d: u64 = 0;
        for (i, &b) in hay.iter().enumerate() {
            let mut next = 0u64;
            let mut m = d;
            while m != 0 {
                let p = m.trailing_zeros() as usize;
                next |= self.follow[p];
                m &= m - 1;
            }
            if !self.anchored_start || i == 0 {
                next |= self.first;
            }
            d = next & self.masks[usize::from(b)];
            if !self.anchored_end && d & self.last != 0 {
                return true;
            }
            if d == 0 && self.anchored_start {
                return false;
            }
        }
        d & self.last != 0
    }
}
