//! Splitting text into assertions and fields, and the token lexer of field
//! values (RFC 2704 section 4), following libkeynote's rules byte for byte
//! where they decide what is signed.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, ErrorKind, Field};

/// One assertion's place in a larger text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of the first character of the assertion.
    pub start: usize,
    /// Byte offset just past its end.
    pub end: usize,
}

/// Splits a text holding assertions separated by blank lines (`"\n\n"`).
/// Leading whitespace before each assertion is skipped.
pub fn split_assertions(text: &str) -> Vec<Chunk> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        // Back up to the beginning of the line so that an indented first
        // field is reported as an error rather than silently accepted.
        let mut start = i;
        while start > 0 && b[start - 1] != b'\n' {
            start -= 1;
        }
        let end = memchr::memmem::find(&b[i..], b"\n\n").map_or(b.len(), |off| i + off + 1);
        out.push(Chunk { start, end });
        i = end;
    }
    out
}

/// A field of an assertion: keyword and value ranges (absolute offsets).
#[derive(Clone, Copy, Debug)]
pub struct RawField {
    /// Which field.
    pub field: Field,
    /// Start of the keyword.
    pub keyword: usize,
    /// Start of the value (just after `:`).
    pub value_start: usize,
    /// End of the value.
    pub value_end: usize,
}

/// The fields of one assertion and the signed range.
#[derive(Debug)]
pub struct RawAssertion {
    /// Fields in order.
    pub fields: Vec<RawField>,
    /// Start of the signed text (first field or comment).
    pub signed_start: usize,
    /// Start of the `Signature:` keyword, when present.
    pub signature_keyword: Option<usize>,
    /// End of the assertion (text after the Signature field is ignored).
    pub end: usize,
}

/// 1-based line number of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> u32 {
    let upto = offset.min(text.len());
    1 + text.as_bytes()[..upto]
        .iter()
        .filter(|&&c| c == b'\n')
        .count() as u32
}

fn field_of(keyword: &[u8]) -> Option<Field> {
    const NAMES: [(&str, Field); 7] = [
        ("keynote-version", Field::Version),
        ("local-constants", Field::LocalConstants),
        ("authorizer", Field::Authorizer),
        ("licensees", Field::Licensees),
        ("conditions", Field::Conditions),
        ("signature", Field::Signature),
        ("comment", Field::Comment),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(keyword))
        .map(|(_, f)| *f)
}

/// Splits one assertion (`chunk` of `text`) into fields.
pub fn split_fields(text: &str, chunk: Chunk) -> Result<RawAssertion, Error> {
    let b = text.as_bytes();
    let j = chunk.end;
    let err = |k: ErrorKind, at: usize, f: Option<Field>| Error::at(k, line_of(text, at), f);
    let mut i = chunk.start;
    while i < j && b[i].is_ascii_whitespace() {
        i += 1;
    }
    if i >= j {
        return Err(err(ErrorKind::Empty, chunk.start, None));
    }
    if i != 0 && b[i - 1] != b'\n' {
        return Err(err(
            ErrorKind::Syntax("a field must start at the beginning of a line"),
            i,
            None,
        ));
    }
    let mut fields: Vec<RawField> = Vec::new();
    let mut signed_start = None;
    let mut signature_keyword = None;
    let mut end = j;
    while i < j {
        let ks = i;
        if signed_start.is_none() {
            signed_start = Some(ks);
        }
        if b[i] == b'#' {
            while i < j && b[i] != b'\n' {
                i += 1;
            }
            // Skip the newline and any blank space up to the next field.
            while i < j && b[i].is_ascii_whitespace() {
                i += 1;
            }
            continue;
        }
        i = memchr::memchr(b':', &b[i..j]).map_or(j, |off| i + off);
        if i >= j {
            return Err(err(ErrorKind::MissingColon, ks, None));
        }
        let ke = i;
        let ts = i + 1;
        let field = match field_of(&b[ks..ke]) {
            Some(f) => f,
            None if b[ks..ke].contains(&b'\n') => {
                return Err(err(ErrorKind::MissingColon, ks, None))
            }
            None => return Err(err(ErrorKind::UnknownField, ks, None)),
        };
        // End of field: end of the assertion, or a newline followed by a
        // character that is neither white space nor '#'.
        let mut te = j;
        let mut k = ts;
        while let Some(off) = memchr::memchr(b'\n', &b[k..j]) {
            k += off;
            if k + 1 < j && !b[k + 1].is_ascii_whitespace() && b[k + 1] != b'#' {
                te = k;
                break;
            }
            k += 1;
        }
        if fields.iter().any(|f| f.field == field) {
            return Err(err(ErrorKind::DuplicateField, ks, Some(field)));
        }
        if field == Field::Version && !fields.is_empty() {
            return Err(err(ErrorKind::VersionNotFirst, ks, Some(field)));
        }
        fields.push(RawField {
            field,
            keyword: ks,
            value_start: ts,
            value_end: te,
        });
        i = if te < j { te + 1 } else { j };
        if field == Field::Signature {
            signature_keyword = Some(ks);
            end = te;
            break;
        }
    }
    if !fields.iter().any(|f| f.field == Field::Authorizer) {
        return Err(err(ErrorKind::MissingAuthorizer, chunk.start, None));
    }
    Ok(RawAssertion {
        fields,
        signed_start: signed_start.unwrap_or(chunk.start),
        signature_keyword,
        end,
    })
}

/// Tokens of field values.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// String literal (escapes processed).
    Str(String),
    /// Attribute or constant name.
    Ident(String),
    /// Integer literal.
    Int(i64),
    /// Float literal.
    Float(f64),
    /// `K-of` threshold (Licensees only).
    KOf(u32),
    /// `true`
    True,
    /// `false`
    False,
    /// Punctuation or operator.
    Op(&'static str),
}

/// A token with its absolute byte offset.
#[derive(Clone, Debug)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Absolute offset in the text.
    pub at: usize,
}

const OPS: [&str; 28] = [
    "&&", "||", "->", "~=", "==", "!=", "<=", ">=", "(", ")", "{", "}", ";", "!", "<", ">", "+",
    "-", "*", "/", "%", "^", ".", "$", "@", "&", ",", "=",
];

/// Lexes `text[start..end]`. `keypred` enables `K-of`.
pub fn lex(
    text: &str,
    start: usize,
    end: usize,
    field: Field,
    keypred: bool,
) -> Result<Vec<Token>, Error> {
    let b = text.as_bytes();
    let err = |k: ErrorKind, at: usize| Error::at(k, line_of(text, at), Some(field));
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        let c = b[i];
        if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < end && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let at = i;
        if c == b'"' {
            let (s, next) = lex_string(text, i + 1, end).map_err(|k| err(k, at))?;
            out.push(Token {
                tok: Tok::Str(s),
                at,
            });
            i = next;
            continue;
        }
        if c.is_ascii_digit() {
            let mut k = i;
            while k < end && b[k].is_ascii_digit() {
                k += 1;
            }
            if keypred && c != b'0' && text[k..end].starts_with("-of") {
                let n: u32 = text[i..k]
                    .parse()
                    .map_err(|_| err(ErrorKind::BadThreshold, at))?;
                out.push(Token {
                    tok: Tok::KOf(n),
                    at,
                });
                i = k + 3;
                continue;
            }
            if k + 1 < end && b[k] == b'.' && b[k + 1].is_ascii_digit() {
                let mut m = k + 1;
                while m < end && b[m].is_ascii_digit() {
                    m += 1;
                }
                let v: f64 = text[i..m]
                    .parse()
                    .map_err(|_| err(ErrorKind::BadNumber, at))?;
                out.push(Token {
                    tok: Tok::Float(v),
                    at,
                });
                i = m;
                continue;
            }
            let v: i64 = text[i..k]
                .parse()
                .map_err(|_| err(ErrorKind::BadNumber, at))?;
            out.push(Token {
                tok: Tok::Int(v),
                at,
            });
            i = k;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut k = i;
            while k < end && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                k += 1;
            }
            let word = &text[i..k];
            let tok = if word.eq_ignore_ascii_case("true") {
                Tok::True
            } else if word.eq_ignore_ascii_case("false") {
                Tok::False
            } else {
                Tok::Ident(word.into())
            };
            out.push(Token { tok, at });
            i = k;
            continue;
        }
        match OPS.iter().find(|op| text[i..end].starts_with(**op)) {
            Some(op) => {
                out.push(Token {
                    tok: Tok::Op(op),
                    at,
                });
                i += op.len();
            }
            None => return Err(err(ErrorKind::Syntax("unexpected character"), at)),
        }
    }
    Ok(out)
}

/// Lexes a string literal whose opening quote is just before `i`; returns
/// the unescaped value and the offset after the closing quote.
fn lex_string(text: &str, mut i: usize, end: usize) -> Result<(String, usize), ErrorKind> {
    let b = text.as_bytes();
    let mut s = String::new();
    let mut run = i;
    while i < end {
        // Skip plain characters quickly.
        i += memchr::memchr3(b'"', b'\\', b'\n', &b[i..end]).unwrap_or(end - i);
        if i >= end {
            break;
        }
        match b[i] {
            b'"' => {
                s.push_str(&text[run..i]);
                return Ok((s, i + 1));
            }
            b'\n' => return Err(ErrorKind::UnterminatedString),
            b'\\' => {
                s.push_str(&text[run..i]);
                i += 1;
                if i >= end {
                    return Err(ErrorKind::UnterminatedString);
                }
                let c = b[i];
                if c == b'\n' {
                    i += 1;
                    while i < end && b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                } else if let Some((v, adv)) = octal(&b[i..end]) {
                    if v >= 0x80 {
                        return Err(ErrorKind::Syntax("octal escape above \\177"));
                    }
                    s.push(char::from(v as u8));
                    i += adv;
                } else {
                    match c {
                        b'n' => s.push('\n'),
                        b't' => s.push('\t'),
                        b'r' => s.push('\r'),
                        b'f' => s.push('\x0c'),
                        _ => {
                            // Any other escaped character stands for itself;
                            // copy the whole (possibly multi-byte) character.
                            let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                            s.push_str(&text[i..i + ch_len]);
                            i += ch_len;
                            run = i;
                            continue;
                        }
                    }
                    i += 1;
                }
                run = i;
            }
            _ => i += 1,
        }
    }
    Err(ErrorKind::UnterminatedString)
}

/// libkeynote's octal escapes: `\0o`, `\0oo` or `\ooo` (first digit 1-7);
/// a zero value is not an escape.
fn octal(s: &[u8]) -> Option<(u32, usize)> {
    let is_oct = |i: usize| s.get(i).is_some_and(|c| (b'0'..=b'7').contains(c));
    let d = |i: usize| u32::from(s[i] - b'0');
    let (v, adv) = if s.first() == Some(&b'0') {
        if !is_oct(1) {
            return None;
        }
        if is_oct(2) {
            (d(1) * 8 + d(2), 3)
        } else {
            (d(1), 2)
        }
    } else if is_oct(0) && is_oct(1) && is_oct(2) {
        (d(0) * 64 + d(1) * 8 + d(2), 3)
    } else {
        return None;
    };
    if v == 0 {
        None
    } else {
        Some((v, adv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex_all(s: &str) -> Vec<Tok> {
        lex(s, 0, s.len(), Field::Conditions, false)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn string_escapes() {
        let t = lex_all(r#""a\n\t\"b\\c\101\012\.""#);
        assert_eq!(t, [Tok::Str("a\n\t\"b\\cA\n.".into())]);
        // Backslash-newline continues the string and eats leading blanks.
        let t = lex_all("\"abc\\\n      def\"");
        assert_eq!(t, [Tok::Str("abcdef".into())]);
        assert!(lex("\"abc", 0, 4, Field::Conditions, false).is_err());
        assert!(lex("\"a\nb\"", 0, 5, Field::Conditions, false).is_err());
    }

    #[test]
    fn numbers_operators_kof() {
        assert_eq!(
            lex_all("@x>=10&&&y<1.5->\"a\" # c\n"),
            [
                Tok::Op("@"),
                Tok::Ident("x".into()),
                Tok::Op(">="),
                Tok::Int(10),
                Tok::Op("&&"),
                Tok::Op("&"),
                Tok::Ident("y".into()),
                Tok::Op("<"),
                Tok::Float(1.5),
                Tok::Op("->"),
                Tok::Str("a".into()),
            ]
        );
        let t = lex("2-of(a,b)", 0, 9, Field::Licensees, true).unwrap();
        assert_eq!(t[0].tok, Tok::KOf(2));
    }

    #[test]
    fn fields_and_signed_range() {
        let text = "KeyNote-Version: 2\nAuthorizer: \"POLICY\"\n  # indented comment\nLicensees: \"a\"\nSignature: \"x\"\ntrailing";
        let ch = split_assertions(text);
        assert_eq!(ch.len(), 1);
        let raw = split_fields(text, ch[0]).unwrap();
        assert_eq!(raw.fields.len(), 4);
        assert_eq!(raw.signed_start, 0);
        assert_eq!(&text[raw.signature_keyword.unwrap()..][..10], "Signature:");
        assert_eq!(raw.fields[1].field, Field::Authorizer);
    }

    #[test]
    fn field_errors_have_lines() {
        let text = "Authorizer: \"a\"\nBogus: 1\n";
        let e = split_fields(text, split_assertions(text)[0]).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::UnknownField, 2));
        let text = "Authorizer: \"a\"\nauthorizer: \"b\"\n";
        let e = split_fields(text, split_assertions(text)[0]).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::DuplicateField, 2));
        let text = "Licensees: \"a\"\n";
        let e = split_fields(text, split_assertions(text)[0]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingAuthorizer);
        let text = "Authorizer: \"a\"\nKeyNote-Version: 2\n";
        let e = split_fields(text, split_assertions(text)[0]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::VersionNotFirst);
    }

    #[test]
    fn blank_lines_separate_assertions() {
        let text = "Authorizer: \"a\"\n\n\nAuthorizer: \"b\"\nLicensees: \"c\"\n";
        let ch = split_assertions(text);
        assert_eq!(ch.len(), 2);
        assert!(text[ch[1].start..ch[1].end].starts_with("Authorizer: \"b\""));
    }
}
