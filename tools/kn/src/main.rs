//! `kn`: a drop-in replacement for keynote(1) (libkeynote's command-line
//! tool), built on the `keynote` crate.
//!
//! ```text
//! kn keygen <AlgorithmName> <keysize> <PublicKeyFile> <PrivateKeyFile> [<print-offset>] [<print-length>]
//! kn sign [-v] <AlgorithmName> <AssertionFile> <PrivateKeyFile> [<print-offset>] [<print-length>]
//! kn sigver <AssertionFile>
//! kn verify [-h] -r <valuelist> -e <envfile> -l <localfile> -k <keyfile> [<assertionfile> ...]
//! ```
#![deny(unsafe_code)]

use std::io::Write;
use std::process::exit;

use keynote::{text, Encoding, KeyAlgorithm, PrivateKey, Query, Session, Status};

const KEY_PRINT_OFFSET: usize = 12;
const KEY_PRINT_LENGTH: usize = 50;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("keygen") => keygen(&args[1..]),
        Some("sign") => sign(&args[1..]),
        Some("sigver") => sigver(&args[1..]),
        Some("verify") => verify(&args[1..]),
        _ => {
            eprintln!(
                "Usage: {} {{keygen|sign|sigver|verify}} [arguments]",
                args.first().map_or("kn", |s| s)
            );
            1
        }
    };
    exit(code);
}

fn read(path: &str) -> Result<String, i32> {
    match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(s) => Ok(s),
            Err(_) => {
                eprintln!("{path}: not a text file (invalid UTF-8)");
                Err(1)
            }
        },
        Err(e) => {
            eprintln!("{path}: {e}");
            Err(1)
        }
    }
}

fn write_out(path: &str, data: &str) -> Result<(), i32> {
    if path == "-" {
        print!("{data}");
        return Ok(());
    }
    std::fs::write(path, data).map_err(|e| {
        eprintln!("{path}: {e}");
        255
    })
}

/// keynote(1) accepts an algorithm name without the trailing colon, with a
/// warning.
fn fix_colon(name: &str) -> String {
    if name.ends_with(':') {
        name.to_string()
    } else {
        eprintln!("Algorithm name [{name}] should be terminated with a colon, fixing.");
        format!("{name}:")
    }
}

fn parse_num(s: &str, what: &str) -> Result<i64, i32> {
    // atoi semantics are lax; we are strict and say why.
    s.trim().parse::<i64>().map_err(|_| {
        eprintln!("Erroneous value for {what} parameter.");
        1
    })
}

fn key_algorithm(name: &str) -> Option<(KeyAlgorithm, Encoding)> {
    let lower = name.to_ascii_lowercase();
    for alg in [
        KeyAlgorithm::Rsa,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::EcdsaP256,
    ] {
        for enc in [Encoding::Hex, Encoding::Base64] {
            if lower == alg.key_name(enc) {
                return Some((alg, enc));
            }
        }
    }
    None
}

fn keygen(args: &[String]) -> i32 {
    if !(5..=7).contains(&args.len()) {
        eprintln!("Arguments:");
        eprintln!("\t<AlgorithmName> <keysize> <PublicKeyFile> <PrivateKeyFile> [<print-offset>] [<print-length>]");
        return 0;
    }
    let algname = fix_colon(&args[1]);
    let begin = match args.get(5).map(|s| parse_num(s, "print-offset")) {
        Some(Ok(v)) if v >= 0 => v as usize,
        Some(Ok(_)) | Some(Err(_)) => {
            eprintln!("Erroneous value for print-offset parameter.");
            return 255;
        }
        None => KEY_PRINT_OFFSET,
    };
    let prlen = match args.get(6).map(|s| parse_num(s, "print-length")) {
        Some(Ok(v)) if v > 0 => v as usize,
        Some(Ok(_)) | Some(Err(_)) => {
            eprintln!("Erroneous value for print-length parameter.");
            return 255;
        }
        None => KEY_PRINT_LENGTH,
    };
    if algname.len() + 2 > prlen {
        eprintln!(
            "Parameter ``print-length'' should be larger than the length of AlgorithmName ({})",
            algname.len()
        );
        return 255;
    }
    let Some((alg, enc)) = key_algorithm(&algname) else {
        if algname.to_ascii_lowercase().starts_with("dsa-") {
            eprintln!("Refused algorithm [{algname}]: DSA keys are not supported (use rsa-, ed25519- or ecdsa-p256-)");
        } else {
            eprintln!("Unknown/unsupported algorithm [{algname}]");
        }
        return 255;
    };
    let bits = match parse_num(&args[2], "keysize") {
        Ok(v) if v > 0 => v as usize,
        _ => {
            eprintln!("Invalid specified keysize {}", args[2]);
            return 255;
        }
    };
    let rng = ring::rand::SystemRandom::new();
    let sk = match PrivateKey::generate(alg, bits, &rng) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("Key generation failed: {e} (RSA sizes are 1024 to 8192 bits)");
            return 255;
        }
    };
    let pk = match sk.public_key() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error encoding key: {e}");
            return 255;
        }
    };
    let public = text::format_key(&algname, &enc.encode(&pk.to_bytes()), begin, prlen);
    if let Err(c) = write_out(&args[3], &public) {
        return c;
    }
    let mut private = String::new();
    if args[3] == "-" && args[4] == "-" {
        private.push_str("===========================\n");
    }
    private.push_str(&text::format_key(
        &format!("private-{algname}"),
        &enc.encode(sk.to_bytes()),
        begin,
        prlen,
    ));
    if let Err(c) = write_out(&args[4], &private) {
        return c;
    }
    let _ = std::io::stdout().flush();
    0
}

fn sign(args: &[String]) -> i32 {
    if !(4..=7).contains(&args.len()) {
        eprintln!("Arguments:");
        eprintln!("\t[-v] <AlgorithmName> <AssertionFile> <PrivateKeyFile> [<print-offset>] [<print-length>]");
        return 1;
    }
    let flg = usize::from(args[1] == "-v");
    if args.len() < 4 + flg {
        eprintln!("Arguments:");
        eprintln!("\t[-v] <AlgorithmName> <AssertionFile> <PrivateKeyFile> [<print-offset>] [<print-length>]");
        return 1;
    }
    let mut begin = KEY_PRINT_OFFSET;
    let mut prlen = KEY_PRINT_LENGTH;
    if let Some(s) = args.get(4 + flg) {
        match parse_num(s, "print-offset") {
            Ok(v) if v >= 0 => begin = v as usize,
            _ => {
                eprintln!("Erroneous value for print-offset parameter.");
                return 1;
            }
        }
    }
    if let Some(s) = args.get(5 + flg) {
        match parse_num(s, "print-length") {
            Ok(v) if v > 0 => prlen = v as usize,
            _ => {
                eprintln!("Erroneous value for print-length parameter.");
                return 1;
            }
        }
    }
    let algname = fix_colon(&args[1 + flg]);
    let assertion = match read(&args[2 + flg]) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("Error: zero-sized assertion-file.");
            return 1;
        }
        Err(c) => return c,
    };
    let keyfile = match read(&args[3 + flg]) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("Illegal key-file size 0");
            return 1;
        }
        Err(c) => return c,
    };
    let rng = ring::rand::SystemRandom::new();
    let key = match text::parse_key_file(&keyfile).and_then(|k| PrivateKey::parse(&k, &rng)) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("Bad private key in {}: {e}", args[3 + flg]);
            return 1;
        }
    };
    let sig = match text::sign_assertion(&assertion, &algname, &key, &rng) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "Bad assertion or algorithm format, or unsupported algorithm while creating signature: {e}."
            );
            return 1;
        }
    };
    if flg == 1 {
        // Verify the new signature against the Authorizer, as keynote -v does.
        let mut full = assertion.clone();
        if let Some(pos) = signature_keyword(&full) {
            full.truncate(pos);
            full.push_str(&format!("Signature: \"{sig}\"\n"));
        }
        if !matches!(text::verify_assertion(&full), Ok(true)) {
            eprintln!("Bad assertion or algorithm format, or unsupported algorithm while creating signature.");
            return 1;
        }
    }
    print!("{}", text::format_key("", &sig, begin, prlen));
    0
}

/// Offset of the `Signature:` keyword of the first assertion.
fn signature_keyword(t: &str) -> Option<usize> {
    let chunk = *keynote::lex::split_assertions(t).first()?;
    keynote::lex::split_fields(t, chunk).ok()?.signature_keyword
}

fn sigver(args: &[String]) -> i32 {
    if args.len() != 2 {
        eprintln!("Arguments:");
        eprintln!("\t<AssertionFile>");
        return 0;
    }
    let t = match read(&args[1]) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("Illegal assertion-file size 0");
            return 255;
        }
        Err(_) => return 255,
    };
    match text::verify_assertion(&t) {
        Ok(true) => {
            println!("Signature verified.");
            0
        }
        Ok(false) => {
            println!("Signature did not verify!");
            0
        }
        Err(e) => {
            eprintln!("Syntax error while parsing the assertion: {e}.");
            255
        }
    }
}

fn verify_usage() {
    eprintln!("Arguments:");
    eprintln!("\t-h:             This message");
    eprintln!("\t-r <valuelist>: Comma separated, ordered return-value list");
    eprintln!("\t-e <filename>:  Environment settings");
    eprintln!("\t-l <filename>:  Trusted (local) assertion");
    eprintln!("\t-k <filename>:  File containing key");
    eprintln!("Followed by a list of:");
    eprintln!("\t<filename>:     Non-local assertion");
}

fn verify(args: &[String]) -> i32 {
    if args.len() == 1 {
        verify_usage();
        return 1;
    }
    let mut session = Session::new();
    let mut values: Option<Vec<String>> = None;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let (mut se, mut sl) = (false, false);
    let mut i = 1;
    // getopt("hqistl:e:k:r:"): options first, then assertion files.
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with('-') || a == "-" {
            break;
        }
        if a == "--" {
            i += 1;
            break;
        }
        let flag = a.as_bytes()[1];
        let takes_arg = matches!(flag, b'l' | b'e' | b'k' | b'r');
        let optarg = if takes_arg {
            if a.len() > 2 {
                a[2..].to_string()
            } else {
                i += 1;
                match args.get(i) {
                    Some(v) => v.clone(),
                    None => {
                        verify_usage();
                        return 1;
                    }
                }
            }
        } else {
            String::new()
        };
        match flag {
            b'h' => {
                verify_usage();
                return 0;
            }
            b'q' | b'i' | b's' | b't' => {}
            b'e' => {
                let t = match read(&optarg) {
                    Ok(t) => t,
                    Err(c) => return c,
                };
                match text::parse_environment(&t) {
                    Ok(mut e) => env.append(&mut e),
                    Err(e) => {
                        eprintln!(
                            "Syntax error in environment file <{optarg}>, line {}",
                            e.line
                        );
                        return 1;
                    }
                }
                se = true;
            }
            b'k' => {
                let t = match read(&optarg) {
                    Ok(t) => t,
                    Err(c) => return c,
                };
                match text::parse_key_file(&t) {
                    Ok(k) => keys.push(k),
                    Err(_) => {
                        eprintln!("Syntax error adding authorizer {optarg}");
                        return 1;
                    }
                }
            }
            b'r' => {
                if values.is_some() {
                    eprintln!("Do not define two sets of return values.");
                    return 1;
                }
                values = Some(optarg.split(',').map(String::from).collect());
            }
            b'l' => {
                let t = match read(&optarg) {
                    Ok(t) => t,
                    Err(c) => return c,
                };
                if let Err(e) = session.add_policy(&t) {
                    eprintln!("Error for assertion in file <{optarg}>, errno -2 ({e}).");
                }
                sl = true;
            }
            _ => {
                verify_usage();
                return 1;
            }
        }
        i += 1;
    }
    let Some(values) = values else {
        eprintln!("Should set return values before evaluations begin.");
        return 1;
    };
    if !se {
        eprintln!("Should set environment before evaluations begin.");
        return 1;
    }
    if keys.is_empty() {
        eprintln!("Should specify at least one action authorizer.");
        return 1;
    }
    if !sl {
        eprintln!("Should specify at least one trusted assertion (POLICY).");
        return 1;
    }
    // keynote(1) adds the credential files last to first.
    for f in args[i..].iter().rev() {
        let t = match read(f) {
            Ok(t) => t,
            Err(c) => return c,
        };
        if let Err(e) = session.add_credential(&t) {
            eprintln!("Error for assertion in file <{f}>, errno -2 ({e}).");
        }
    }
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let mut q = match Query::new(&refs) {
        Ok(q) => q,
        Err(_) => {
            println!("Query result = <uninitialized authorizers or all POLICY assertions are malformed!>");
            return 1;
        }
    };
    for (n, v) in &env {
        if q.set(n, v).is_err() {
            eprintln!("Syntax error in environment file: reserved attribute name {n}");
            return 1;
        }
    }
    for k in &keys {
        if let Err(e) = q.add_authorizer(k) {
            eprintln!("Syntax error adding authorizer ({e})");
            return 1;
        }
    }
    let verdict = session.check(&mut q);
    println!("Query result = {}", verdict.value());
    for id in session.ids() {
        if matches!(
            session.status(id),
            Some(Status::BadSignature) | Some(Status::Unsigned)
        ) {
            println!("Failed assertion {id} due to signature verification failure.");
        }
    }
    if std::env::var_os("KN_EXPLAIN").is_some() {
        for d in session.explain(&mut q).diagnostics {
            eprintln!("{d}");
        }
    }
    0
}
