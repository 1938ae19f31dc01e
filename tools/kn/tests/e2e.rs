//! End-to-end tests of `kn` on real files, and the byte-compatibility of
//! `sig-rsa-sha1-hex:` with libkeynote (OpenSSL `RSA_sign_ASN1_OCTET_STRING`)
//! proven against the `openssl` command at test time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn kn() -> &'static str {
    env!("CARGO_BIN_EXE_kn")
}

struct Dir(PathBuf);
impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("kn-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn p(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
    fn write(&self, f: &str, s: &str) -> PathBuf {
        let p = self.p(f);
        std::fs::write(&p, s).unwrap();
        p
    }
    fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.p(f)).unwrap()
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Dir, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(kn())
        .current_dir(&dir.0)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The key text inside a key file written by `kn keygen` (quotes and
/// continuations removed).
fn key_text(file: &str) -> String {
    keynote::text::parse_key_file(file).unwrap()
}

/// Signs `body` (which must end with a newline) with `kn sign` and returns
/// the signed assertion: body + "Signature:" + kn's output, as keynote(1)
/// users do with `cat`.
fn kn_sign(dir: &Dir, name: &str, body: &str, alg: &str, privkey: &str) -> String {
    let unsigned = format!("{body}Signature:\n");
    dir.write(&format!("{name}.unsigned"), &unsigned);
    let (code, out, err) = run(
        dir,
        &["sign", "-v", alg, &format!("{name}.unsigned"), privkey],
    );
    assert_eq!(code, 0, "kn sign failed: {err}");
    let signed = format!("{unsigned}{out}");
    dir.write(name, &signed);
    signed
}

#[test]
fn keygen_sign_sigver_verify_round_trip_for_every_algorithm() {
    let dir = Dir::new("roundtrip");
    for (keyalg, bits, sigalg) in [
        ("ed25519-hex:", "256", "sig-ed25519-hex:"),
        ("ed25519-base64:", "256", "sig-ed25519-base64:"),
        ("ecdsa-p256-hex:", "256", "sig-ecdsa-p256-sha256-hex:"),
        ("rsa-hex:", "1024", "sig-rsa-sha1-hex:"),
        ("rsa-base64:", "1024", "sig-rsa-sha1-base64:"),
        ("rsa-hex:", "2048", "sig-rsa-sha256-hex:"),
    ] {
        let (code, _, err) = run(&dir, &["keygen", keyalg, bits, "ca.pub", "ca.priv"]);
        assert_eq!(code, 0, "{keyalg}: {err}");
        let ca = key_text(&dir.read("ca.pub"));
        assert!(ca.starts_with(keyalg), "{ca}");
        assert!(key_text(&dir.read("ca.priv")).starts_with(&format!("private-{keyalg}")));

        // POLICY trusts the CA key (given as the key file's multi-line text).
        let policy = format!(
            "Authorizer: \"POLICY\"\nLicensees:\n{}Conditions: app_domain == \"netconn\" -> \"ALLOW\";\n",
            dir.read("ca.pub")
        );
        dir.write("policy", &policy);
        let body = format!(
            "KeyNote-Version: 2\nAuthorizer: \"{ca}\"\nLicensees: \"app-1\"\n\
             Conditions: @dst_port == 443 && dst_host ~= \"\\\\.example\\\\.com$\";\n"
        );
        kn_sign(&dir, "cred", &body, sigalg, "ca.priv");
        let (code, out, _) = run(&dir, &["sigver", "cred"]);
        assert_eq!(
            (code, out.as_str()),
            (0, "Signature verified.\n"),
            "{sigalg}"
        );

        dir.write(
            "env",
            "app_domain = \"netconn\"\ndst_port = \"443\"\ndst_host = \"db.example.com\"\n",
        );
        dir.write("app.key", "\"app-1\"\n");
        let args = [
            "verify",
            "-r",
            "DENY,ALLOW",
            "-e",
            "env",
            "-l",
            "policy",
            "-k",
            "app.key",
            "cred",
        ];
        let (code, out, err) = run(&dir, &args);
        assert_eq!(
            (code, out.as_str()),
            (0, "Query result = ALLOW\n"),
            "{sigalg}: {err}"
        );

        // Change one attribute: the credential's condition fails.
        dir.write(
            "env",
            "app_domain = \"netconn\"\ndst_port = \"80\"\ndst_host = \"db.example.com\"\n",
        );
        let (_, out, _) = run(&dir, &args);
        assert_eq!(out, "Query result = DENY\n");

        // Tamper with the signed text: sigver and verify both notice.
        let signed = dir.read("cred");
        dir.write("cred", &signed.replace("app-1", "app-2"));
        let (_, out, _) = run(&dir, &["sigver", "cred"]);
        assert_eq!(out, "Signature did not verify!\n", "{sigalg}");
        dir.write("app.key", "\"app-2\"\n");
        dir.write(
            "env",
            "app_domain = \"netconn\"\ndst_port = \"443\"\ndst_host = \"db.example.com\"\n",
        );
        let (_, out, _) = run(&dir, &args);
        assert_eq!(
            out, "Query result = DENY\nFailed assertion 1 due to signature verification failure.\n",
            "{sigalg}"
        );
    }
}

#[test]
fn verify_argument_checks_and_outputs_like_keynote() {
    let dir = Dir::new("args");
    dir.write(
        "policy",
        "Authorizer: \"POLICY\"\nLicensees: \"k\"\nConditions: a == \"1\" -> \"yes\";\n",
    );
    dir.write("env", "a = \"1\"\n");
    dir.write("k.key", "\"k\"\n");
    let (_, out, _) = run(
        &dir,
        &[
            "verify", "-r", "no,yes", "-e", "env", "-l", "policy", "-k", "k.key",
        ],
    );
    assert_eq!(out, "Query result = yes\n");
    // Attached option arguments (getopt style).
    let (_, out, _) = run(
        &dir,
        &["verify", "-rno,maybe,yes", "-eenv", "-lpolicy", "-kk.key"],
    );
    assert_eq!(out, "Query result = yes\n");
    let (code, _, err) = run(
        &dir,
        &["verify", "-e", "env", "-l", "policy", "-k", "k.key"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Should set return values before evaluations begin."));
    let (code, _, err) = run(
        &dir,
        &["verify", "-r", "a,b", "-l", "policy", "-k", "k.key"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Should set environment before evaluations begin."));
    let (code, _, err) = run(&dir, &["verify", "-r", "a,b", "-e", "env", "-l", "policy"]);
    assert_eq!(code, 1);
    assert!(err.contains("Should specify at least one action authorizer."));
    let (code, _, err) = run(&dir, &["verify", "-r", "a,b", "-e", "env", "-k", "k.key"]);
    assert_eq!(code, 1);
    assert!(err.contains("Should specify at least one trusted assertion (POLICY)."));
    dir.write("badenv", "a = b\n");
    let (code, _, err) = run(
        &dir,
        &[
            "verify", "-r", "a,b", "-e", "badenv", "-l", "policy", "-k", "k.key",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("Syntax error in environment file <badenv>, line 1"),
        "{err}"
    );
    // A malformed local assertion is reported and skipped.
    dir.write("broken", "Authorizer: \"POLICY\"\nConditions: a == ;\n");
    let (code, out, err) = run(
        &dir,
        &[
            "verify", "-r", "no,yes", "-e", "env", "-l", "broken", "-l", "policy", "-k", "k.key",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "Query result = yes\n"));
    assert!(
        err.contains("Error for assertion in file <broken>"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    // DSA is refused by keygen with a clear message.
    let (code, _, err) = run(&dir, &["keygen", "dsa-hex:", "1024", "p", "s"]);
    assert_ne!(code, 0);
    assert!(err.contains("DSA"), "{err}");
}

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP: openssl not found; the RSA-SHA1 byte-compatibility cross-check needs it (apt install openssl)");
    }
    ok
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// libkeynote signs `sig-rsa-sha1-hex:` as OpenSSL's
/// `RSA_sign_ASN1_OCTET_STRING(SHA1(text up to "Signature:" || "sig-rsa-sha1-hex:"))`:
/// PKCS#1 v1.5 type-1 padding around the DER `04 14 <digest>`. We build that
/// with the openssl command line (`pkeyutl -sign` without a digest pads raw
/// input exactly so) and require `kn` to produce the same bytes (PKCS#1 v1.5
/// is deterministic), to verify OpenSSL's signature, and OpenSSL to recover
/// the OCTET STRING from ours.
#[test]
fn rsa_sha1_is_byte_compatible_with_openssl_octet_string_signing() {
    if !have_openssl() {
        return;
    }
    let dir = Dir::new("openssl");
    let d = &dir.0;
    openssl(d, &["genrsa", "-traditional", "-out", "k.pem", "2048"]);
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "k.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "k.der",
        ],
    );
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "k.pem",
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            "pub.der",
        ],
    );
    openssl(d, &["rsa", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    let priv_hex = hex(&std::fs::read(dir.p("k.der")).unwrap());
    let pub_hex = hex(&std::fs::read(dir.p("pub.der")).unwrap());
    // keynote(1) key files: quoted, possibly wrapped.
    dir.write(
        "k.priv",
        &keynote::text::format_key("private-rsa-hex:", &priv_hex, 12, 50),
    );

    let body = format!(
        "KeyNote-Version: 2\n# a comment is signed too\nAuthorizer: \"rsa-hex:{pub_hex}\"\n\
         Licensees: \"app\"\nConditions: app_domain == \"netconn\";\n"
    );
    let signed = kn_sign(&dir, "cred", &body, "sig-rsa-sha1-hex:", "k.priv");
    let kn_sig =
        keynote::text::parse_key_file(&signed[signed.find("Signature:").unwrap() + 10..]).unwrap();
    let kn_sig = kn_sig
        .strip_prefix("sig-rsa-sha1-hex:")
        .unwrap()
        .to_string();

    // The bytes libkeynote hashes: the text up to the Signature keyword,
    // then the algorithm name.
    let mut data = body.clone().into_bytes();
    data.extend_from_slice(b"sig-rsa-sha1-hex:");
    std::fs::write(dir.p("data"), &data).unwrap();
    let digest = openssl(d, &["dgst", "-sha1", "-binary", "data"]);
    assert_eq!(digest.len(), 20);
    let mut octet = vec![0x04, 0x14];
    octet.extend_from_slice(&digest);
    std::fs::write(dir.p("octet"), &octet).unwrap();
    let ossl_sig = openssl(
        d,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "k.pem",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
            "-in",
            "octet",
        ],
    );
    assert_eq!(ossl_sig.len(), 256);
    assert_eq!(
        kn_sig,
        hex(&ossl_sig),
        "kn and OpenSSL disagree on the RSA-SHA1 signature bytes"
    );

    // OpenSSL recovers exactly the DER OCTET STRING from kn's signature.
    std::fs::write(
        dir.p("knsig"),
        keynote::crypto::hex_decode(&kn_sig).unwrap(),
    )
    .unwrap();
    let recovered = openssl(
        d,
        &[
            "pkeyutl",
            "-verifyrecover",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
            "-in",
            "knsig",
        ],
    );
    assert_eq!(recovered, octet);

    // A credential signed by OpenSSL alone (base64 form) verifies in kn.
    let b64 = keynote::crypto::base64_encode(&ossl_sig);
    let mut data64 = body.clone().into_bytes();
    data64.extend_from_slice(b"sig-rsa-sha1-base64:");
    std::fs::write(dir.p("data64"), &data64).unwrap();
    let digest64 = openssl(d, &["dgst", "-sha1", "-binary", "data64"]);
    let mut octet64 = vec![0x04, 0x14];
    octet64.extend_from_slice(&digest64);
    std::fs::write(dir.p("octet64"), &octet64).unwrap();
    let sig64 = openssl(
        d,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "k.pem",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
            "-in",
            "octet64",
        ],
    );
    let _ = b64;
    dir.write(
        "cred64",
        &format!(
            "{body}Signature: \"sig-rsa-sha1-base64:{}\"\n",
            keynote::crypto::base64_encode(&sig64)
        ),
    );
    let (_, out, _) = run(&dir, &["sigver", "cred64"]);
    assert_eq!(out, "Signature verified.\n");
    // And a DigestInfo-style signature (what RSA_sign would make) is NOT
    // accepted as sig-rsa-sha1: the forms must not be confused.
    let digestinfo_sig = openssl(d, &["dgst", "-sha1", "-sign", "k.pem", "data64"]);
    dir.write(
        "cred64di",
        &format!(
            "{body}Signature: \"sig-rsa-sha1-base64:{}\"\n",
            keynote::crypto::base64_encode(&digestinfo_sig)
        ),
    );
    let (_, out, _) = run(&dir, &["sigver", "cred64di"]);
    assert_eq!(out, "Signature did not verify!\n");

    // The OpenSSL key in libkeynote's private-key format also makes
    // sig-rsa-sha256 signatures that OpenSSL verifies.
    let body2 = format!("Authorizer: \"rsa-hex:{pub_hex}\"\nLicensees: \"x\"\n");
    let signed2 = kn_sign(&dir, "cred2", &body2, "sig-rsa-sha256-hex:", "k.priv");
    let s2 = keynote::text::parse_key_file(&signed2[signed2.find("Signature:").unwrap() + 10..])
        .unwrap();
    let s2 = s2.strip_prefix("sig-rsa-sha256-hex:").unwrap();
    std::fs::write(dir.p("sig2"), keynote::crypto::hex_decode(s2).unwrap()).unwrap();
    let mut data2 = body2.into_bytes();
    data2.extend_from_slice(b"sig-rsa-sha256-hex:");
    std::fs::write(dir.p("data2"), &data2).unwrap();
    let out = openssl(
        d,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig2",
            "data2",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK");
}
