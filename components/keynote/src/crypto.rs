//! Keys, principals and signatures.
//!
//! Text forms follow RFC 2792 and libkeynote: `<algorithm>-<encoding>:<bits>`
//! for public keys, `private-<algorithm>-<encoding>:<bits>` for private keys
//! and `sig-<algorithm>-<hash>-<encoding>:<bits>` for signatures, with
//! `<encoding>` either `hex` (lower-case on output, either case on input) or
//! `base64` (RFC 4648 with padding). Algorithm names are matched without
//! regard to case, as libkeynote does.
//!
//! | algorithm | public key bits | private key bits | signature names | signature bits |
//! |---|---|---|---|---|
//! | RSA (RFC 2792) | DER `RSAPublicKey` (PKCS#1) | DER `RSAPrivateKey` (PKCS#1) | `sig-rsa-sha1-hex:`, `sig-rsa-sha1-base64:` | PKCS#1 v1.5 over a DER OCTET STRING holding the SHA-1 digest (OpenSSL `RSA_sign_ASN1_OCTET_STRING`) |
//! | RSA | same `rsa-hex:` keys | same | `sig-rsa-sha256-hex:`, `sig-rsa-sha256-base64:` | PKCS#1 v1.5 with SHA-256 DigestInfo (RFC 8017), 2048..8192-bit keys |
//! | Ed25519 | `ed25519-hex:` 32-byte public key (RFC 8032) | PKCS#8 v1/v2 document | `sig-ed25519-hex:`, `sig-ed25519-base64:` | 64-byte signature over the signed text |
//! | ECDSA P-256 | `ecdsa-p256-hex:` 65-byte uncompressed SEC1 point | PKCS#8 document | `sig-ecdsa-p256-sha256-hex:`, `sig-ecdsa-p256-sha256-base64:` | ASN.1 DER `ECDSA-Sig-Value` over SHA-256 |
//!
//! DSA (`dsa-*`, `sig-dsa-*`), MD5 (`sig-rsa-md5-*`) and X.509 (`x509-*`,
//! `sig-x509-*`) are refused with [`ErrorKind::RefusedAlgorithm`].
//! Any other principal text (e.g. `POLICY`, `"alice"`) is an opaque name,
//! compared byte for byte.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use ring::signature as rsig;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use sha1::Digest;

use crate::error::{Error, ErrorKind};

/// ASCII encoding of key and signature bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal (lower case on output).
    Hex,
    /// Base64 with padding.
    Base64,
}

impl Encoding {
    /// Encodes bytes.
    pub fn encode(self, data: &[u8]) -> String {
        match self {
            Encoding::Hex => hex_encode(data),
            Encoding::Base64 => base64_encode(data),
        }
    }
    /// Decodes text, strictly.
    pub fn decode(self, text: &str) -> Result<Vec<u8>, Error> {
        match self {
            Encoding::Hex => hex_decode(text),
            Encoding::Base64 => base64_decode(text),
        }
    }
}

/// Public-key algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA (RFC 2792 `rsa-hex:` / `rsa-base64:`).
    Rsa,
    /// Ed25519 (`ed25519-hex:` / `ed25519-base64:`).
    Ed25519,
    /// ECDSA on P-256 (`ecdsa-p256-hex:` / `ecdsa-p256-base64:`).
    EcdsaP256,
}

impl KeyAlgorithm {
    /// The `<alg>-<enc>:` name of public keys.
    pub fn key_name(self, enc: Encoding) -> String {
        self.key_prefix(enc).into()
    }

    /// The `<alg>-<enc>:` name of public keys, without allocating.
    pub fn key_prefix(self, enc: Encoding) -> &'static str {
        match (self, enc) {
            (KeyAlgorithm::Rsa, Encoding::Hex) => "rsa-hex:",
            (KeyAlgorithm::Rsa, Encoding::Base64) => "rsa-base64:",
            (KeyAlgorithm::Ed25519, Encoding::Hex) => "ed25519-hex:",
            (KeyAlgorithm::Ed25519, Encoding::Base64) => "ed25519-base64:",
            (KeyAlgorithm::EcdsaP256, Encoding::Hex) => "ecdsa-p256-hex:",
            (KeyAlgorithm::EcdsaP256, Encoding::Base64) => "ecdsa-p256-base64:",
        }
    }
}

/// Signature algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigAlgorithm {
    /// libkeynote's RSA: PKCS#1 v1.5 over a DER OCTET STRING of SHA-1.
    RsaSha1,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RsaSha256,
    /// Ed25519.
    Ed25519,
    /// ECDSA P-256 with SHA-256, DER signature.
    EcdsaP256Sha256,
}

impl SigAlgorithm {
    /// The key algorithm this signature algorithm needs.
    pub fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            SigAlgorithm::RsaSha1 | SigAlgorithm::RsaSha256 => KeyAlgorithm::Rsa,
            SigAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
            SigAlgorithm::EcdsaP256Sha256 => KeyAlgorithm::EcdsaP256,
        }
    }
    /// The `sig-...-<enc>:` name, colon included.
    pub fn name(self, enc: Encoding) -> String {
        self.prefix(enc).into()
    }

    /// The `sig-...-<enc>:` name, without allocating.
    pub fn prefix(self, enc: Encoding) -> &'static str {
        match (self, enc) {
            (SigAlgorithm::RsaSha1, Encoding::Hex) => "sig-rsa-sha1-hex:",
            (SigAlgorithm::RsaSha1, Encoding::Base64) => "sig-rsa-sha1-base64:",
            (SigAlgorithm::RsaSha256, Encoding::Hex) => "sig-rsa-sha256-hex:",
            (SigAlgorithm::RsaSha256, Encoding::Base64) => "sig-rsa-sha256-base64:",
            (SigAlgorithm::Ed25519, Encoding::Hex) => "sig-ed25519-hex:",
            (SigAlgorithm::Ed25519, Encoding::Base64) => "sig-ed25519-base64:",
            (SigAlgorithm::EcdsaP256Sha256, Encoding::Hex) => "sig-ecdsa-p256-sha256-hex:",
            (SigAlgorithm::EcdsaP256Sha256, Encoding::Base64) => "sig-ecdsa-p256-sha256-base64:",
        }
    }
}

const ALL_SIGS: [SigAlgorithm; 4] = [
    SigAlgorithm::RsaSha1,
    SigAlgorithm::RsaSha256,
    SigAlgorithm::Ed25519,
    SigAlgorithm::EcdsaP256Sha256,
];
const ALL_KEYS: [KeyAlgorithm; 3] = [
    KeyAlgorithm::Rsa,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::EcdsaP256,
];
const REFUSED_KEY_PREFIXES: [&str; 4] = ["dsa-hex:", "dsa-base64:", "x509-hex:", "x509-base64:"];
const REFUSED_SIG_PREFIXES: [&str; 6] = [
    "sig-dsa-sha1-hex:",
    "sig-dsa-sha1-base64:",
    "sig-rsa-md5-hex:",
    "sig-rsa-md5-base64:",
    "sig-x509-sha1-hex:",
    "sig-x509-sha1-base64:",
];

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// An RSA public key in decoded form.
#[derive(Clone, Debug)]
pub struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    der: Vec<u8>,
}

/// A decoded public key. Equality is on the canonical form (the key's
/// mathematical value), not on its text.
#[derive(Clone, Debug)]
pub enum PublicKey {
    /// RSA modulus and exponent.
    Rsa(Box<RsaKey>),
    /// Ed25519 public key.
    Ed25519([u8; 32]),
    /// Uncompressed P-256 point.
    EcdsaP256(Box<[u8; 65]>),
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}
impl Eq for PublicKey {}

impl PublicKey {
    /// The key algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PublicKey::Rsa(_) => KeyAlgorithm::Rsa,
            PublicKey::Ed25519(_) => KeyAlgorithm::Ed25519,
            PublicKey::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
        }
    }

    /// The canonical byte form used for comparisons and lookups.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            PublicKey::Rsa(k) => {
                out.push(1);
                out.extend_from_slice(&(k.n.len() as u32).to_be_bytes());
                out.extend_from_slice(&k.n);
                out.extend_from_slice(&k.e);
            }
            PublicKey::Ed25519(k) => {
                out.push(2);
                out.extend_from_slice(k);
            }
            PublicKey::EcdsaP256(k) => {
                out.push(3);
                out.extend_from_slice(&k[..]);
            }
        }
        out
    }

    /// The key bits as stored in the text form (DER RSAPublicKey, raw
    /// Ed25519 key, SEC1 point).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Rsa(k) => k.der.clone(),
            PublicKey::Ed25519(k) => k.to_vec(),
            PublicKey::EcdsaP256(k) => k.to_vec(),
        }
    }

    /// Text form, e.g. `rsa-hex:3082...`.
    pub fn to_text(&self, enc: Encoding) -> String {
        let mut s = self.algorithm().key_name(enc);
        s.push_str(&enc.encode(&self.to_bytes()));
        s
    }

    /// Decodes key bits of a known algorithm.
    pub fn from_bytes(alg: KeyAlgorithm, bits: &[u8]) -> Result<Self, Error> {
        let bad = || Error::new(ErrorKind::BadKey);
        match alg {
            KeyAlgorithm::Rsa => {
                let (n, e) = parse_rsa_public_der(bits).ok_or_else(bad)?;
                // 1024..=8192-bit moduli, odd exponent >= 3 (no 512-bit toys).
                let nbits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
                if !(1024..=8192).contains(&nbits)
                    || e.is_empty()
                    || e.len() > 8
                    || e[e.len() - 1] & 1 == 0
                    || e == [1]
                {
                    return Err(bad());
                }
                let der = rsa_public_der(&n, &e);
                Ok(PublicKey::Rsa(Box::new(RsaKey { n, e, der })))
            }
            KeyAlgorithm::Ed25519 => {
                let k: [u8; 32] = bits.try_into().map_err(|_| bad())?;
                Ok(PublicKey::Ed25519(k))
            }
            KeyAlgorithm::EcdsaP256 => {
                let k: [u8; 65] = bits.try_into().map_err(|_| bad())?;
                if k[0] != 4 {
                    return Err(bad());
                }
                Ok(PublicKey::EcdsaP256(Box::new(k)))
            }
        }
    }

    /// Verifies `sig` over the concatenation of `parts` with `alg`.
    /// Returns false on any mismatch (wrong key type included).
    pub fn verify(&self, alg: SigAlgorithm, parts: &[&[u8]], sig: &[u8]) -> bool {
        if alg.key_algorithm() != self.algorithm() {
            return false;
        }
        match (alg, self) {
            (SigAlgorithm::RsaSha1, PublicKey::Rsa(k)) => {
                let payload = sha1_octet_string(parts);
                let n = rsa::BigUint::from_bytes_be(&k.n);
                let e = rsa::BigUint::from_bytes_be(&k.e);
                match rsa::RsaPublicKey::new_with_max_size(n, e, 8192) {
                    Ok(key) => key
                        .verify(rsa::Pkcs1v15Sign::new_unprefixed(), &payload, sig)
                        .is_ok(),
                    Err(_) => false,
                }
            }
            (SigAlgorithm::RsaSha256, PublicKey::Rsa(k)) => {
                let msg = concat(parts);
                rsig::UnparsedPublicKey::new(&rsig::RSA_PKCS1_2048_8192_SHA256, &k.der)
                    .verify(&msg, sig)
                    .is_ok()
            }
            (SigAlgorithm::Ed25519, PublicKey::Ed25519(k)) => {
                let msg = concat(parts);
                rsig::UnparsedPublicKey::new(&rsig::ED25519, &k[..])
                    .verify(&msg, sig)
                    .is_ok()
            }
            (SigAlgorithm::EcdsaP256Sha256, PublicKey::EcdsaP256(k)) => {
                let msg = concat(parts);
                rsig::UnparsedPublicKey::new(&rsig::ECDSA_P256_SHA256_ASN1, &k[..])
                    .verify(&msg, sig)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// Reads a DER length at `d[*i..]`.
fn der_len(d: &[u8], i: &mut usize) -> Option<usize> {
    let first = *d.get(*i)?;
    *i += 1;
    if first < 0x80 {
        return Some(usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 3 {
        return None;
    }
    let mut len = 0usize;
    for _ in 0..n {
        len = (len << 8) | usize::from(*d.get(*i)?);
        *i += 1;
    }
    if len < 0x80 {
        return None; // not minimal
    }
    Some(len)
}

/// Reads a DER INTEGER that must be positive; returns its magnitude
/// without leading zeros.
fn der_uint<'d>(d: &'d [u8], i: &mut usize) -> Option<&'d [u8]> {
    if *d.get(*i)? != 0x02 {
        return None;
    }
    *i += 1;
    let len = der_len(d, i)?;
    let v = d.get(*i..i.checked_add(len)?)?;
    *i += len;
    let first = *v.first()?;
    if first & 0x80 != 0 {
        return None; // negative
    }
    if first == 0 && v.len() > 1 && v[1] & 0x80 == 0 {
        return None; // not minimal
    }
    let start = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    Some(&v[start..])
}

/// Parses DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn parse_rsa_public_der(d: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut i = 0;
    if *d.first()? != 0x30 {
        return None;
    }
    i += 1;
    let len = der_len(d, &mut i)?;
    if i + len != d.len() {
        return None;
    }
    let n = der_uint(d, &mut i)?.to_vec();
    let e = der_uint(d, &mut i)?.to_vec();
    if i != d.len() || n.is_empty() {
        return None;
    }
    Some((n, e))
}

fn der_push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x10000 {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

fn der_push_uint(out: &mut Vec<u8>, v: &[u8]) {
    let pad = v.first().is_some_and(|b| b & 0x80 != 0);
    out.push(0x02);
    der_push_len(out, v.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// Canonical DER `RSAPublicKey` from magnitudes.
fn rsa_public_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    der_push_uint(&mut body, n);
    der_push_uint(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    der_push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// DER `OCTET STRING` holding the SHA-1 digest of `parts`: the 22 bytes that
/// OpenSSL's `RSA_sign_ASN1_OCTET_STRING` pads with PKCS#1 v1.5 type 1.
pub fn sha1_octet_string(parts: &[&[u8]]) -> [u8; 22] {
    let mut h = sha1::Sha1::new();
    for p in parts {
        h.update(p);
    }
    let d = h.finalize();
    let mut out = [0u8; 22];
    out[0] = 0x04;
    out[1] = 0x14;
    out[2..].copy_from_slice(&d);
    out
}

/// What a principal string turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An opaque name such as `POLICY`, compared as a string.
    Opaque(Box<str>),
    /// A cryptographic key.
    Key(PublicKey),
}

impl Principal {
    /// Decodes a principal identifier. Unknown algorithm prefixes give an
    /// opaque principal (RFC 2704 section 5.2); refused ones are an error.
    pub fn parse(text: &str) -> Result<Self, Error> {
        for p in REFUSED_KEY_PREFIXES {
            if starts_with_ci(text, p) {
                return Err(Error::new(ErrorKind::RefusedAlgorithm));
            }
        }
        for alg in ALL_KEYS {
            for enc in [Encoding::Hex, Encoding::Base64] {
                let name = alg.key_prefix(enc);
                if starts_with_ci(text, name) {
                    let bits = enc.decode(&text[name.len()..])?;
                    return Ok(Principal::Key(PublicKey::from_bytes(alg, &bits)?));
                }
            }
        }
        Ok(Principal::Opaque(text.into()))
    }

    /// Canonical bytes: equal principals have equal canonical bytes.
    pub fn canonical(&self) -> Vec<u8> {
        match self {
            Principal::Opaque(s) => {
                let mut v = Vec::with_capacity(s.len() + 1);
                v.push(0);
                v.extend_from_slice(s.as_bytes());
                v
            }
            Principal::Key(k) => k.canonical(),
        }
    }
}

/// A parsed signature string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The algorithm.
    pub algorithm: SigAlgorithm,
    /// The `sig-...:` prefix exactly as written (it is part of the signed data).
    pub name: String,
    /// The decoded signature bits.
    pub bits: Vec<u8>,
}

impl Signature {
    /// Parses `sig-<alg>-<enc>:<bits>`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (algorithm, enc, len) = parse_sig_name(text)?;
        let bits = enc.decode(&text[len..])?;
        Ok(Signature {
            algorithm,
            name: text[..len].into(),
            bits,
        })
    }
}

/// Parses a signature algorithm name (with its colon) at the start of
/// `text`; returns the algorithm, encoding and the name's length.
pub fn parse_sig_name(text: &str) -> Result<(SigAlgorithm, Encoding, usize), Error> {
    for p in REFUSED_SIG_PREFIXES {
        if starts_with_ci(text, p) {
            return Err(Error::new(ErrorKind::RefusedAlgorithm));
        }
    }
    for alg in ALL_SIGS {
        for enc in [Encoding::Hex, Encoding::Base64] {
            let name = alg.prefix(enc);
            if starts_with_ci(text, name) {
                return Ok((alg, enc, name.len()));
            }
        }
    }
    Err(Error::new(ErrorKind::UnknownAlgorithm))
}

/// Adapts ring's random source to the `rand_core` traits the RSA crate uses.
struct RingRng<'a>(&'a dyn ring::rand::SecureRandom);

impl rsa::rand_core::RngCore for RingRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // A failing system RNG cannot be reported through this trait; fail
        // loudly rather than produce a key or blinding from zeros.
        if self.0.fill(dest).is_err() {
            panic!("system random number generator failed");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rsa::rand_core::CryptoRng for RingRng<'_> {}

/// A private key able to sign assertions.
pub enum PrivateKey {
    /// RSA (signs `sig-rsa-sha1-*` and `sig-rsa-sha256-*`).
    Rsa {
        /// The RSA crate's key (legacy SHA-1 OCTET STRING form).
        key: Box<rsa::RsaPrivateKey>,
        /// DER RSAPrivateKey.
        der: Vec<u8>,
    },
    /// Ed25519 from a PKCS#8 document.
    Ed25519 {
        /// ring's key pair.
        pair: Box<rsig::Ed25519KeyPair>,
        /// The PKCS#8 document.
        pkcs8: Vec<u8>,
    },
    /// ECDSA P-256 from a PKCS#8 document.
    EcdsaP256 {
        /// ring's key pair.
        pair: Box<rsig::EcdsaKeyPair>,
        /// The PKCS#8 document.
        pkcs8: Vec<u8>,
    },
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({:?}, ..)", self.algorithm())
    }
}

impl PrivateKey {
    /// The key algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PrivateKey::Rsa { .. } => KeyAlgorithm::Rsa,
            PrivateKey::Ed25519 { .. } => KeyAlgorithm::Ed25519,
            PrivateKey::EcdsaP256 { .. } => KeyAlgorithm::EcdsaP256,
        }
    }

    /// Generates a key. `bits` is the RSA modulus size (1024..=8192) and is
    /// ignored for the elliptic-curve algorithms.
    pub fn generate(
        alg: KeyAlgorithm,
        bits: usize,
        rng: &dyn ring::rand::SecureRandom,
    ) -> Result<Self, Error> {
        let fail = || Error::new(ErrorKind::SignFailed);
        match alg {
            KeyAlgorithm::Rsa => {
                if !(1024..=8192).contains(&bits) {
                    return Err(Error::new(ErrorKind::BadKey));
                }
                let key = rsa::RsaPrivateKey::new(&mut RingRng(rng), bits).map_err(|_| fail())?;
                let der = key.to_pkcs1_der().map_err(|_| fail())?.as_bytes().to_vec();
                Ok(PrivateKey::Rsa {
                    key: Box::new(key),
                    der,
                })
            }
            KeyAlgorithm::Ed25519 => {
                let doc = rsig::Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| fail())?;
                Self::from_bytes(alg, doc.as_ref(), rng)
            }
            KeyAlgorithm::EcdsaP256 => {
                let doc =
                    rsig::EcdsaKeyPair::generate_pkcs8(&rsig::ECDSA_P256_SHA256_ASN1_SIGNING, rng)
                        .map_err(|_| fail())?;
                Self::from_bytes(alg, doc.as_ref(), rng)
            }
        }
    }

    /// Decodes private key bits (DER RSAPrivateKey, or PKCS#8). `rng` is
    /// used by ring to check ECDSA key pairs.
    pub fn from_bytes(
        alg: KeyAlgorithm,
        bits: &[u8],
        rng: &dyn ring::rand::SecureRandom,
    ) -> Result<Self, Error> {
        let bad = || Error::new(ErrorKind::BadKey);
        match alg {
            KeyAlgorithm::Rsa => {
                let key = rsa::RsaPrivateKey::from_pkcs1_der(bits).map_err(|_| bad())?;
                key.validate().map_err(|_| bad())?;
                Ok(PrivateKey::Rsa {
                    key: Box::new(key),
                    der: bits.to_vec(),
                })
            }
            KeyAlgorithm::Ed25519 => {
                let pair =
                    rsig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(bits).map_err(|_| bad())?;
                Ok(PrivateKey::Ed25519 {
                    pair: Box::new(pair),
                    pkcs8: bits.to_vec(),
                })
            }
            KeyAlgorithm::EcdsaP256 => {
                let pair = rsig::EcdsaKeyPair::from_pkcs8(
                    &rsig::ECDSA_P256_SHA256_ASN1_SIGNING,
                    bits,
                    rng,
                )
                .map_err(|_| bad())?;
                Ok(PrivateKey::EcdsaP256 {
                    pair: Box::new(pair),
                    pkcs8: bits.to_vec(),
                })
            }
        }
    }

    /// Parses `private-<alg>-<enc>:<bits>`.
    pub fn parse(text: &str, rng: &dyn ring::rand::SecureRandom) -> Result<Self, Error> {
        let rest = if starts_with_ci(text, "private-") {
            &text[8..]
        } else {
            return Err(Error::new(ErrorKind::UnknownAlgorithm));
        };
        for p in REFUSED_KEY_PREFIXES {
            if starts_with_ci(rest, p) {
                return Err(Error::new(ErrorKind::RefusedAlgorithm));
            }
        }
        for alg in ALL_KEYS {
            for enc in [Encoding::Hex, Encoding::Base64] {
                let name = alg.key_prefix(enc);
                if starts_with_ci(rest, name) {
                    let bits = enc.decode(&rest[name.len()..])?;
                    return Self::from_bytes(alg, &bits, rng);
                }
            }
        }
        Err(Error::new(ErrorKind::UnknownAlgorithm))
    }

    /// The private key bits (DER RSAPrivateKey or PKCS#8).
    pub fn to_bytes(&self) -> &[u8] {
        match self {
            PrivateKey::Rsa { der, .. } => der,
            PrivateKey::Ed25519 { pkcs8, .. } => pkcs8,
            PrivateKey::EcdsaP256 { pkcs8, .. } => pkcs8,
        }
    }

    /// Text form `private-<alg>-<enc>:<bits>`.
    pub fn to_text(&self, enc: Encoding) -> String {
        let mut s = String::from("private-");
        s.push_str(&self.algorithm().key_name(enc));
        s.push_str(&enc.encode(self.to_bytes()));
        s
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        match self {
            PrivateKey::Rsa { key, .. } => {
                let der = key
                    .to_public_key()
                    .to_pkcs1_der()
                    .map_err(|_| Error::new(ErrorKind::BadKey))?;
                PublicKey::from_bytes(KeyAlgorithm::Rsa, der.as_bytes())
            }
            PrivateKey::Ed25519 { pair, .. } => {
                use rsig::KeyPair;
                PublicKey::from_bytes(KeyAlgorithm::Ed25519, pair.public_key().as_ref())
            }
            PrivateKey::EcdsaP256 { pair, .. } => {
                use rsig::KeyPair;
                PublicKey::from_bytes(KeyAlgorithm::EcdsaP256, pair.public_key().as_ref())
            }
        }
    }

    /// Signs the concatenation of `parts`.
    pub fn sign(
        &self,
        alg: SigAlgorithm,
        parts: &[&[u8]],
        rng: &dyn ring::rand::SecureRandom,
    ) -> Result<Vec<u8>, Error> {
        let fail = || Error::new(ErrorKind::SignFailed);
        if alg.key_algorithm() != self.algorithm() {
            return Err(Error::new(ErrorKind::AlgorithmMismatch));
        }
        match (alg, self) {
            (SigAlgorithm::RsaSha1, PrivateKey::Rsa { key, .. }) => {
                let payload = sha1_octet_string(parts);
                key.sign_with_rng(
                    &mut RingRng(rng),
                    rsa::Pkcs1v15Sign::new_unprefixed(),
                    &payload,
                )
                .map_err(|_| fail())
            }
            (SigAlgorithm::RsaSha256, PrivateKey::Rsa { der, .. }) => {
                let pair = rsig::RsaKeyPair::from_der(der).map_err(|_| fail())?;
                let mut sig = alloc::vec![0u8; pair.public().modulus_len()];
                pair.sign(&rsig::RSA_PKCS1_SHA256, rng, &concat(parts), &mut sig)
                    .map_err(|_| fail())?;
                Ok(sig)
            }
            (SigAlgorithm::Ed25519, PrivateKey::Ed25519 { pair, .. }) => {
                Ok(pair.sign(&concat(parts)).as_ref().to_vec())
            }
            (SigAlgorithm::EcdsaP256Sha256, PrivateKey::EcdsaP256 { pair, .. }) => pair
                .sign(rng, &concat(parts))
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| fail()),
            _ => Err(Error::new(ErrorKind::AlgorithmMismatch)),
        }
    }
}

/// Lower-case hex.
pub fn hex_encode(data: &[u8]) -> String {
    const T: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(T[(b >> 4) as usize] as char);
        s.push(T[(b & 15) as usize] as char);
    }
    s
}

static HEX_VAL: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Strict hex decoding (either case, even length).
pub fn hex_decode(text: &str) -> Result<Vec<u8>, Error> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(Error::new(ErrorKind::BadEncoding));
    }
    // One pass, no per-byte capacity checks: invalid digits map to 0xff
    // and are detected once at the end.
    let mut out = alloc::vec![0u8; b.len() / 2];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = HEX_VAL[usize::from(pair[0])];
        let lo = HEX_VAL[usize::from(pair[1])];
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    if bad & 0xf0 != 0 {
        return Err(Error::new(ErrorKind::BadEncoding));
    }
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        s.push(B64[(n >> 18) as usize & 63] as char);
        s.push(B64[(n >> 12) as usize & 63] as char);
        s.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

/// Strict base64 decoding (padding required, no whitespace).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, Error> {
    let b = text.as_bytes();
    let bad = || Error::new(ErrorKind::BadEncoding);
    if !b.len().is_multiple_of(4) {
        return Err(bad());
    }
    let val = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let chunks = b.len() / 4;
    for (i, q) in b.chunks_exact(4).enumerate() {
        let last = i + 1 == chunks;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(bad());
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c).ok_or_else(bad)?;
        }
        n <<= 6 * pad as u32;
        out.push((n >> 16) as u8);
        if pad < 2 {
            out.push((n >> 8) as u8);
        }
        if pad < 1 {
            out.push(n as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_strictness() {
        assert_eq!(hex_encode(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff").unwrap(), [0, 0xab, 0xff]);
        assert!(hex_decode("0").is_err());
        assert!(hex_decode("zz").is_err());
    }

    #[test]
    fn hex_decode_agrees_with_per_digit_reference() {
        // Every byte value at every place of a 16-digit string (both word
        // lanes and the table tail), against a simple reference.
        fn reference(t: &[u8]) -> Option<Vec<u8>> {
            let d = |c: u8| (c as char).to_digit(16);
            t.chunks(2)
                .map(|p| Some((d(p[0])? * 16 + d(p[1])?) as u8))
                .collect()
        }
        let base = b"0123456789abcDEF01";
        for len in [2, 8, 10, 16, 18] {
            for at in 0..len {
                for c in 0..=255u8 {
                    let mut t = base[..len].to_vec();
                    t[at] = c;
                    let got = core::str::from_utf8(&t).ok().map(|s| hex_decode(s).ok());
                    if let Some(got) = got {
                        assert_eq!(got, reference(&t), "{t:?}");
                    }
                }
            }
        }
        assert_eq!(
            hex_decode("00ff7F80a0B0c9Dd").unwrap(),
            [0, 0xff, 0x7f, 0x80, 0xa0, 0xb0, 0xc9, 0xdd]
        );
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 section 10 test vectors.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
        assert!(base64_decode("Zm9").is_err());
        assert!(base64_decode("Zg==Zg==").is_err());
        assert!(base64_decode("Z===").is_err());
        assert!(base64_decode("Zm9*").is_err());
    }

    #[test]
    fn refused_and_opaque_principals() {
        assert_eq!(
            Principal::parse("dsa-hex:3081de").unwrap_err().kind,
            ErrorKind::RefusedAlgorithm
        );
        assert_eq!(
            Principal::parse("DSA-BASE64:AAAA").unwrap_err().kind,
            ErrorKind::RefusedAlgorithm
        );
        assert_eq!(
            parse_sig_name("sig-rsa-md5-hex:00").unwrap_err().kind,
            ErrorKind::RefusedAlgorithm
        );
        assert_eq!(
            parse_sig_name("sig-dsa-sha1-base64:00").unwrap_err().kind,
            ErrorKind::RefusedAlgorithm
        );
        assert_eq!(
            Principal::parse("POLICY").unwrap(),
            Principal::Opaque("POLICY".into())
        );
        assert_eq!(
            Principal::parse("rsa-hex:00").unwrap_err().kind,
            ErrorKind::BadKey
        );
        assert_eq!(
            Principal::parse("ed25519-hex:0g").unwrap_err().kind,
            ErrorKind::BadEncoding
        );
    }

    #[test]
    fn ed25519_and_ecdsa_sign_verify() {
        let rng = ring::rand::SystemRandom::new();
        for (alg, sig) in [
            (KeyAlgorithm::Ed25519, SigAlgorithm::Ed25519),
            (KeyAlgorithm::EcdsaP256, SigAlgorithm::EcdsaP256Sha256),
        ] {
            let sk = PrivateKey::generate(alg, 0, &rng).unwrap();
            let text = sk.to_text(Encoding::Base64);
            let sk2 = PrivateKey::parse(&text, &rng).unwrap();
            let pk = sk2.public_key().unwrap();
            let s = sk.sign(sig, &[b"hello ", b"world"], &rng).unwrap();
            assert!(pk.verify(sig, &[b"hello world"], &s));
            assert!(!pk.verify(sig, &[b"hello worle"], &s));
            let pk_text = pk.to_text(Encoding::Hex);
            assert_eq!(
                Principal::parse(&pk_text).unwrap(),
                Principal::Key(pk.clone())
            );
            // The same key in another encoding, or upper case, is the same principal.
            let upper = pk_text.to_uppercase();
            assert_eq!(
                Principal::parse(&upper).unwrap(),
                Principal::parse(&pk.to_text(Encoding::Base64)).unwrap()
            );
        }
    }
}
