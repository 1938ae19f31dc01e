//! ESP transforms on `ring`: AES-GCM (RFC 4106), ChaCha20-Poly1305 (RFC 7634)
//! and AES-GMAC (RFC 4543, integrity only).
//!
//! Every transform uses an 8-byte explicit IV and a 16-byte ICV; the 12-byte
//! nonce is the 4-byte salt (the last 4 bytes of the keying material)
//! followed by the explicit IV. We send the 64-bit sequence number as the IV:
//! the SA stops before its sequence number wraps, so an IV never repeats under
//! a key (RFC 4106 section 3.1 allows a counter; a receiver just reads the IV
//! from the packet, so this interoperates with Linux's `seqiv`).

use ring::aead::{self, Aad, LessSafeKey, Nonce, Tag, UnboundKey};

use crate::wire::{HEADER_LEN, ICV_LEN, IV_LEN};

/// An ESP transform (IKEv2 transform type 1 identifier in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// AES-GCM with a 128-bit key and 16-byte ICV (ENCR_AES_GCM_16, 20).
    AesGcm128,
    /// AES-GCM with a 256-bit key and 16-byte ICV (ENCR_AES_GCM_16, 20).
    AesGcm256,
    /// ChaCha20-Poly1305 (ENCR_CHACHA20_POLY1305, 28).
    ChaCha20Poly1305,
    /// AES-GMAC with a 128-bit key: integrity only (ENCR_NULL_AUTH_AES_GMAC, 21).
    AesGmac128,
    /// AES-GMAC with a 256-bit key: integrity only (ENCR_NULL_AUTH_AES_GMAC, 21).
    AesGmac256,
}

/// Every algorithm, in a fixed order (handy for tests and benchmarks).
pub const ALL_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::AesGcm128,
    Algorithm::AesGcm256,
    Algorithm::ChaCha20Poly1305,
    Algorithm::AesGmac128,
    Algorithm::AesGmac256,
];

/// Length of the salt at the end of the keying material.
pub const SALT_LEN: usize = 4;

impl Algorithm {
    /// Length of the cipher key, without the salt.
    pub const fn key_len(self) -> usize {
        match self {
            Algorithm::AesGcm128 | Algorithm::AesGmac128 => 16,
            Algorithm::AesGcm256 | Algorithm::AesGmac256 | Algorithm::ChaCha20Poly1305 => 32,
        }
    }

    /// Length of the keying material: key followed by the 4-byte salt (the
    /// hex string Linux's `ip xfrm state ... aead NAME KEY 128` takes).
    pub const fn keymat_len(self) -> usize {
        self.key_len() + SALT_LEN
    }

    /// Whether the transform encrypts (false for GMAC, which only authenticates).
    pub const fn confidential(self) -> bool {
        !matches!(self, Algorithm::AesGmac128 | Algorithm::AesGmac256)
    }

    /// The name of the algorithm as Linux `ip xfrm` writes it.
    pub const fn linux_name(self) -> &'static str {
        match self {
            Algorithm::AesGcm128 | Algorithm::AesGcm256 => "rfc4106(gcm(aes))",
            Algorithm::ChaCha20Poly1305 => "rfc7539esp(chacha20,poly1305)",
            Algorithm::AesGmac128 | Algorithm::AesGmac256 => "rfc4543(gcm(aes))",
        }
    }

    /// Short name used in benchmarks and logs (`aes-gcm-128`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::AesGcm128 => "aes-gcm-128",
            Algorithm::AesGcm256 => "aes-gcm-256",
            Algorithm::ChaCha20Poly1305 => "chacha20-poly1305",
            Algorithm::AesGmac128 => "aes-gmac-128",
            Algorithm::AesGmac256 => "aes-gmac-256",
        }
    }

    pub(crate) fn ring_algorithm(self) -> &'static aead::Algorithm {
        match self {
            Algorithm::AesGcm128 | Algorithm::AesGmac128 => &aead::AES_128_GCM,
            Algorithm::AesGcm256 | Algorithm::AesGmac256 => &aead::AES_256_GCM,
            Algorithm::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

/// Error reading keying material written in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    /// A character that is not a hex digit.
    BadDigit,
    /// An odd number of hex digits.
    OddLength,
}

/// Parse keying material written as Linux `ip xfrm` does: hex digits with
/// an optional `0x` prefix (`0x0123...`).
pub fn keymat_from_hex(s: &str) -> Result<alloc::vec::Vec<u8>, HexError> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return Err(HexError::OddLength);
    }
    let digit = |c: u8| -> Result<u8, HexError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(HexError::BadDigit),
        }
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Error of a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// The keying material does not have [`Algorithm::keymat_len`] bytes.
    BadKeyLength {
        /// Expected length in bytes.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The ICV did not verify: the packet was forged, corrupted or keyed differently.
    IntegrityCheckFailed,
    /// The buffer is too short for the ESP packet it should hold.
    Truncated,
    /// ring refused to seal (the input is longer than the algorithm allows).
    SealFailed,
}

/// A keyed transform: a `ring` key and the salt.
pub struct Transform {
    algorithm: Algorithm,
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
}

impl core::fmt::Debug for Transform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.debug_struct("Transform")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Transform {
    /// Key a transform from keying material (`key || salt`).
    pub fn new(algorithm: Algorithm, keymat: &[u8]) -> Result<Transform, CryptoError> {
        if keymat.len() != algorithm.keymat_len() {
            return Err(CryptoError::BadKeyLength {
                expected: algorithm.keymat_len(),
                got: keymat.len(),
            });
        }
        let (key, salt) = keymat.split_at(algorithm.key_len());
        let unbound = UnboundKey::new(algorithm.ring_algorithm(), key).map_err(|_| {
            CryptoError::BadKeyLength {
                expected: algorithm.keymat_len(),
                got: keymat.len(),
            }
        })?;
        let mut s = [0u8; SALT_LEN];
        s.copy_from_slice(salt);
        Ok(Transform {
            algorithm,
            key: LessSafeKey::new(unbound),
            salt: s,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    #[inline]
    fn nonce(&self, iv: &[u8; IV_LEN]) -> Nonce {
        let mut n = [0u8; aead::NONCE_LEN];
        n[..SALT_LEN].copy_from_slice(&self.salt);
        n[SALT_LEN..].copy_from_slice(iv);
        Nonce::assume_unique_for_key(n)
    }

    /// Raw AEAD seal with the RFC 4106/7634 nonce (`salt || iv`) and a caller
    /// chosen AAD: the building block, exposed for test vectors.
    #[inline]
    pub fn seal_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; ICV_LEN], CryptoError> {
        self.key
            .seal_in_place_separate_tag(self.nonce(iv), Aad::from(aad), data)
            .map(tag_bytes)
            .map_err(|_| CryptoError::SealFailed)
    }

    /// Raw AEAD open, the inverse of [`Transform::seal_detached`]; `data_and_tag`
    /// is ciphertext followed by the 16-byte tag; on success the plaintext
    /// replaces the ciphertext.
    #[inline]
    pub fn open_detached(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        data_and_tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        if data_and_tag.len() < ICV_LEN {
            return Err(CryptoError::Truncated);
        }
        self.key
            .open_in_place(self.nonce(iv), Aad::from(aad), data_and_tag)
            .map(|_| ())
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }

    /// Protect an ESP packet in place. `buf[esp..]` is the whole ESP packet:
    /// header and IV already written, the clear payload and trailer, then 16
    /// bytes for the ICV. With ESN, `seq_hi` is the high half of the sequence
    /// number (authenticated, not sent). For GMAC with ESN, `esp` must be at
    /// least 4 (the 4 bytes before the ESP header are borrowed and restored).
    #[inline]
    pub fn seal_esp(
        &self,
        buf: &mut [u8],
        esp: usize,
        seq_hi: Option<u32>,
    ) -> Result<(), CryptoError> {
        let min = HEADER_LEN + IV_LEN + ICV_LEN;
        if buf.len() < esp.saturating_add(min) {
            return Err(CryptoError::Truncated);
        }
        let end = buf.len();
        if self.algorithm.confidential() {
            // Hot path: one split gives header + IV and the rest, with
            // fixed offsets from there on.
            let (head, rest) = buf[esp..]
                .split_first_chunk_mut::<{ HEADER_LEN + IV_LEN }>()
                .ok_or(CryptoError::Truncated)?;
            let (aad, n) = esp_aad(&head[..HEADER_LEN], seq_hi);
            let (data, icv) = rest
                .split_last_chunk_mut::<ICV_LEN>()
                .ok_or(CryptoError::Truncated)?;
            let tag = self
                .key
                .seal_in_place_separate_tag(self.nonce(&iv_of(head)), Aad::from(&aad[..n]), data)
                .map_err(|_| CryptoError::SealFailed)?;
            icv.copy_from_slice(tag.as_ref());
            return Ok(());
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&buf[esp + HEADER_LEN..esp + HEADER_LEN + IV_LEN]);
        let tag = {
            // RFC 4543: the AAD is SPI, (ESN high,) sequence number, IV and
            // the whole payload and trailer; nothing is encrypted.
            self.with_gmac_aad(buf, esp, seq_hi, |t, aad| {
                t.seal_detached(&iv, aad, &mut [])
            })??
        };
        buf[end - ICV_LEN..].copy_from_slice(&tag);
        Ok(())
    }

    /// Verify and decrypt an ESP packet in place (`buf[esp..]` is the whole
    /// ESP packet); on success the clear payload and trailer replace the
    /// protected data. Fails with [`CryptoError::IntegrityCheckFailed`] on any
    /// forgery, leaving no plaintext behind.
    #[inline]
    pub fn open_esp(
        &self,
        buf: &mut [u8],
        esp: usize,
        seq_hi: Option<u32>,
    ) -> Result<(), CryptoError> {
        let min = HEADER_LEN + IV_LEN + ICV_LEN;
        if buf.len() < esp.saturating_add(min) {
            return Err(CryptoError::Truncated);
        }
        let end = buf.len();
        if self.algorithm.confidential() {
            let (head, data) = buf[esp..]
                .split_first_chunk_mut::<{ HEADER_LEN + IV_LEN }>()
                .ok_or(CryptoError::Truncated)?;
            let (aad, n) = esp_aad(&head[..HEADER_LEN], seq_hi);
            return self.open_detached(&iv_of(head), &aad[..n], data);
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&buf[esp + HEADER_LEN..esp + HEADER_LEN + IV_LEN]);
        {
            let mut icv = [0u8; ICV_LEN];
            icv.copy_from_slice(&buf[end - ICV_LEN..]);
            self.with_gmac_aad(buf, esp, seq_hi, |t, aad| {
                t.open_detached(&iv, aad, &mut icv)
            })?
        }
    }

    /// Run `f` with the contiguous GMAC AAD: `SPI || [seq_hi] || seq || IV ||
    /// payload+trailer` (everything but the ICV).
    fn with_gmac_aad<R>(
        &self,
        buf: &mut [u8],
        esp: usize,
        seq_hi: Option<u32>,
        f: impl FnOnce(&Self, &[u8]) -> R,
    ) -> Result<R, CryptoError> {
        let end = buf.len() - ICV_LEN;
        match seq_hi {
            None => Ok(f(self, &buf[esp..end])),
            Some(hi) if esp >= 4 => {
                // Lay out SPI || seq_hi || seq contiguously by borrowing the
                // 4 bytes before the header, then put everything back.
                let mut saved = [0u8; 8];
                saved.copy_from_slice(&buf[esp - 4..esp + 4]);
                buf.copy_within(esp..esp + 4, esp - 4);
                buf[esp..esp + 4].copy_from_slice(&hi.to_be_bytes());
                let r = f(self, &buf[esp - 4..end]);
                buf[esp - 4..esp + 4].copy_from_slice(&saved);
                Ok(r)
            }
            Some(hi) => {
                // No room before the header: build the AAD in a heap buffer.
                let mut aad = alloc::vec::Vec::with_capacity(end - esp + 4);
                aad.extend_from_slice(&buf[esp..esp + 4]);
                aad.extend_from_slice(&hi.to_be_bytes());
                aad.extend_from_slice(&buf[esp + 4..end]);
                Ok(f(self, &aad))
            }
        }
    }
}

/// The ESP AAD of AEAD transforms: SPI || seq (8 bytes) or, with ESN,
/// SPI || seq_hi || seq (12 bytes), RFC 4106 section 5 / RFC 7634 section 2.1.
#[inline(always)]
fn esp_aad(header: &[u8], seq_hi: Option<u32>) -> ([u8; 12], usize) {
    let mut aad = [0u8; 12];
    match seq_hi {
        None => {
            aad[..8].copy_from_slice(&header[..8]);
            (aad, 8)
        }
        Some(hi) => {
            aad[..4].copy_from_slice(&header[..4]);
            aad[4..8].copy_from_slice(&hi.to_be_bytes());
            aad[8..12].copy_from_slice(&header[4..8]);
            (aad, 12)
        }
    }
}

/// The explicit IV of an ESP packet from its first 16 bytes (header, IV).
#[inline(always)]
fn iv_of(head: &[u8; HEADER_LEN + IV_LEN]) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&head[HEADER_LEN..]);
    iv
}

fn tag_bytes(tag: Tag) -> [u8; ICV_LEN] {
    let mut t = [0u8; ICV_LEN];
    t.copy_from_slice(tag.as_ref());
    t
}

#[cfg(test)]
mod test {
    use super::*;
    use alloc::vec::Vec;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|c| c.is_ascii_hexdigit()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(core::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4
    // (AES-128) and 16 (AES-256): IV cafebabefacedbaddecaf888. In RFC 4106
    // terms the salt is cafebabe and the explicit IV facedbaddecaf888.
    const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

    fn check_gcm(alg: Algorithm, key: &str, c: &str, t: &str) {
        let mut keymat = hex(key);
        keymat.extend_from_slice(&hex("cafebabe"));
        let tr = Transform::new(alg, &keymat).unwrap();
        let iv: [u8; 8] = hex("facedbaddecaf888").try_into().unwrap();
        let mut data = hex(GCM_P);
        let tag = tr.seal_detached(&iv, &hex(GCM_A), &mut data).unwrap();
        assert_eq!(data, hex(c));
        assert_eq!(&tag[..], &hex(t)[..]);
        data.extend_from_slice(&tag);
        tr.open_detached(&iv, &hex(GCM_A), &mut data).unwrap();
        let p = hex(GCM_P);
        assert_eq!(&data[..p.len()], &p[..]);
    }

    #[test]
    fn gcm_spec_test_case_4_aes128() {
        check_gcm(
            Algorithm::AesGcm128,
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        );
    }

    #[test]
    fn gcm_spec_test_case_16_aes256() {
        check_gcm(
            Algorithm::AesGcm256,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        );
    }

    // RFC 8439 section 2.8.2. In RFC 7634 terms the salt is 07000000 and the
    // explicit IV 4041424344454647.
    #[test]
    fn chacha20_poly1305_rfc8439_2_8_2() {
        let mut keymat = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        keymat.extend_from_slice(&hex("07000000"));
        let tr = Transform::new(Algorithm::ChaCha20Poly1305, &keymat).unwrap();
        let iv: [u8; 8] = hex("4041424344454647").try_into().unwrap();
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let mut data = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
        let tag = tr.seal_detached(&iv, &aad, &mut data).unwrap();
        assert_eq!(&data[..16], &hex("d31a8d34648e60db7b86afbc53ef7ec2")[..]);
        assert_eq!(&tag[..], &hex("1ae10b594f09e26a7e902ecbd0600691")[..]);
    }

    #[test]
    fn hex_keys() {
        assert_eq!(keymat_from_hex("0x0aFf"), Ok(alloc::vec![0x0a, 0xff]));
        assert_eq!(keymat_from_hex("0102"), Ok(alloc::vec![1, 2]));
        assert_eq!(keymat_from_hex("0x123"), Err(HexError::OddLength));
        assert_eq!(keymat_from_hex("zz"), Err(HexError::BadDigit));
    }

    #[test]
    fn bad_key_length_is_typed() {
        assert_eq!(
            Transform::new(Algorithm::AesGcm128, &[0u8; 16]).map(|_| ()),
            Err(CryptoError::BadKeyLength {
                expected: 20,
                got: 16
            })
        );
    }

    /// The ESP AAD construction, checked against an independent layout of
    /// the RFC definitions for every algorithm, with and without ESN.
    #[test]
    fn esp_seal_matches_rfc_layout() {
        for alg in ALL_ALGORITHMS {
            for esn in [None, Some(0x0102_0304u32)] {
                let keymat: Vec<u8> = (0..alg.keymat_len() as u8).collect();
                let tr = Transform::new(alg, &keymat).unwrap();
                // 4 bytes before the ESP packet, then SPI, seq, IV, 8 bytes data, ICV.
                let mut buf = [0u8; 4 + 8 + 8 + 8 + 16];
                buf[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
                buf[4..8].copy_from_slice(&0x1000u32.to_be_bytes());
                buf[8..12].copy_from_slice(&7u32.to_be_bytes());
                buf[12..20].copy_from_slice(&[9; 8]);
                buf[20..28].copy_from_slice(b"payload!");
                tr.seal_esp(&mut buf, 4, esn).unwrap();
                assert_eq!(&buf[..4], &[0xde, 0xad, 0xbe, 0xef]);
                // Independent computation.
                let mut aad = Vec::new();
                aad.extend_from_slice(&0x1000u32.to_be_bytes());
                if let Some(hi) = esn {
                    aad.extend_from_slice(&hi.to_be_bytes());
                }
                aad.extend_from_slice(&7u32.to_be_bytes());
                let mut data = b"payload!".to_vec();
                if !alg.confidential() {
                    aad.extend_from_slice(&[9; 8]);
                    aad.extend_from_slice(b"payload!");
                }
                let key = LessSafeKey::new(
                    UnboundKey::new(alg.ring_algorithm(), &keymat[..alg.key_len()]).unwrap(),
                );
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&keymat[alg.key_len()..]);
                nonce[4..].copy_from_slice(&[9; 8]);
                let tag = if alg.confidential() {
                    key.seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut data,
                    )
                    .unwrap()
                } else {
                    key.seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut [],
                    )
                    .unwrap()
                };
                assert_eq!(&buf[20..28], &data[..], "{alg:?} {esn:?}");
                assert_eq!(&buf[28..], tag.as_ref(), "{alg:?} {esn:?}");
                // Open restores the plaintext; any bit flip fails.
                let mut ok = buf;
                tr.open_esp(&mut ok, 4, esn).unwrap();
                assert_eq!(&ok[20..28], b"payload!");
                assert_eq!(&ok[..4], &[0xde, 0xad, 0xbe, 0xef]);
                for bit in [4 * 8, 9 * 8, 13 * 8, 21 * 8 + 3, 30 * 8] {
                    let mut bad = buf;
                    bad[bit / 8] ^= 1 << (bit % 8);
                    assert_eq!(
                        tr.open_esp(&mut bad, 4, esn),
                        Err(CryptoError::IntegrityCheckFailed)
                    );
                }
                // Wrong ESN high half fails.
                let mut bad = buf;
                let other = esn.map(|h| h + 1).or(Some(1));
                assert_eq!(
                    tr.open_esp(&mut bad, 4, other),
                    Err(CryptoError::IntegrityCheckFailed)
                );
                // No headroom: the heap fallback gives the same result.
                let mut tight = [0u8; 40];
                tight.copy_from_slice(&buf[4..]);
                tr.open_esp(&mut tight, 0, esn).unwrap();
                assert_eq!(&tight[16..24], b"payload!");
            }
        }
    }
}
