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

const MAX_POS: usize = 64;
const MAX_REPEAT: u32 = 64;
/// Most atoms parsed (counted repetitions re-parse their atom), bounding
/// the compile time of nested repetitions of empty groups.
const MAX_ATOMS: u32 = 1024;

/// A compiled simple pattern.
#[derive(Debug)]
pub struct FastRegex {
    t: Box<Tables>,
    first: u64,
    last: u64,
    nullable: bool,
    anchored_start: bool,
    anchored_end: bool,
}

/// The automaton's tables (one allocation).
#[derive(Debug)]
struct Tables {
    /// For each byte, the positions whose class holds it.
    masks: [u64; 256],
    /// For each position, the positions that may follow it.
    follow: [u64; MAX_POS],
}

/// A Glushkov fragment: whether it matches the empty string, its first
/// and its last positions.
#[derive(Clone, Copy)]
struct Frag {
    nullable: bool,
    first: u64,
    last: u64,
}

const EMPTY: Frag = Frag {
    nullable: true,
    first: 0,
    last: 0,
};

impl Frag {
    /// The fragment made optional.
    fn opt(self) -> Frag {
        Frag {
            nullable: true,
            ..self
        }
    }
}

/// One-pass compiler: parses the pattern and builds the position automaton
/// as it goes (no syntax tree). A counted repetition re-parses its atom
/// for each copy, giving every copy its own positions.
struct Compiler<'p> {
    p: &'p [u8],
    i: usize,
    npos: usize,
    atoms: u32,
    re: FastRegex,
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

impl Compiler<'_> {
    fn peek(&self) -> Option<u8> {
        self.p.get(self.i).copied()
    }

    fn link(&mut self, from: u64, to: u64) {
        let mut m = from;
        while m != 0 {
            let p = m.trailing_zeros() as usize;
            self.re.t.follow[p] |= to;
            m &= m - 1;
        }
    }

    /// `a` followed by `b`.
    fn cat2(&mut self, a: Frag, b: Frag) -> Frag {
        self.link(a.last, b.first);
        Frag {
            nullable: a.nullable && b.nullable,
            first: if a.nullable {
                a.first | b.first
            } else {
                a.first
            },
            last: if b.nullable { a.last | b.last } else { b.last },
        }
    }

    fn new_pos(&mut self) -> Option<u64> {
        if self.npos >= MAX_POS {
            return None;
        }
        self.npos += 1;
        Some(1 << (self.npos - 1))
    }

    /// A position matching the bytes of `cls`.
    fn class(&mut self, cls: &[u64; 4]) -> Option<Frag> {
        let bit = self.new_pos()?;
        for (w, word) in cls.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                self.re.t.masks[w * 64 + b] |= bit;
                bits &= bits - 1;
            }
        }
        Some(Frag {
            nullable: false,
            first: bit,
            last: bit,
        })
    }

    /// A position matching the byte `b`.
    fn byte(&mut self, b: u8) -> Option<Frag> {
        let bit = self.new_pos()?;
        self.re.t.masks[usize::from(b)] |= bit;
        Some(Frag {
            nullable: false,
            first: bit,
            last: bit,
        })
    }

    fn alt(&mut self, depth: u32) -> Option<Frag> {
        if depth > 16 {
            return None;
        }
        let mut f = self.cat(depth)?;
        while self.peek() == Some(b'|') {
            self.i += 1;
            let g = self.cat(depth)?;
            f = Frag {
                nullable: f.nullable || g.nullable,
                first: f.first | g.first,
                last: f.last | g.last,
            };
        }
        Some(f)
    }

    fn cat(&mut self, depth: u32) -> Option<Frag> {
        let mut acc = EMPTY;
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let start = self.i;
            let base = self.npos;
            let atom = self.atom(depth)?;
            let f = self.repeat(start, base, atom, depth)?;
            acc = self.cat2(acc, f);
        }
        Some(acc)
    }

    fn atom(&mut self, depth: u32) -> Option<Frag> {
        self.atoms += 1;
        if self.atoms > MAX_ATOMS {
            return None;
        }
        let c = self.peek()?;
        self.i += 1;
        match c {
            b'(' => {
                let inner = self.alt(depth + 1)?;
                if self.peek() != Some(b')') {
                    return None;
                }
                self.i += 1;
                Some(inner)
            }
            b'.' => self.class(&[u64::MAX; 4]),
            b'[' => {
                let cls = self.bracket()?;
                self.class(&cls)
            }
            b'\\' => {
                let e = self.peek()?;
                // Only escaped ASCII punctuation means the same everywhere.
                if !e.is_ascii_punctuation() {
                    return None;
                }
                self.i += 1;
                self.byte(e)
            }
            b')' | b']' | b'{' | b'}' | b'*' | b'+' | b'?' | b'^' | b'$' | b'|' => None,
            c if c.is_ascii() && !c.is_ascii_whitespace() || c == b' ' => self.byte(c),
            _ => None,
        }
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
                let rest = self.p.get(self.i + 1..)?;
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
        let mut v = 0u32;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            v = v * 10 + u32::from(c - b'0');
            self.i += 1;
            if self.i - start > 3 {
                return None;
            }
        }
        if self.i == start {
            return None;
        }
        Some(v)
    }

    /// Applies the quantifier after an atom (parsed from `start`, its
    /// positions numbered from `base`).
    fn repeat(&mut self, start: usize, base: usize, atom: Frag, depth: u32) -> Option<Frag> {
        let f = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                self.link(atom.last, atom.first);
                atom.opt()
            }
            Some(b'+') => {
                self.i += 1;
                self.link(atom.last, atom.first);
                atom
            }
            Some(b'?') => {
                self.i += 1;
                atom.opt()
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
                let after = self.i;
                let f = self.counted(start, base, atom, m, n, depth)?;
                self.i = after;
                f
            }
            _ => return Some(atom),
        };
        // Stacked quantifiers are left to the general engine.
        if matches!(self.peek(), Some(b'*' | b'+' | b'?' | b'{')) {
            return None;
        }
        Some(f)
    }

    /// `atom{m}`, `atom{m,}` or `atom{m,n}`: `m` copies, then a starred
    /// copy or `n - m` optional ones. The first copy is `atom`, already
    /// parsed; the others re-parse it from `start`.
    fn counted(
        &mut self,
        start: usize,
        base: usize,
        atom: Frag,
        m: u32,
        n: Option<u32>,
        depth: u32,
    ) -> Option<Frag> {
        if n == Some(0) {
            // `atom{0}`: matches the empty string; forget the copy's
            // positions (nothing links to them yet).
            let gone = u64::MAX.checked_shl(base as u32).unwrap_or(0);
            for p in base..self.npos {
                self.re.t.follow[p] = 0;
            }
            for mask in self.re.t.masks.iter_mut() {
                *mask &= !gone;
            }
            self.npos = base;
            return Some(EMPTY);
        }
        let mut acc = EMPTY;
        let mut copies = 0u32;
        let mut next = |c: &mut Self| -> Option<Frag> {
            copies += 1;
            if copies == 1 {
                return Some(atom);
            }
            c.i = start;
            c.atom(depth)
        };
        for _ in 0..m {
            let f = next(self)?;
            acc = self.cat2(acc, f);
        }
        match n {
            None => {
                let f = next(self)?;
                self.link(f.last, f.first);
                acc = self.cat2(acc, f.opt());
            }
            Some(n) => {
                for _ in m..n {
                    let f = next(self)?;
                    acc = self.cat2(acc, f.opt());
                }
            }
        }
        Some(acc)
    }
}

impl FastRegex {
    /// Heap and inline bytes of this matcher (its tables are one
    /// allocation of fixed size).
    pub fn memory_usage(&self) -> usize {
        core::mem::size_of::<FastRegex>() + core::mem::size_of::<Tables>()
    }

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
        let mut c = Compiler {
            p,
            i: 0,
            npos: 0,
            atoms: 0,
            re: FastRegex {
                t: Box::new(Tables {
                    masks: [0; 256],
                    follow: [0; MAX_POS],
                }),
                first: 0,
                last: 0,
                nullable: false,
                anchored_start,
                anchored_end,
            },
        };
        let root = c.alt(0)?;
        if c.i != p.len() {
            return None;
        }
        c.re.first = root.first;
        c.re.last = root.last;
        c.re.nullable = root.nullable;
        Some(c.re)
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
                next |= self.t.follow[p];
                m &= m - 1;
            }
            if !self.anchored_start || i == 0 {
                next |= self.first;
            }
            d = next & self.t.masks[usize::from(b)];
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
