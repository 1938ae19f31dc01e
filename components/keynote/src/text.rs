//! File formats of keynote(1): key files, environment files, the wrapped
//! output of `keygen`/`sign`, and signing/verifying an assertion text.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{parse_sig_name, Principal, PrivateKey, Signature};
use crate::error::{Error, ErrorKind, Field};
use crate::lex::{self, Tok};

/// Reads a key file: one quoted string, possibly continued over lines with
/// a backslash, `#` comments allowed (keynote(1) `-k` files and private key
/// files).
pub fn parse_key_file(buf: &str) -> Result<String, Error> {
    let toks = lex::lex(buf, 0, buf.len(), Field::Authorizer, false)?;
    match toks.as_slice() {
        [t] => match &t.tok {
            Tok::Str(s) => Ok(s.clone()),
            _ => Err(Error::at(
                ErrorKind::Syntax("expected a quoted key"),
                lex::line_of(buf, t.at),
                None,
            )),
        },
        [] => Err(Error::at(ErrorKind::Empty, 1, None)),
        [_, t, ..] => Err(Error::at(
            ErrorKind::Syntax("more than one string in key file"),
            lex::line_of(buf, t.at),
            None,
        )),
    }
}

/// Reads an environment file (keynote(1) `-e`): lines `name = "value"`,
/// `#` comments.
pub fn parse_environment(buf: &str) -> Result<Vec<(String, String)>, Error> {
    let toks = lex::lex(buf, 0, buf.len(), Field::LocalConstants, false)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let line = lex::line_of(buf, toks[i].at);
        let bad = |what| Error::at(ErrorKind::Syntax(what), line, None);
        let name = match &toks[i].tok {
            Tok::Ident(n) => n.clone(),
            _ => return Err(bad("expected an attribute name")),
        };
        if !matches!(toks.get(i + 1).map(|t| &t.tok), Some(Tok::Op("="))) {
            return Err(bad("expected '='"));
        }
        let value = match toks.get(i + 2).map(|t| &t.tok) {
            Some(Tok::Str(s)) => s.clone(),
            _ => return Err(bad("expected a quoted value")),
        };
        out.push((name, value));
        i += 3;
    }
    Ok(out)
}

/// keynote(1)'s `print_key`: `start` spaces, a quote, `algname`, then `key`
/// wrapped with backslash-newline so that lines hold at most `length`
/// characters after the indentation, and a closing quote.
pub fn format_key(algname: &str, key: &str, start: usize, length: usize) -> String {
    let mut out = String::new();
    let pad = |out: &mut String| {
        for _ in 0..start {
            out.push(' ');
        }
    };
    pad(&mut out);
    out.push('"');
    out.push_str(algname);
    // Mirrors keynote's loop exactly: at the wrap point the character is
    // not consumed, and the column restarts at 1 for it.
    let chars: Vec<char> = key.chars().collect();
    let mut k = algname.chars().count() + 2;
    let mut i = 0;
    while i < chars.len() {
        if k == length {
            out.push_str("\\\n");
            pad(&mut out);
            k = 1;
            continue;
        }
        out.push(chars[i]);
        i += 1;
        k += 1;
    }
    out.push_str("\"\n");
    out
}

/// Signs an assertion as keynote(1) `sign` does: the text must contain a
/// `Signature:` field (its value is ignored); the signed bytes are the text
/// from the first field up to the `Signature:` keyword, followed by the
/// signature algorithm name `sig_name` (e.g. `sig-rsa-sha1-hex:`). Returns
/// the complete signature string (`sig-...:bits`).
pub fn sign_assertion(
    text: &str,
    sig_name: &str,
    key: &PrivateKey,
    rng: &dyn ring::rand::SecureRandom,
) -> Result<String, Error> {
    let (alg, enc, len) = parse_sig_name(sig_name)?;
    if len != sig_name.len() {
        return Err(Error::new(ErrorKind::Syntax(
            "signature algorithm name must end with ':'",
        )));
    }
    let (signed, authorizer) = signed_part(text)?;
    match authorizer {
        Principal::Key(k) if k.algorithm() == alg.key_algorithm() => {}
        Principal::Key(_) => {
            return Err(Error::at(
                ErrorKind::AlgorithmMismatch,
                0,
                Some(Field::Authorizer),
            ))
        }
        Principal::Opaque(_) => {
            return Err(Error::at(ErrorKind::NotSigned, 0, Some(Field::Authorizer)))
        }
    }
    if key.algorithm() != alg.key_algorithm() {
        return Err(Error::new(ErrorKind::AlgorithmMismatch));
    }
    let bits = key.sign(alg, &[signed.as_bytes(), sig_name.as_bytes()], rng)?;
    let mut s = String::from(sig_name);
    s.push_str(&enc.encode(&bits));
    Ok(s)
}

/// The signed text of the first assertion in `text` and its Authorizer.
fn signed_part(text: &str) -> Result<(&str, Principal), Error> {
    let chunk = *lex::split_assertions(text)
        .first()
        .ok_or_else(|| Error::at(ErrorKind::Empty, 1, None))?;
    let raw = lex::split_fields(text, chunk)?;
    let end = raw.signature_keyword.ok_or_else(|| {
        Error::at(
            ErrorKind::Syntax("no Signature field"),
            0,
            Some(Field::Signature),
        )
    })?;
    let mut session = crate::Session::new();
    let compiled_ids = session.add_policy(&text[chunk.start..end]);
    // Parse through the session to get the Authorizer with Local-Constants
    // applied (and to reject malformed assertions before signing).
    compiled_ids.map_err(|e| shift_line(e, text, chunk.start))?;
    let auth_text = session
        .ids()
        .next()
        .and_then(|id| session.authorizer(id))
        .map(String::from)
        .unwrap_or_default();
    let principal = Principal::parse(&auth_text)?;
    Ok((&text[raw.signed_start..end], principal))
}

fn shift_line(mut e: Error, text: &str, start: usize) -> Error {
    if e.line > 0 {
        e.line += lex::line_of(text, start) - 1;
    }
    e
}

/// Verifies the signature of the first assertion in `text` (keynote(1)
/// `sigver`). `Ok(false)` when the signature does not verify.
pub fn verify_assertion(text: &str) -> Result<bool, Error> {
    let chunk = *lex::split_assertions(text)
        .first()
        .ok_or_else(|| Error::at(ErrorKind::Empty, 1, None))?;
    let mut session = crate::Session::new();
    let ids = session
        .add_credential(&text[chunk.start..chunk.end])
        .map_err(|e| shift_line(e, text, chunk.start))?;
    let status = ids.first().and_then(|&id| session.status(id));
    match status {
        Some(crate::Status::Usable) => Ok(true),
        Some(crate::Status::BadSignature) => Ok(false),
        _ => Err(Error::at(ErrorKind::NotSigned, 0, Some(Field::Signature))),
    }
}

/// Parses a signature string (re-exported for tools).
pub fn parse_signature(text: &str) -> Result<Signature, Error> {
    Signature::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_with_continuations() {
        let f = "# my key\n            \"rsa-hex:3048\\\n            0241\"\n";
        assert_eq!(parse_key_file(f).unwrap(), "rsa-hex:30480241");
        assert!(parse_key_file("\"a\" \"b\"").is_err());
        assert!(parse_key_file("").is_err());
    }

    #[test]
    fn environment_file() {
        let env = parse_environment("# c\napp_domain = \"netconn\"\nport=\"80\" # x\n").unwrap();
        assert_eq!(
            env,
            [
                ("app_domain".into(), "netconn".into()),
                ("port".into(), "80".into())
            ]
        );
        assert!(parse_environment("a = b").is_err());
    }

    #[test]
    fn print_key_wrapping_matches_keynote() {
        // keynote's print_key with algname "ab:" (len 3), start 2, length 8:
        // first line holds 8-3-2 = 3 key chars, later lines 7.
        let s = format_key("ab:", "0123456789abcdefgh", 2, 8);
        assert_eq!(s, "  \"ab:012\\\n  3456789\\\n  abcdefg\\\n  h\"\n");
        // Round trip through the key-file reader.
        assert_eq!(parse_key_file(&s).unwrap(), "ab:0123456789abcdefgh");
    }
}
