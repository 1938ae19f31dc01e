//! Engine-level tests: round trips in every mode, and every kind of bad input
//! dropped, counted and reported.

mod common;

use common::{udp4, udp6};
use ipsec::wire::{Trailer, HEADER_LEN, ICV_LEN, IV_LEN};
use ipsec::{
    Action, AddrSelector, Algorithm, Direction, DropReason, Engine, Event, Inbound, Lifetime,
    LifetimeKind, Mode, Outbound, PortSelector, Protect, SaConfig, SaId, SaState, Selector,
    Service, Transform, ALL_ALGORITHMS, HEADROOM, TAILROOM,
};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};

const A4: [u8; 4] = [10, 0, 0, 1];
const B4: [u8; 4] = [10, 0, 0, 2];
const A6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn ip4(a: [u8; 4]) -> IpAddress {
    IpAddress::Ipv4(Ipv4Address::from(a))
}
fn ip6(a: [u8; 16]) -> IpAddress {
    IpAddress::Ipv6(Ipv6Address::from(a))
}

fn key(alg: Algorithm) -> Vec<u8> {
    (0..alg.keymat_len() as u8).map(|i| i ^ 0x5a).collect()
}

const T0: Instant = Instant::ZERO;

/// Sender a (outbound SA 0x1000) and receiver b (inbound SA 0x1000), one direction.
struct Pair {
    a: Engine,
    b: Engine,
    out: SaId,
    inb: SaId,
}

fn pair_with(
    cfg: impl Fn(SaConfig) -> SaConfig,
    alg: Algorithm,
    local: IpAddress,
    remote: IpAddress,
) -> Pair {
    let k = key(alg);
    let mut a = Engine::new();
    let mut b = Engine::new();
    let out = a
        .sad
        .add(
            cfg(SaConfig::new(
                0x1000,
                Direction::Outbound,
                alg,
                &k,
                local,
                remote,
            )),
            T0,
        )
        .unwrap();
    let inb = b
        .sad
        .add(
            cfg(SaConfig::new(
                0x1000,
                Direction::Inbound,
                alg,
                &k,
                remote,
                local,
            )),
            T0,
        )
        .unwrap();
    let protect = |o, i| {
        Action::Protect(Protect {
            service: Service::Integrity,
            outbound: o,
            inbound: i,
        })
    };
    a.spd
        .insert(10, Selector::hosts(local, remote), protect(Some(out), None));
    b.spd
        .insert(10, Selector::hosts(remote, local), protect(None, Some(inb)));
    Pair { a, b, out, inb }
}

fn pair(alg: Algorithm, v6: bool) -> Pair {
    if v6 {
        pair_with(|c| c, alg, ip6(A6), ip6(B6))
    } else {
        pair_with(|c| c, alg, ip4(A4), ip4(B4))
    }
}

/// Protect `pkt` with `e`; returns the wire packet.
fn send(e: &mut Engine, pkt: &[u8]) -> Result<Vec<u8>, DropReason> {
    let mut buf = vec![0u8; HEADROOM + pkt.len() + TAILROOM];
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(pkt);
    match e.outbound(&mut buf, HEADROOM, pkt.len(), T0) {
        Outbound::Protected { start, len, .. } => Ok(buf[start..start + len].to_vec()),
        Outbound::Bypass => Ok(pkt.to_vec()),
        Outbound::Dropped(r) => Err(r),
    }
}

/// Receive a wire packet with `e`; returns the clear packet.
fn recv(e: &mut Engine, wire: &[u8]) -> Result<Vec<u8>, DropReason> {
    let mut buf = wire.to_vec();
    match e.inbound(&mut buf, 0, wire.len(), T0) {
        Inbound::Decapsulated { start, len, .. } => Ok(buf[start..start + len].to_vec()),
        Inbound::Clear { .. } => Ok(buf),
        Inbound::Dropped(r) => Err(r),
    }
}

fn pkt(v6: bool, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    if v6 {
        udp6(A6, B6, 1234, 5678, &payload)
    } else {
        udp4(A4, B4, 1234, 5678, &payload)
    }
}

fn last_drop(e: &mut Engine) -> Option<DropReason> {
    let mut last = None;
    while let Some(ev) = e.poll_event() {
        if let Event::Dropped { reason, .. } = ev {
            last = Some(reason);
        }
    }
    last
}

#[test]
fn round_trip_every_algorithm_mode_version_and_esn() {
    for alg in ALL_ALGORITHMS {
        for v6 in [false, true] {
            for mode in [Mode::Transport, Mode::Tunnel] {
                for esn in [false, true] {
                    let (l, r) = if v6 {
                        (ip6(A6), ip6(B6))
                    } else {
                        (ip4(A4), ip4(B4))
                    };
                    let mut p = pair_with(
                        |mut c| {
                            c.mode = mode;
                            c.with_esn(esn)
                        },
                        alg,
                        l,
                        r,
                    );
                    for len in [0usize, 1, 2, 3, 4, 5, 100, 1400] {
                        let clear = pkt(v6, len);
                        let wire = send(&mut p.a, &clear).unwrap();
                        let expected_next = match (mode, v6) {
                            (Mode::Transport, _) => 17,
                            (Mode::Tunnel, false) => 4,
                            (Mode::Tunnel, true) => 41,
                        };
                        // The wire packet is ESP, 4-byte aligned inside.
                        let (hl, proto) = if v6 { (40, wire[6]) } else { (20, wire[9]) };
                        assert_eq!(proto, 50);
                        let esp_len = wire.len() - hl;
                        assert_eq!((esp_len - HEADER_LEN - IV_LEN - ICV_LEN) % 4, 0);
                        if !alg.confidential() {
                            // GMAC: the trailer is readable on the wire.
                            assert_eq!(wire[wire.len() - ICV_LEN - 1], expected_next);
                        }
                        let back = recv(&mut p.b, &wire).unwrap_or_else(|r| {
                            panic!("{alg:?} v6={v6} {mode:?} esn={esn} len={len}: {r:?}")
                        });
                        assert_eq!(back, clear, "{alg:?} v6={v6} {mode:?} esn={esn} len={len}");
                    }
                    let sa = p.b.sad.get(p.inb).unwrap();
                    assert_eq!(sa.counters().packets, 8);
                    assert_eq!(p.a.sad.get(p.out).unwrap().last_sequence_sent(), 8);
                }
            }
        }
    }
}

#[test]
fn truncated_packets_are_dropped() {
    for v6 in [false, true] {
        let mut p = pair(Algorithm::AesGcm128, v6);
        let wire = send(&mut p.a, &pkt(v6, 50)).unwrap();
        let hl = if v6 { 40 } else { 20 };
        for cut in 0..wire.len() {
            let mut w = wire[..cut].to_vec();
            // Keep the IP length consistent so the ESP layer sees the truncation.
            if cut >= hl {
                if v6 {
                    w[4..6].copy_from_slice(&((cut - 40) as u16).to_be_bytes());
                } else {
                    w[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
                    w[10..12].copy_from_slice(&[0, 0]);
                    let c = common::checksum(&w[..20], 0);
                    w[10..12].copy_from_slice(&c.to_be_bytes());
                }
            }
            let r = recv(&mut p.b, &w).unwrap_err();
            assert!(
                matches!(
                    r,
                    DropReason::Malformed | DropReason::Truncated | DropReason::IntegrityFailed
                ),
                "cut {cut}: {r:?}"
            );
        }
        assert!(p.b.counters().dropped(DropReason::Truncated) > 0);
        // The real packet still goes through afterwards.
        assert!(recv(&mut p.b, &wire).is_ok());
    }
}

#[test]
fn bad_icv_is_dropped_and_does_not_move_the_window() {
    for alg in ALL_ALGORITHMS {
        let mut p = pair(alg, false);
        let wire = send(&mut p.a, &pkt(false, 64)).unwrap();
        for i in [24usize, 30, 60, wire.len() - 1] {
            let mut w = wire.clone();
            w[i] ^= 0x01;
            assert_eq!(
                recv(&mut p.b, &w),
                Err(DropReason::IntegrityFailed),
                "{alg:?} byte {i}"
            );
        }
        assert_eq!(last_drop(&mut p.b), Some(DropReason::IntegrityFailed));
        assert_eq!(p.b.sad.get(p.inb).unwrap().counters().integrity_failed, 4);
        // The genuine packet with the same sequence number is still accepted.
        assert!(recv(&mut p.b, &wire).is_ok());
    }
}

#[test]
fn replayed_and_too_old_packets_are_dropped() {
    let mut p = pair_with(
        |c| c.with_replay_window(32),
        Algorithm::AesGcm256,
        ip4(A4),
        ip4(B4),
    );
    let wires: Vec<Vec<u8>> = (0..100)
        .map(|_| send(&mut p.a, &pkt(false, 10)).unwrap())
        .collect();
    assert!(recv(&mut p.b, &wires[0]).is_ok());
    assert_eq!(recv(&mut p.b, &wires[0]), Err(DropReason::Replay));
    assert!(recv(&mut p.b, &wires[99]).is_ok());
    // Sequence 100 is the top; 69 is the oldest inside a 32-packet window.
    assert_eq!(recv(&mut p.b, &wires[67]), Err(DropReason::TooOld));
    assert!(recv(&mut p.b, &wires[68]).is_ok());
    assert_eq!(recv(&mut p.b, &wires[68]), Err(DropReason::Replay));
    assert_eq!(p.b.counters().dropped(DropReason::Replay), 2);
    assert_eq!(p.b.counters().dropped(DropReason::TooOld), 1);
    assert_eq!(p.b.sad.get(p.inb).unwrap().counters().replay, 3);
    let mut seen = Vec::new();
    while let Some(e) = p.b.poll_event() {
        if let Event::Dropped {
            direction: Direction::Inbound,
            reason,
            spi: Some(0x1000),
            sequence: Some(s),
            ..
        } = e
        {
            seen.push((reason, s));
        }
    }
    assert_eq!(
        seen,
        vec![
            (DropReason::Replay, 1),
            (DropReason::TooOld, 68),
            (DropReason::Replay, 69)
        ]
    );
}

#[test]
fn large_window_accepts_reordering() {
    let mut p = pair_with(
        |c| c.with_replay_window(4096),
        Algorithm::AesGcm128,
        ip4(A4),
        ip4(B4),
    );
    let wires: Vec<Vec<u8>> = (0..3000)
        .map(|_| send(&mut p.a, &pkt(false, 4)).unwrap())
        .collect();
    for w in wires.iter().rev() {
        assert!(recv(&mut p.b, w).is_ok());
    }
    for w in wires.iter().step_by(100) {
        assert_eq!(recv(&mut p.b, w), Err(DropReason::Replay));
    }
}

#[test]
fn unknown_spi_and_address_mismatch() {
    let mut p = pair(Algorithm::ChaCha20Poly1305, false);
    let wire = send(&mut p.a, &pkt(false, 10)).unwrap();
    let mut w = wire.clone();
    w[20..24].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    assert_eq!(recv(&mut p.b, &w), Err(DropReason::UnknownSpi));
    let mut w = wire.clone();
    w[12] = 99; // other source
    w[10..12].copy_from_slice(&[0, 0]);
    let c = common::checksum(&w[..20], 0);
    w[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(recv(&mut p.b, &w), Err(DropReason::AddressMismatch));
    // A corrupted IPv4 header checksum is malformed.
    let mut w = wire.clone();
    w[8] = 1;
    assert_eq!(recv(&mut p.b, &w), Err(DropReason::Malformed));
    match p.b.poll_event() {
        Some(Event::Dropped {
            reason: DropReason::UnknownSpi,
            spi: Some(0xdead_beef),
            src,
            ..
        }) => assert_eq!(src, Some(ip4(A4))),
        e => panic!("{e:?}"),
    }
}

/// Build an authentic ESP transport packet from A4 to B4 with a chosen
/// protected part (payload and trailer), as a buggy or hostile peer holding
/// the key could.
fn craft(alg: Algorithm, seq: u32, protected: &[u8]) -> Vec<u8> {
    let t = Transform::new(alg, &key(alg)).unwrap();
    let total = 20 + HEADER_LEN + IV_LEN + protected.len() + ICV_LEN;
    let mut w = vec![0u8; total];
    w[0] = 0x45;
    w[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    w[8] = 64;
    w[9] = 50;
    w[12..16].copy_from_slice(&A4);
    w[16..20].copy_from_slice(&B4);
    let c = common::checksum(&w[..20], 0);
    w[10..12].copy_from_slice(&c.to_be_bytes());
    w[20..24].copy_from_slice(&0x1000u32.to_be_bytes());
    w[24..28].copy_from_slice(&seq.to_be_bytes());
    w[28..36].copy_from_slice(&u64::from(seq).to_be_bytes());
    w[36..36 + protected.len()].copy_from_slice(protected);
    t.seal_esp(&mut w, 20, None).unwrap();
    w
}

#[test]
fn bad_padding_and_wrong_next_header() {
    let mut p = pair(Algorithm::AesGcm128, false);
    let udp = &pkt(false, 6)[20..];
    let mut good = udp.to_vec();
    let t = Trailer::for_payload(udp.len(), 17);
    good.resize(t.buffer_len(), 0);
    t.emit(&mut good);
    assert!(recv(&mut p.b, &craft(Algorithm::AesGcm128, 1, &good)).is_ok());
    // Padding bytes not 1, 2, ...
    let mut bad = udp.to_vec();
    bad.extend_from_slice(&[1, 3, 2, 17]);
    assert_eq!(
        recv(&mut p.b, &craft(Algorithm::AesGcm128, 2, &bad)),
        Err(DropReason::BadPadding)
    );
    // Pad length beyond the data.
    assert_eq!(
        recv(&mut p.b, &craft(Algorithm::AesGcm128, 3, &[1, 2, 200, 17])),
        Err(DropReason::BadPadding)
    );
    // Next header IPv4 on a transport SA.
    let mut nh = good.clone();
    *nh.last_mut().unwrap() = 4;
    assert_eq!(
        recv(&mut p.b, &craft(Algorithm::AesGcm128, 4, &nh)),
        Err(DropReason::BadNextHeader)
    );
    // Dummy packet (next header 59).
    let mut dummy = good.clone();
    *dummy.last_mut().unwrap() = 59;
    assert_eq!(
        recv(&mut p.b, &craft(Algorithm::AesGcm128, 5, &dummy)),
        Err(DropReason::Dummy)
    );
    assert_eq!(p.b.counters().dropped(DropReason::BadPadding), 2);
    assert_eq!(p.b.sad.get(p.inb).unwrap().counters().malformed, 3);
    // Tunnel SA receiving a non-IP inner packet.
    let mut p = pair_with(|c| c.tunnel(), Algorithm::AesGcm128, ip4(A4), ip4(B4));
    assert_eq!(
        recv(&mut p.b, &craft(Algorithm::AesGcm128, 1, &good)),
        Err(DropReason::BadNextHeader)
    );
}

#[test]
fn selector_mismatch_after_decryption() {
    let k = key(Algorithm::AesGcm128);
    let mut a = Engine::new();
    let mut b = Engine::new();
    let out = a
        .sad
        .add(
            SaConfig::new(
                0x1000,
                Direction::Outbound,
                Algorithm::AesGcm128,
                &k,
                ip4(A4),
                ip4(B4),
            ),
            T0,
        )
        .unwrap();
    let inb = b
        .sad
        .add(
            SaConfig::new(
                0x1000,
                Direction::Inbound,
                Algorithm::AesGcm128,
                &k,
                ip4(B4),
                ip4(A4),
            ),
            T0,
        )
        .unwrap();
    a.spd.insert(
        1,
        Selector::hosts(ip4(A4), ip4(B4)),
        Action::Protect(Protect {
            service: Service::Confidentiality,
            outbound: Some(out),
            inbound: None,
        }),
    );
    // b accepts this SA only for UDP to its port 5678.
    b.spd.insert(
        1,
        Selector {
            remote: AddrSelector::host(ip4(A4)),
            protocol: Some(17),
            local_port: PortSelector::port(5678),
            ..Selector::ANY
        },
        Action::Protect(Protect {
            service: Service::Confidentiality,
            outbound: None,
            inbound: Some(inb),
        }),
    );
    let ok = send(&mut a, &udp4(A4, B4, 1, 5678, b"x")).unwrap();
    assert!(recv(&mut b, &ok).is_ok());
    let other = send(&mut a, &udp4(A4, B4, 1, 9999, b"x")).unwrap();
    assert_eq!(recv(&mut b, &other), Err(DropReason::SelectorMismatch));
    assert_eq!(b.sad.get(inb).unwrap().counters().selector_mismatch, 1);
    // A clear packet for the protected flow is refused.
    b.spd.set_default_action(Action::Bypass);
    assert_eq!(
        recv(&mut b, &udp4(A4, B4, 1, 5678, b"clear")),
        Err(DropReason::ClearTextRejected)
    );
    // ... while other clear traffic now passes.
    assert!(recv(&mut b, &udp4(A4, B4, 1, 80, b"clear")).is_ok());
}

#[test]
fn service_requirement_is_enforced() {
    // A GMAC SA cannot serve a policy that requires confidentiality.
    let k = key(Algorithm::AesGmac128);
    let mut a = Engine::new();
    let out = a
        .sad
        .add(
            SaConfig::new(
                0x1000,
                Direction::Outbound,
                Algorithm::AesGmac128,
                &k,
                ip4(A4),
                ip4(B4),
            ),
            T0,
        )
        .unwrap();
    a.spd.insert(
        1,
        Selector::ANY,
        Action::Protect(Protect {
            service: Service::Confidentiality,
            outbound: Some(out),
            inbound: None,
        }),
    );
    assert_eq!(
        send(&mut a, &pkt(false, 10)),
        Err(DropReason::ServiceMismatch)
    );
}

#[test]
fn sequence_overflow_stops_the_sa() {
    let mut p = pair(Algorithm::AesGcm128, false);
    assert!(p.a.sad.advance_sequence(p.out, u64::from(u32::MAX) - 1));
    assert!(!p.a.sad.advance_sequence(p.out, 5), "never backwards");
    let last = send(&mut p.a, &pkt(false, 10)).unwrap();
    assert_eq!(&last[24..28], &u32::MAX.to_be_bytes());
    assert_eq!(
        send(&mut p.a, &pkt(false, 10)),
        Err(DropReason::SequenceOverflow)
    );
    assert_eq!(
        send(&mut p.a, &pkt(false, 10)),
        Err(DropReason::SequenceOverflow)
    );
    assert_eq!(
        p.a.sad.get(p.out).unwrap().state(),
        SaState::SequenceOverflow
    );
    let mut overflow_events = 0;
    while let Some(e) = p.a.poll_event() {
        if let Event::SequenceOverflow { sa, spi } = e {
            assert_eq!((sa, spi), (p.out, 0x1000));
            overflow_events += 1;
        }
    }
    assert_eq!(overflow_events, 1);
    assert_eq!(p.a.sad.get(p.out).unwrap().counters().sequence_overflow, 2);
}

#[test]
fn esn_crosses_the_32_bit_boundary() {
    let mut p = pair_with(
        |c| c.with_esn(true),
        Algorithm::ChaCha20Poly1305,
        ip4(A4),
        ip4(B4),
    );
    // A receiver that has seen nothing places low halves near 2^32 in the
    // (impossible) subspace -1 (RFC 4303 Appendix A): start it lower first.
    assert!(p.a.sad.advance_sequence(p.out, u64::from(u32::MAX) - 1000));
    let first = send(&mut p.a, &pkt(false, 20)).unwrap();
    assert!(recv(&mut p.b, &first).is_ok());
    let start = u64::from(u32::MAX) - 10;
    assert!(p.a.sad.advance_sequence(p.out, start));
    for i in 1..=30u64 {
        let w = send(&mut p.a, &pkt(false, 20)).unwrap();
        // Only the low half travels.
        assert_eq!(&w[24..28], &((start + i) as u32).to_be_bytes());
        assert!(recv(&mut p.b, &w).is_ok(), "seq {}", start + i);
    }
    assert_eq!(
        p.b.sad.get(p.inb).unwrap().highest_sequence_received(),
        start + 30
    );
    // Without ESN on the receiver, the high half differs: the ICV fails.
    let mut q = pair_with(|c| c.with_esn(true), Algorithm::AesGcm128, ip4(A4), ip4(B4));
    q.b.sad.remove(q.inb);
    let k = key(Algorithm::AesGcm128);
    q.b.sad
        .add(
            SaConfig::new(
                0x1000,
                Direction::Inbound,
                Algorithm::AesGcm128,
                &k,
                ip4(B4),
                ip4(A4),
            ),
            T0,
        )
        .unwrap();
    q.a.sad.advance_sequence(q.out, 1 << 32);
    let w = send(&mut q.a, &pkt(false, 20)).unwrap();
    assert!(recv(&mut q.b, &w).is_err());
}

#[test]
fn lifetimes_raise_events_and_stop_the_sa() {
    let soft = Lifetime {
        packets: Some(2),
        ..Default::default()
    };
    let hard = Lifetime {
        packets: Some(3),
        ..Default::default()
    };
    let mut p = pair_with(
        |c| c.with_lifetimes(soft, hard),
        Algorithm::AesGcm128,
        ip4(A4),
        ip4(B4),
    );
    for _ in 0..3 {
        send(&mut p.a, &pkt(false, 10)).unwrap();
    }
    assert_eq!(send(&mut p.a, &pkt(false, 10)), Err(DropReason::SaExpired));
    let events: Vec<Event> = std::iter::from_fn(|| p.a.poll_event()).collect();
    assert!(events.contains(&Event::SoftExpired {
        sa: p.out,
        spi: 0x1000,
        kind: LifetimeKind::Packets
    }));
    assert!(events.contains(&Event::HardExpired {
        sa: p.out,
        spi: 0x1000,
        kind: LifetimeKind::Packets
    }));
    // Time lifetimes are checked by poll.
    let mut p = pair_with(
        |c| {
            c.with_lifetimes(
                Lifetime {
                    seconds: Some(60),
                    ..Default::default()
                },
                Lifetime {
                    seconds: Some(120),
                    ..Default::default()
                },
            )
        },
        Algorithm::AesGcm128,
        ip4(A4),
        ip4(B4),
    );
    p.b.poll(Instant::from_secs(59));
    assert_eq!(p.b.poll_event(), None);
    p.b.poll(Instant::from_secs(61));
    assert!(matches!(
        p.b.poll_event(),
        Some(Event::SoftExpired {
            kind: LifetimeKind::Seconds,
            ..
        })
    ));
    p.b.poll(Instant::from_secs(121));
    assert!(matches!(
        p.b.poll_event(),
        Some(Event::HardExpired {
            kind: LifetimeKind::Seconds,
            ..
        })
    ));
    let w = send(&mut p.a, &pkt(false, 10)).unwrap();
    assert_eq!(recv(&mut p.b, &w), Err(DropReason::SaExpired));
}

#[test]
fn fragments_and_missing_room() {
    let mut p = pair(Algorithm::AesGcm128, false);
    let mut w = send(&mut p.a, &pkt(false, 10)).unwrap();
    w[6] = 0x20; // more fragments
    w[10..12].copy_from_slice(&[0, 0]);
    let c = common::checksum(&w[..20], 0);
    w[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(recv(&mut p.b, &w), Err(DropReason::Fragment));
    // No headroom.
    let clear = pkt(false, 10);
    let mut buf = clear.clone();
    buf.resize(clear.len() + TAILROOM, 0);
    assert_eq!(
        p.a.outbound(&mut buf, 0, clear.len(), T0),
        Outbound::Dropped(DropReason::NoRoom)
    );
    // Garbage never panics.
    for n in 0..64u8 {
        let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
        let _ = recv(&mut p.b, &junk);
        let _ = send(&mut p.a, &junk);
    }
}

#[test]
fn neighbour_discovery_bypasses_and_default_discard_applies() {
    let mut e = Engine::new();
    // ICMPv6 neighbour solicitation (type 135) passes without any policy.
    let mut ns = udp6(A6, B6, 0, 0, &[0; 16]);
    ns[6] = 58;
    ns[40] = 135;
    assert_eq!(send(&mut e, &ns), Ok(ns.clone()));
    assert!(recv(&mut e, &ns).is_ok());
    // Other traffic hits the default DISCARD.
    assert_eq!(send(&mut e, &pkt(false, 1)), Err(DropReason::PolicyDiscard));
    assert_eq!(recv(&mut e, &pkt(true, 1)), Err(DropReason::PolicyDiscard));
}

#[test]
fn ipv6_hop_by_hop_stays_outside_esp() {
    let mut p = pair(Algorithm::AesGcm128, true);
    // IPv6 / Hop-by-Hop (8 bytes: next header UDP, PadN) / UDP.
    let udp = pkt(true, 12);
    let mut clear = udp[..40].to_vec();
    clear[6] = 0; // Hop-by-Hop follows
    clear.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    clear.extend_from_slice(&udp[40..]);
    let plen = (clear.len() - 40) as u16;
    clear[4..6].copy_from_slice(&plen.to_be_bytes());
    let wire = send(&mut p.a, &clear).unwrap();
    // The Hop-by-Hop header is still in clear, now pointing at ESP.
    assert_eq!(wire[6], 0);
    assert_eq!(wire[40], 50);
    assert_eq!(&wire[48..52], &0x1000u32.to_be_bytes());
    assert_eq!(recv(&mut p.b, &wire), Ok(clear));
}

#[test]
fn destination_options_before_esp_are_walked() {
    // A peer may put a Destination Options header before ESP (RFC 4303 3.1.1).
    let mut p = pair(Algorithm::AesGcm128, true);
    let clear = pkt(true, 12);
    let wire = send(&mut p.a, &clear).unwrap();
    let mut w = wire[..40].to_vec();
    w[6] = 60;
    w.extend_from_slice(&[50, 0, 1, 4, 0, 0, 0, 0]);
    w.extend_from_slice(&wire[40..]);
    let plen = (w.len() - 40) as u16;
    w[4..6].copy_from_slice(&plen.to_be_bytes());
    let back = recv(&mut p.b, &w).unwrap();
    // The clear packet keeps the Destination Options header, now naming UDP.
    assert_eq!(back[6], 60);
    assert_eq!(back[40], 17);
    assert_eq!(&back[48..], &clear[40..]);
}

#[test]
fn packets_too_big_for_esp_are_dropped() {
    let mut p = pair(Algorithm::AesGcm128, false);
    // A 65,530-byte IPv4 packet cannot grow by the ESP overhead.
    let clear = pkt(false, 65_530 - 28);
    assert_eq!(send(&mut p.a, &clear), Err(DropReason::TooBig));
    assert_eq!(p.a.counters().dropped(DropReason::TooBig), 1);
    // The largest that fits still goes through.
    let clear = pkt(false, 65_535 - 28 - 40);
    let wire = send(&mut p.a, &clear).unwrap();
    assert!(wire.len() <= 65_535);
    assert_eq!(recv(&mut p.b, &wire), Ok(clear));
}
