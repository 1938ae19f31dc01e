//! `vetted-policy`: the administrator's tool for policy bundles.
//!
//! ```text
//! vetted-policy keygen KEYFILE           new Ed25519 admin key (KEYFILE, KEYFILE.pub)
//! vetted-policy build CONFIG KEYFILE OUT  sign CONFIG's bundle into OUT
//! vetted-policy verify BUNDLE PUBFILE    check a bundle and print what it holds
//! ```
//! Key files are hex text: the private key as a PKCS#8 document, the public
//! key as its 32 bytes.
#![deny(unsafe_code)]

mod config;

use policyrepo::Bundle;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::path::Path;
use std::process::ExitCode;

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| "not hex".to_string()))
        .collect()
}

fn read_hex(path: &str) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    from_hex(&text).map_err(|e| format!("{path}: {e}"))
}

fn keygen(path: &str) -> Result<(), String> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "key generation failed")?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "bad key")?;
    write_private(path, &to_hex(pkcs8.as_ref()))?;
    let pub_path = format!("{path}.pub");
    std::fs::write(&pub_path, to_hex(pair.public_key().as_ref()) + "\n")
        .map_err(|e| format!("{pub_path}: {e}"))?;
    println!("admin key written to {path}, public key to {pub_path}");
    Ok(())
}

fn write_private(path: &str, hex: &str) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| format!("{path}: {e}"))?;
    writeln!(f, "{hex}").map_err(|e| format!("{path}: {e}"))
}

fn build(config: &str, key: &str, out: &str) -> Result<(), String> {
    let bundle = config::load(Path::new(config)).map_err(|e| e.to_string())?;
    let pair = Ed25519KeyPair::from_pkcs8(&read_hex(key)?)
        .map_err(|_| format!("{key}: not an Ed25519 PKCS#8 key"))?;
    let signed = policyrepo::sign(&bundle, &pair);
    std::fs::write(out, &signed).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "{out}: bundle version {} for node {} signed ({} bytes)",
        bundle.version,
        bundle.node,
        signed.len()
    );
    Ok(())
}

fn summary(b: &Bundle) {
    println!("node {} version {}", b.node, b.version);
    println!("policy: {} assertion(s)", b.policy.len());
    println!(
        "default floor: {:?} {:?} [{}]",
        b.default_floor.service,
        b.default_floor.level,
        b.default_floor
            .algorithms
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for a in &b.apps {
        println!(
            "app {}: {} credential(s), ports {:?}, floor {:?} {:?}",
            a.pd,
            a.credentials.len(),
            a.ports,
            a.floor.service,
            a.floor.level
        );
    }
    for s in &b.sas {
        // ManualSa's Debug never prints keying material.
        println!("sa {s:?}");
    }
}

fn verify(bundle: &str, pubkey: &str) -> Result<(), String> {
    let signed = std::fs::read(bundle).map_err(|e| format!("{bundle}: {e}"))?;
    let b =
        policyrepo::verify(&signed, &read_hex(pubkey)?).map_err(|e| format!("{bundle}: {e}"))?;
    summary(&b);
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  vetted-policy keygen KEYFILE\n  vetted-policy build CONFIG KEYFILE OUT\n  vetted-policy verify BUNDLE PUBFILE"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["keygen", path] => keygen(path),
        ["build", config, key, out] => build(config, key, out),
        ["verify", bundle, pubkey] => verify(bundle, pubkey),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vetted-policy: {e}");
            ExitCode::FAILURE
        }
    }
}
