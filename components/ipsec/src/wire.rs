//! ESP wire format (RFC 4303 section 2), in smoltcp's `Packet`/`Repr` style.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                IV (8 bytes for every transform here)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~              Payload (encrypted, or clear for GMAC)           ~
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |     Padding (0-255 bytes)                     |
//! +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Pad Length   | Next Header   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Integrity Check Value (16 bytes for every transform)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`Packet`] is the whole ESP packet (header, IV, protected data, ICV) with
//! the IV and ICV lengths of the transform; [`Repr`] is its clear header.
//! [`Trailer`] is the end of the *decrypted* data (padding, pad length, next
//! header), with the RFC 4303 default padding check (1, 2, 3, ...).

use core::fmt;

/// Length of the ESP header (SPI and sequence number).
pub const HEADER_LEN: usize = 8;
/// Length of the explicit IV of every transform we implement (RFC 4106, 4543, 7634).
pub const IV_LEN: usize = 8;
/// Length of the ICV of every transform we implement.
pub const ICV_LEN: usize = 16;
/// Length of the pad-length and next-header bytes.
pub const TRAILER_LEN: usize = 2;

/// Error of the ESP wire layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header, IV, trailer and ICV need.
    Truncated,
    /// The padding bytes are not 1, 2, 3, ... or the pad length exceeds the data.
    BadPadding,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "truncated ESP packet"),
            Error::BadPadding => write!(f, "bad ESP padding"),
        }
    }
}

/// Result of the ESP wire layer.
pub type Result<T> = core::result::Result<T, Error>;

mod field {
    /// A byte range of the packet.
    pub type Field = core::ops::Range<usize>;

    pub const SPI: Field = 0..4;
    pub const SEQUENCE_NUMBER: Field = 4..8;
    pub const IV: Field = 8..16;
    pub const PAYLOAD_START: usize = IV.end;
}

/// A read/write wrapper around an ESP packet buffer (8-byte IV, 16-byte ICV).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Imbue a raw octet buffer with ESP packet structure, without checks.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Shorthand for [`Packet::new_unchecked`] followed by [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensure that no accessor panics: the buffer must hold the header, the IV,
    /// the 2 trailer bytes and the ICV.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN + IV_LEN + TRAILER_LEN + ICV_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Consume the packet, returning the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Security Parameters Index.
    pub fn spi(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SPI])
    }

    /// The (low 32 bits of the) sequence number.
    pub fn sequence_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQUENCE_NUMBER])
    }

    /// The explicit IV.
    pub fn iv(&self) -> [u8; IV_LEN] {
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&self.buffer.as_ref()[field::IV]);
        iv
    }

    /// The protected data: payload, padding, pad length and next header
    /// (encrypted unless the transform is integrity-only).
    pub fn protected(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        &data[field::PAYLOAD_START..data.len() - ICV_LEN]
    }

    /// The Integrity Check Value.
    pub fn icv(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        &data[data.len() - ICV_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the Security Parameters Index.
    pub fn set_spi(&mut self, value: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the (low 32 bits of the) sequence number.
    pub fn set_sequence_number(&mut self, value: u32) {
        self.buffer.as_mut()[field::SEQUENCE_NUMBER].copy_from_slice(&value.to_be_bytes());
    }

    /// Set the explicit IV.
    pub fn set_iv(&mut self, iv: &[u8; IV_LEN]) {
        self.buffer.as_mut()[field::IV].copy_from_slice(iv);
    }

    /// Set SPI, sequence number and IV at once (one bounds check: the
    /// per-packet path).
    #[inline(always)]
    pub fn set_header(&mut self, spi: u32, sequence_number: u32, iv: &[u8; IV_LEN]) {
        let h = &mut self.buffer.as_mut()[..field::PAYLOAD_START];
        h[field::SPI].copy_from_slice(&spi.to_be_bytes());
        h[field::SEQUENCE_NUMBER].copy_from_slice(&sequence_number.to_be_bytes());
        h[field::IV].copy_from_slice(iv);
    }

    /// The protected data, mutable.
    pub fn protected_mut(&mut self) -> &mut [u8] {
        let data = self.buffer.as_mut();
        let end = data.len() - ICV_LEN;
        &mut data[field::PAYLOAD_START..end]
    }

    /// The Integrity Check Value, mutable.
    pub fn icv_mut(&mut self) -> &mut [u8] {
        let data = self.buffer.as_mut();
        let start = data.len() - ICV_LEN;
        &mut data[start..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The clear ESP header: what can be read before any cryptography.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Repr {
    /// Security Parameters Index.
    pub spi: u32,
    /// Low 32 bits of the sequence number.
    pub sequence_number: u32,
    /// Explicit IV.
    pub iv: [u8; IV_LEN],
    /// Length of the protected data (payload, padding, pad length, next header).
    pub protected_len: usize,
}

impl Repr {
    /// Parse an ESP packet and return a high-level representation.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            spi: packet.spi(),
            sequence_number: packet.sequence_number(),
            iv: packet.iv(),
            protected_len: packet.protected().len(),
        })
    }

    /// Length of the whole ESP packet this representation describes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + IV_LEN + self.protected_len + ICV_LEN
    }

    /// Emit the header and IV into a packet buffer of [`Repr::buffer_len`] bytes
    /// (the protected data and ICV are the transform's job).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_spi(self.spi);
        packet.set_sequence_number(self.sequence_number);
        packet.set_iv(&self.iv);
    }
}

/// The trailer at the end of decrypted ESP data.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Trailer {
    /// Length of the upper-layer payload (the data before the padding).
    pub payload_len: usize,
    /// Number of padding bytes.
    pub pad_len: u8,
    /// Next header: IP protocol number of the payload (4/41 in tunnel mode).
    pub next_header: u8,
}

impl Trailer {
    /// Parse the end of decrypted data, checking the RFC 4303 default padding
    /// (bytes 1, 2, 3, ... up to the pad length).
    #[inline(always)]
    pub fn parse(plain: &[u8]) -> Result<Trailer> {
        if plain.len() < TRAILER_LEN {
            return Err(Error::Truncated);
        }
        let next_header = plain[plain.len() - 1];
        let pad_len = plain[plain.len() - 2];
        let body = plain.len() - TRAILER_LEN;
        let pad = usize::from(pad_len);
        if pad > body {
            return Err(Error::BadPadding);
        }
        let padding = &plain[body - pad..body];
        // Constant-time with respect to the content is not needed: this runs
        // after the ICV check, on data the peer authenticated.
        for (i, b) in padding.iter().enumerate() {
            if usize::from(*b) != i + 1 {
                return Err(Error::BadPadding);
            }
        }
        Ok(Trailer {
            payload_len: body - pad,
            pad_len,
            next_header,
        })
    }

    /// The trailer for a payload of `payload_len` bytes, padded so that payload,
    /// padding and the 2 trailer bytes are a multiple of 4 (RFC 4106, 7634).
    pub const fn for_payload(payload_len: usize, next_header: u8) -> Trailer {
        let pad_len = (4 - (payload_len + TRAILER_LEN) % 4) % 4;
        Trailer {
            payload_len,
            pad_len: pad_len as u8,
            next_header,
        }
    }

    /// Length of payload, padding and the 2 trailer bytes.
    pub const fn buffer_len(&self) -> usize {
        self.payload_len + self.pad_len as usize + TRAILER_LEN
    }

    /// Write padding, pad length and next header after the payload; `plain`
    /// is [`Trailer::buffer_len`] bytes whose first `payload_len` are the payload.
    #[inline(always)]
    pub fn emit(&self, plain: &mut [u8]) {
        let pad = usize::from(self.pad_len);
        let tail = &mut plain[self.payload_len..self.payload_len + pad + TRAILER_LEN];
        for (i, b) in tail[..pad].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        tail[pad] = self.pad_len;
        tail[pad + 1] = self.next_header;
    }
}

pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod test {
    use super::*;

    // SPI 0x00000102, seq 5, IV 0x0a..0x11, 4 bytes of protected data, ICV 0xf0..
    static PACKET_BYTES: [u8; 44] = [
        0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
        0x11, 0xaa, 0xbb, 0x02, 0x11, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
        0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    fn bytes() -> &'static [u8] {
        &PACKET_BYTES[..36]
    }

    fn packet_repr() -> Repr {
        Repr {
            spi: 0x0102,
            sequence_number: 5,
            iv: [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11],
            protected_len: 4,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_unchecked(bytes());
        assert_eq!(packet.spi(), 0x0102);
        assert_eq!(packet.sequence_number(), 5);
        assert_eq!(
            packet.iv(),
            [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]
        );
        assert_eq!(packet.protected(), &[0xaa, 0xbb, 0x02, 0x11]);
        assert_eq!(packet.icv(), &PACKET_BYTES[20..36]);
    }

    #[test]
    fn test_construct() {
        let mut buf = [0u8; 36];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_spi(0x0102);
        packet.set_sequence_number(5);
        packet.set_iv(&[0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]);
        packet
            .protected_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0x02, 0x11]);
        packet.icv_mut().copy_from_slice(&PACKET_BYTES[20..36]);
        assert_eq!(&buf[..], bytes());
    }

    #[test]
    fn test_construct_set_header() {
        let mut buf = [0u8; 36];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_header(0x0102, 5, &[0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]);
        packet
            .protected_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0x02, 0x11]);
        packet.icv_mut().copy_from_slice(&PACKET_BYTES[20..36]);
        assert_eq!(&buf[..], bytes());
    }

    #[test]
    fn test_check_len() {
        // Every length below header + IV + trailer + ICV is truncated.
        for len in 0..HEADER_LEN + IV_LEN + TRAILER_LEN + ICV_LEN {
            assert_eq!(
                Packet::new_checked(&bytes()[..len.min(36)]).map(|_| ()),
                Err(Error::Truncated),
                "len {len}"
            );
        }
        assert!(Packet::new_checked(&PACKET_BYTES[..34]).is_ok());
        assert!(Packet::new_checked(bytes()).is_ok());
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_unchecked(bytes());
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
        let short = Packet::new_unchecked(&bytes()[..20]);
        assert_eq!(Repr::parse(&short), Err(Error::Truncated));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        let mut buf = [0u8; 36];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut packet);
        packet
            .protected_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0x02, 0x11]);
        packet.icv_mut().copy_from_slice(&PACKET_BYTES[20..36]);
        assert_eq!(&buf[..], bytes());
    }

    #[test]
    fn test_buffer_len() {
        let repr = packet_repr();
        assert_eq!(repr.buffer_len(), bytes().len());
    }

    #[test]
    fn test_trailer_roundtrip_and_padding() {
        for payload_len in 0..40usize {
            let t = Trailer::for_payload(payload_len, 6);
            assert_eq!(t.buffer_len() % 4, 0);
            assert!(t.pad_len < 4);
            let mut plain = [0x55u8; 64];
            t.emit(&mut plain[..t.buffer_len()]);
            assert_eq!(Trailer::parse(&plain[..t.buffer_len()]), Ok(t));
        }
        // Wrong padding content.
        assert_eq!(Trailer::parse(&[9, 1, 3, 2, 6]), Err(Error::BadPadding));
        // Pad length larger than the data.
        assert_eq!(Trailer::parse(&[1, 2, 9, 6]), Err(Error::BadPadding));
        assert_eq!(Trailer::parse(&[6]), Err(Error::Truncated));
        assert_eq!(
            Trailer::parse(&[7, 1, 2, 2, 17]),
            Ok(Trailer {
                payload_len: 1,
                pad_len: 2,
                next_header: 17
            })
        );
    }
}
