//! Inbound ESP processing on arbitrary bytes: the engine must drop or accept,
//! never panic. Half of the inputs are turned into authentic ESP packets
//! (sealed with the receiver's key) so the fuzzer also reaches the code after
//! the ICV check: padding, next header, inner packet, selector check.
#![no_main]

use ipsec::{
    Action, Algorithm, Direction, Engine, Inbound, Mode, Protect, SaConfig, Selector, Service,
    Transform,
};
use libfuzzer_sys::fuzz_target;
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};

const A4: [u8; 4] = [10, 0, 0, 1];
const B4: [u8; 4] = [10, 0, 0, 2];
const A6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn engine() -> Engine {
    let mut e = Engine::new();
    let t0 = Instant::ZERO;
    let v4 = |a: [u8; 4]| IpAddress::Ipv4(Ipv4Address::from(a));
    let v6 = |a: [u8; 16]| IpAddress::Ipv6(Ipv6Address::from(a));
    let sas = [
        (0x100, Algorithm::AesGcm128, Mode::Transport, v4(B4), v4(A4), false),
        (0x101, Algorithm::ChaCha20Poly1305, Mode::Tunnel, v4(B4), v4(A4), true),
        (0x102, Algorithm::AesGmac128, Mode::Transport, v6(B6), v6(A6), true),
        (0x103, Algorithm::AesGcm256, Mode::Tunnel, v6(B6), v6(A6), false),
    ];
    for (spi, alg, mode, local, remote, esn) in sas {
        let mut c = SaConfig::new(spi, Direction::Inbound, alg, &key(alg), local, remote)
            .with_esn(esn)
            .with_replay_window(64);
        c.mode = mode;
        let id = e.sad.add(c, t0).unwrap();
        e.spd.insert(
            1,
            Selector::hosts(local, remote),
            Action::Protect(Protect {
                service: Service::Integrity,
                outbound: None,
                inbound: Some(id),
            }),
        );
    }
    e.spd.set_default_action(Action::Bypass);
    e
}

fn key(alg: Algorithm) -> Vec<u8> {
    (0..alg.keymat_len() as u8).map(|i| i ^ 0x33).collect()
}

fuzz_target!(|data: &[u8]| {
    let mut e = engine();
    let mut buf = data.to_vec();
    // Mode byte: 0 = raw bytes; 1..=4 = seal the rest as authentic ESP for
    // SA 0x100..0x103 after an IP header built from the input.
    if let Some((&sel, rest)) = data.split_first() {
        let which = sel % 5;
        if which != 0 && rest.len() >= 16 {
            let idx = usize::from(which - 1);
            let (alg, v6) = [
                (Algorithm::AesGcm128, false),
                (Algorithm::ChaCha20Poly1305, false),
                (Algorithm::AesGmac128, true),
                (Algorithm::AesGcm256, true),
            ][idx];
            let spi = 0x100 + idx as u32;
            let hl = if v6 { 40 } else { 20 };
            let esp_len = rest.len() + 16; // header+IV taken from input, ICV added
            let total = hl + esp_len;
            if total > 65_000 {
                return;
            }
            let mut p = vec![0u8; total];
            if v6 {
                p[0] = 0x60;
                p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
                p[6] = 50;
                p[7] = 64;
                p[8..24].copy_from_slice(&A6);
                p[24..40].copy_from_slice(&B6);
            } else {
                p[0] = 0x45;
                p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
                p[8] = 64;
                p[9] = 50;
                p[12..16].copy_from_slice(&A4);
                p[16..20].copy_from_slice(&B4);
                let mut sum: u32 = p[..20]
                    .chunks(2)
                    .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                    .sum();
                while sum >> 16 != 0 {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            }
            p[hl..hl + rest.len()].copy_from_slice(rest);
            p[hl..hl + 4].copy_from_slice(&spi.to_be_bytes());
            let t = Transform::new(alg, &key(alg)).unwrap();
            let seq_hi = if idx == 1 || idx == 2 { Some(0) } else { None };
            if t.seal_esp(&mut p, hl, seq_hi).is_err() {
                return;
            }
            buf = p;
        }
    }
    let len = buf.len();
    match e.inbound(&mut buf, 0, len, Instant::ZERO) {
        Inbound::Decapsulated { start, len: l, .. } => {
            assert!(start + l <= buf.len());
        }
        Inbound::Clear { .. } | Inbound::Dropped(_) => {}
    }
    // Outbound on the same bytes must not panic either.
    let mut out = vec![0u8; ipsec::HEADROOM + data.len() + ipsec::TAILROOM];
    out[ipsec::HEADROOM..ipsec::HEADROOM + data.len()].copy_from_slice(data);
    let _ = e.outbound(&mut out, ipsec::HEADROOM, data.len(), Instant::ZERO);
    while e.poll_event().is_some() {}
});
