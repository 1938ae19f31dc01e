//! Known-answer tests for whole ESP packets from published vectors:
//! draft-mcgrew-gcm-test-01 (AES-GCM in ESP, RFC 4106) and RFC 7634
//! Appendix A (ChaCha20-Poly1305 in ESP).

use ipsec::{
    Action, Algorithm, Direction, Engine, Inbound, Mode, Protect, SaConfig, Selector, Service,
    Transform,
};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, Ipv4Address};

fn hex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    d.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

struct Case {
    alg: Algorithm,
    /// key || salt
    keymat: &'static str,
    /// High half of the sequence number with ESN (not on the wire).
    seq_hi: Option<u32>,
    /// Decrypted payload and trailer.
    plaintext: &'static str,
    /// SPI, sequence number, IV, ciphertext, ICV.
    packet: &'static str,
}

const CASES: &[Case] = &[
    // draft-mcgrew-gcm-test-01, AES-128, ESN (seq 8765432100000000).
    Case {
        alg: Algorithm::AesGcm128,
        keymat: "4c80cdefbb5d10da906ac73c3613a634 2e443b68",
        seq_hi: Some(0x8765_4321),
        plaintext: "45000048699a000080114db7c0a80102 c0a801010a9bf15638d3010000010000
                    00000000045f736970045f7564700373 69700963796265726369747902646b00
                    0021000101020201",
        packet: "00004321000000004956ed7e3b244cfe fecf537e729d5b07dc30df528dd22b76
                 8d1b98736696a6fd348509fa13ceac34 cfa2436f14a3f3cf65925bf1f4a13c5d
                 15b21e1884f5ff6247aeabb786b93bce 61bc17d768fd9732459018148f6cbe72
                 2fd04796562dfdb4",
    },
    // draft-mcgrew-gcm-test-01, AES-128, 32-bit sequence number.
    Case {
        alg: Algorithm::AesGcm128,
        keymat: "feffe9928665731c6d6a8f9467308308 cafebabe",
        seq_hi: None,
        plaintext: "4500003e698f000080114dccc0a80102 c0a801010a980035002a2343b2d00100
                    00010000000000000373697009637962 65726369747902646b00000100010001",
        packet: "0000a5f80000000afacedbaddecaf888 deb22cd9b07c72c16e3a65beeb8df304
                 a5a5897d33ae530f1ba76d5d114d2a5c 3de81827c10e9a4f51330d0eec416642
                 cfbb85a5b47e48a4ec3b9ba95d918bd1 83b70d3aa8bc6ee4c309e9d85a41ad4a",
    },
    // draft-mcgrew-gcm-test-01, AES-256, 32-bit sequence number.
    Case {
        alg: Algorithm::AesGcm256,
        keymat: "abbccddef00112233445566778899aab abbccddef00112233445566778899aab 11223344",
        seq_hi: None,
        plaintext: "4500003069a6400080062690c0a80102 9389155e0a9e008b2dc57ee000000000
                    7002400020bf0000020405b401010402 01020201",
        packet: "4a2cbfe3000000020102030405060708 ff425c9b724599df7a3bcd510194e00d
                 6a78107f1b0b1cbf06efae9d65a5d763 748a637985771d347f0545659f14e99d
                 ef842d8eb335f4eecfdbf831824b4c49 15956c96",
    },
    // draft-mcgrew-gcm-test-01, AES-256, ESN at its very end (seq 2^64 - 1).
    Case {
        alg: Algorithm::AesGcm256,
        keymat: "6c6567616c697a656d6172696a75616e 61616e64646f69746265666f72656961 7475726e",
        seq_hi: Some(0xffff_ffff),
        plaintext: "45000030da3a00008001df3bc0a80005 c0a800010800c6cd0200070061626364
                    65666768696a6b6c6d6e6f7071727374 01020201",
        packet: "796b6963ffffffff333021696765746d f97ab2aa356d8edce17644ac8c78e25d
                 d24dedbb29ebf1b64a274b39b49c3a86 4cd3d78ca4ae68a32b42458fb57dbe82
                 1dcc63b9d0937ba2945f669368661a32 9fb4c053",
    },
    // RFC 7634 Appendix A: ChaCha20-Poly1305 in ESP (tunnel mode, next header 4).
    Case {
        alg: Algorithm::ChaCha20Poly1305,
        keymat: "808182838485868788898a8b8c8d8e8f 909192939495969798999a9b9c9d9e9f a0a1a2a3",
        seq_hi: None,
        plaintext: "45000054a6f200004001e778c6336405 c000020508005b7a3a080000553bec10
                    0007362708090a0b0c0d0e0f10111213 1415161718191a1b1c1d1e1f20212223
                    2425262728292a2b2c2d2e2f30313233 3435363701020204",
        packet: "01020304000000051011121314151617 240394 28b97f417e3c13753a4f05087b
                 67c352e6a7fab1b982d466ef407ae5c6 14ee8099d52844eb61aa95dfab4c02f7
                 2aa71e7c4c4f64c9befe2facc638e8f3 cbec163fac469b502773f6fb94e664da
                 9165b82829f641e0 76aaa8266b7fb0f7b11b369907e1ad43",
    },
];

#[test]
fn seal_reproduces_published_packets() {
    for (i, c) in CASES.iter().enumerate() {
        let t = Transform::new(c.alg, &hex(c.keymat)).unwrap();
        let packet = hex(c.packet);
        let plain = hex(c.plaintext);
        // 4 bytes before the ESP packet, header and IV from the vector, the
        // plaintext, room for the ICV.
        let mut buf = vec![0xeeu8; 4];
        buf.extend_from_slice(&packet[..16]);
        buf.extend_from_slice(&plain);
        buf.extend_from_slice(&[0; 16]);
        t.seal_esp(&mut buf, 4, c.seq_hi).unwrap();
        assert_eq!(&buf[4..], &packet[..], "case {i}: sealed packet");
        t.open_esp(&mut buf, 4, c.seq_hi).unwrap();
        assert_eq!(&buf[20..buf.len() - 16], &plain[..], "case {i}: opened");
        // Any other ESN high half fails.
        let mut again = vec![0u8; 4];
        again.extend_from_slice(&packet);
        let wrong = Some(c.seq_hi.map_or(1, |h| h.wrapping_add(1)));
        assert!(t.open_esp(&mut again, 4, wrong).is_err(), "case {i}");
    }
}

/// The RFC 7634 packet, in an outer IPv4 header, goes through the engine's
/// inbound path (tunnel mode) and comes out as the RFC's inner packet.
#[test]
fn engine_decapsulates_rfc7634_packet() {
    let c = &CASES[4];
    let peer = IpAddress::Ipv4(Ipv4Address::new(192, 0, 2, 9));
    let us = IpAddress::Ipv4(Ipv4Address::new(192, 0, 2, 1));
    let mut e = Engine::new();
    let id = e
        .sad
        .add(
            SaConfig::new(
                0x0102_0304,
                Direction::Inbound,
                c.alg,
                &hex(c.keymat),
                us,
                peer,
            )
            .tunnel(),
            Instant::ZERO,
        )
        .unwrap();
    e.spd.insert(
        1,
        Selector::ANY,
        Action::Protect(Protect {
            service: Service::Confidentiality,
            outbound: None,
            inbound: Some(id),
        }),
    );
    let esp = hex(c.packet);
    let total = 20 + esp.len();
    let mut pkt = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        50,
        0,
        0,
    ];
    pkt.extend_from_slice(&[192, 0, 2, 9, 192, 0, 2, 1]);
    let mut sum: u32 = pkt
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    pkt[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    pkt.extend_from_slice(&esp);
    let len = pkt.len();
    match e.inbound(&mut pkt, 0, len, Instant::ZERO) {
        Inbound::Decapsulated { start, len, info } => {
            let plain = hex(c.plaintext);
            // Inner packet: the plaintext without padding 01 02, pad length
            // 2 and next header 4.
            assert_eq!(&pkt[start..start + len], &plain[..plain.len() - 4]);
            assert_eq!(info.sequence, 5);
            assert_eq!(info.mode, Mode::Tunnel);
            assert_eq!(info.peer, peer);
        }
        other => panic!("{other:?}"),
    }
}
