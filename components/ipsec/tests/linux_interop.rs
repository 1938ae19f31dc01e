//! Interop with the Linux kernel's IPsec (XFRM), issue 3 point 8.
//!
//! Boots Debian's stock cloud kernel in QEMU (see the `linuxvm` crate), gives
//! it hand-keyed transport-mode SAs and policies with `ip xfrm`, and faces it
//! with a smoltcp stack over our [`ipsec::EspDevice`]. For each algorithm
//! (AES-GCM-128/256, ChaCha20-Poly1305, AES-GMAC-128/256), over IPv4 and then
//! IPv6: ping both ways, a 1 MiB TCP echo checked byte for byte, the wire
//! checked to carry only ESP (payload hidden except with GMAC), the guest's
//! `ip -s xfrm state` counters checked against ours, and a replayed and a
//! forged packet sent each way and rejected (guest: xfrm state stats and
//! /proc/net/xfrm_stat; us: typed drop events and SA counters). Then the
//! same in tunnel mode for AES-GCM-128 over IPv4 and ChaCha20-Poly1305 over
//! IPv6. One VM boot for everything.
//!
//! Skips, saying why, when QEMU, busybox or the kernel package are missing,
//! unless `LINUXVM_REQUIRE=1` (which `ci/linuxvm.sh test` sets).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipsec::{
    Action, Algorithm, Direction, DropReason, EspDevice, Event, Mode, Protect, SaConfig, SaId,
    Selector, Service,
};
use linuxvm::{Guest, GuestConfig, LinkHandle, Stack, UdpEthernet};
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv6Address};

const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const US: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
const GUEST: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);
const US6: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const GUEST6: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// The two peers' addresses in one IP version.
#[derive(Debug, Clone, Copy)]
struct Peers {
    us: IpAddress,
    guest: IpAddress,
}

const V4: Peers = Peers {
    us: IpAddress::Ipv4(US),
    guest: IpAddress::Ipv4(GUEST),
};
const V6: Peers = Peers {
    us: IpAddress::Ipv6(US6),
    guest: IpAddress::Ipv6(GUEST6),
};
const ECHO_PORT: u16 = 7;
const ECHO_BYTES: usize = 1 << 20;
const REPLAY_WINDOW: u32 = 32;

const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::AesGcm128,
    Algorithm::AesGcm256,
    Algorithm::ChaCha20Poly1305,
    Algorithm::AesGmac128,
    Algorithm::AesGmac256,
];

type EspStack = Stack<EspDevice<UdpEthernet>>;

/// Test-only keying material: key || salt, distinct per algorithm and direction.
fn keymat(alg: Algorithm, round: usize, dir: u8) -> Vec<u8> {
    (0..alg.keymat_len())
        .map(|i| (i as u8).wrapping_mul(37) ^ (round as u8 * 16 + dir).wrapping_mul(101) ^ 0x5a)
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One state of `ip -s xfrm state`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct XfrmState {
    src: String,
    dst: String,
    spi: u32,
    bytes: u64,
    packets: u64,
    replay_window_drops: u64,
    replay: u64,
    integrity_failed: u64,
}

fn num(tok: &str) -> Option<u64> {
    let t = tok.trim_end_matches(',');
    let t = t.split('(').next().unwrap_or(t);
    if let Some(h) = t.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else {
        t.parse().ok()
    }
}

/// Parses `ip -s xfrm state` output.
fn parse_states(text: &str) -> Vec<XfrmState> {
    let mut states: Vec<XfrmState> = Vec::new();
    let mut section = "";
    for line in text.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("src ") && toks.len() >= 4 {
            states.push(XfrmState {
                src: toks[1].to_string(),
                dst: toks[3].to_string(),
                ..Default::default()
            });
            section = "";
            continue;
        }
        let Some(st) = states.last_mut() else {
            continue;
        };
        match toks.first().copied() {
            Some("proto") => {
                if let Some(i) = toks.iter().position(|t| *t == "spi") {
                    st.spi = toks.get(i + 1).and_then(|t| num(t)).unwrap_or(0) as u32;
                }
            }
            Some("lifetime") if line.contains("current") => section = "current",
            Some("stats:") => section = "stats",
            Some(_) if section == "current" && line.contains("(bytes)") => {
                // "2048(bytes), 3(packets)"
                st.bytes = toks.first().and_then(|t| num(t)).unwrap_or(0);
                st.packets = toks.get(1).and_then(|t| num(t)).unwrap_or(0);
                section = "";
            }
            Some("replay-window") if section == "stats" => {
                // "replay-window 0 replay 0 failed 0"
                let get = |k: &str| {
                    toks.iter()
                        .position(|t| *t == k)
                        .and_then(|i| toks.get(i + 1))
                        .and_then(|t| num(t))
                        .unwrap_or(0)
                };
                st.replay_window_drops = get("replay-window");
                st.replay = get("replay");
                st.integrity_failed = get("failed");
                section = "";
            }
            _ => {}
        }
    }
    states
}

fn guest_state(guest: &mut Guest, spi: u32) -> XfrmState {
    let text = guest.run("ip -s xfrm state").unwrap();
    parse_states(&text)
        .into_iter()
        .find(|s| s.spi == spi)
        .unwrap_or_else(|| panic!("guest has no state with spi {spi:#x}:\n{text}"))
}

fn xfrm_stat(guest: &mut Guest) -> BTreeMap<String, u64> {
    guest
        .run("cat /proc/net/xfrm_stat")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// ESP header offset in an Ethernet frame carrying ESP over IPv4 or IPv6
/// (transport mode: ESP right after the IP header).
fn esp_offset(frame: &[u8]) -> Option<usize> {
    match ip_frame(frame)? {
        (14, 50) => {
            let ihl = usize::from(frame[14] & 0x0f) * 4;
            (frame.len() >= 14 + ihl + 8).then_some(14 + ihl)
        }
        (6, 50) => (frame.len() >= 14 + 40 + 8).then_some(14 + 40),
        _ => None,
    }
}

/// `(IP version marker, next protocol)` of an IP frame: 14 for IPv4 (to
/// keep the IHL case apart), 6 for IPv6.
fn ip_frame(frame: &[u8]) -> Option<(u8, u8)> {
    match frame.get(12..14)? {
        [0x08, 0x00] if frame.len() >= 34 && frame[14] >> 4 == 4 => Some((14, frame[23])),
        [0x86, 0xdd] if frame.len() >= 54 && frame[14] >> 4 == 6 => Some((6, frame[20])),
        _ => None,
    }
}

/// Neighbour discovery and MLD travel in the clear on both sides.
fn is_nd_or_mld(frame: &[u8]) -> bool {
    ip_frame(frame) == Some((6, 58)) && matches!(frame[54], 130..=137 | 143)
}

fn esp_spi_seq(frame: &[u8]) -> Option<(u32, u32)> {
    let o = esp_offset(frame)?;
    let spi = u32::from_be_bytes(frame[o..o + 4].try_into().ok()?);
    let seq = u32::from_be_bytes(frame[o + 4..o + 8].try_into().ok()?);
    Some((spi, seq))
}

/// A forged copy of an authentic ESP frame: a sequence number far ahead (so
/// the anti-replay check lets it through to the ICV check) and a flipped
/// ciphertext/ICV byte.
fn tamper(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    let o = esp_offset(&f).unwrap();
    let seq = u32::from_be_bytes(f[o + 4..o + 8].try_into().unwrap());
    f[o + 4..o + 8].copy_from_slice(&(seq + 100_000).to_be_bytes());
    let last = f.len() - 1;
    f[last] ^= 0x80;
    f
}

/// The frames of one direction: every IP frame must be ESP (ND/MLD aside).
fn check_only_esp(frames: &[Vec<u8>], what: &str) -> usize {
    let mut esp = 0;
    for f in frames {
        let Some((_, proto)) = ip_frame(f) else {
            continue;
        };
        if is_nd_or_mld(f) {
            continue;
        }
        assert!(
            esp_offset(f).is_some(),
            "{what}: a clear IP frame (protocol {proto}) crossed the link"
        );
        esp += 1;
    }
    esp
}

fn drain_events(stack: &mut EspStack) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(e) = stack.device.engine_mut().poll_event() {
        v.push(e);
    }
    v
}

fn sa_counters(stack: &EspStack, id: SaId) -> ipsec::SaCounters {
    *stack.device.engine().sad.get(id).unwrap().counters()
}

struct Round {
    out_sa: SaId,
    in_sa: SaId,
    spi_out: u32,
    spi_in: u32,
}

fn configure(
    guest: &mut Guest,
    stack: &mut EspStack,
    alg: Algorithm,
    round: usize,
    p: Peers,
    mode: Mode,
) -> Round {
    let (us, them) = (p.us, p.guest);
    let m = match mode {
        Mode::Transport => "transport",
        Mode::Tunnel => "tunnel",
    };
    let spi_out = 0x1000 + 2 * round as u32; // us -> guest
    let spi_in = 0x1001 + 2 * round as u32; // guest -> us
    let k_out = keymat(alg, round, 0);
    let k_in = keymat(alg, round, 1);
    let name = alg.linux_name();
    let cmds = [
        "ip xfrm policy flush".to_string(),
        "ip xfrm state flush".to_string(),
        // Neighbour discovery stays in the clear (our engine does the same).
        "ip xfrm policy add src ::/0 dst ::/0 proto 58 type 135 dir out priority 10".into(),
        "ip xfrm policy add src ::/0 dst ::/0 proto 58 type 135 dir in priority 10".into(),
        "ip xfrm policy add src ::/0 dst ::/0 proto 58 type 136 dir out priority 10".into(),
        "ip xfrm policy add src ::/0 dst ::/0 proto 58 type 136 dir in priority 10".into(),
        format!(
            "ip xfrm state add src {us} dst {them} proto esp spi {spi_out:#x} reqid {round} \
             mode {m} replay-window {REPLAY_WINDOW} aead '{name}' 0x{} 128",
            hex(&k_out)
        ),
        format!(
            "ip xfrm state add src {them} dst {us} proto esp spi {spi_in:#x} reqid {round} \
             mode {m} aead '{name}' 0x{} 128",
            hex(&k_in)
        ),
        format!(
            "ip xfrm policy add src {them} dst {us} dir out priority 100 \
             tmpl src {them} dst {us} proto esp reqid {round} mode {m}"
        ),
        format!(
            "ip xfrm policy add src {us} dst {them} dir in priority 100 \
             tmpl src {us} dst {them} proto esp reqid {round} mode {m}"
        ),
    ];
    for c in &cmds {
        guest
            .run(c)
            .unwrap_or_else(|e| panic!("{}: {e}", alg.name()));
    }

    let now = stack.now();
    let engine = stack.device.engine_mut();
    // Drop the previous round's SAs and policies.
    let old_sas: Vec<SaId> = engine.sad.iter().map(|(id, _)| id).collect();
    for id in old_sas {
        engine.sad.remove(id);
    }
    let old_policies: Vec<_> = engine.spd.iter().map(|(h, _)| h).collect();
    for h in old_policies {
        engine.spd.remove(h);
    }
    let guest_ip = them;
    let sa = |c: SaConfig| match mode {
        Mode::Transport => c,
        Mode::Tunnel => c.tunnel(),
    };
    let out_sa = engine
        .sad
        .add(
            sa(SaConfig::new(
                spi_out,
                Direction::Outbound,
                alg,
                &k_out,
                us,
                guest_ip,
            )),
            now,
        )
        .unwrap();
    let in_sa = engine
        .sad
        .add(
            sa(SaConfig::new(
                spi_in,
                Direction::Inbound,
                alg,
                &k_in,
                us,
                guest_ip,
            ))
            .with_replay_window(REPLAY_WINDOW),
            now,
        )
        .unwrap();
    engine.spd.insert(
        10,
        Selector::hosts(us, guest_ip),
        Action::Protect(Protect {
            service: Service::of(alg),
            outbound: Some(out_sa),
            inbound: Some(in_sa),
        }),
    );
    Round {
        out_sa,
        in_sa,
        spi_out,
        spi_in,
    }
}

fn guest_ping(guest: &mut Guest, stack: &mut EspStack, alg: Algorithm, us: IpAddress) {
    let ping = if matches!(us, IpAddress::Ipv6(_)) {
        "ping6"
    } else {
        "ping"
    };
    let out = guest
        .exec(
            &format!("{ping} -c 3 -W 5 {us}"),
            Duration::from_secs(40),
            &mut || stack.poll_wait(Duration::from_millis(2)),
        )
        .unwrap();
    assert!(
        out.status == 0 && out.text.contains("3 packets received"),
        "{}: guest ping of us failed:\n{}",
        alg.name(),
        out.text
    );
}

fn run_round(
    guest: &mut Guest,
    stack: &mut EspStack,
    link: &LinkHandle,
    alg: Algorithm,
    round: usize,
    p: Peers,
    mode: Mode,
) {
    let t = Instant::now();
    let r = configure(guest, stack, alg, round, p, mode);
    let data: Vec<u8> = (0..ECHO_BYTES)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 11) as u8 ^ round as u8)
        .collect();

    // --- traffic both ways, all of it ESP on the wire ---
    link.take_tx();
    link.take_rx();
    link.set_capture(true);
    stack
        .ping(p.guest, 3, Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{}: our ping of the guest: {e}", alg.name()));
    guest_ping(guest, stack, alg, p.us);
    let took = stack
        .tcp_echo(p.guest, ECHO_PORT, &data, Duration::from_secs(150))
        .unwrap_or_else(|e| panic!("{}: tcp echo: {e}", alg.name()));
    // Let the last ACKs and FINs settle.
    stack.serve_for(Duration::from_millis(300));
    link.set_capture(false);
    let tx = link.take_tx();
    let rx = link.take_rx();
    let esp_tx = check_only_esp(&tx, "our side");
    let esp_rx = check_only_esp(&rx, "guest side");
    // Confidentiality: the stream's bytes never appear on the wire; with
    // GMAC (integrity only) they do. Several probes in both directions, so a
    // segment boundary through one probe cannot decide the outcome.
    let probes: Vec<&[u8]> = [4096, 100_000, 500_000, 900_000]
        .iter()
        .map(|&o| &data[o..o + 24])
        .collect();
    let visible = probes
        .iter()
        .filter(|probe| {
            tx.iter()
                .chain(rx.iter())
                .any(|f| f.windows(probe.len()).any(|w| w == **probe))
        })
        .count();
    if alg.confidential() {
        assert_eq!(visible, 0, "{}: clear payload on the wire", alg.name());
    } else {
        assert!(
            visible > 0,
            "{}: GMAC payload not found in clear",
            alg.name()
        );
    }

    // --- counters: the guest's XFRM states saw the traffic ---
    let g_in = guest_state(guest, r.spi_out);
    let g_out = guest_state(guest, r.spi_in);
    let ours_out = sa_counters(stack, r.out_sa);
    let ours_in = sa_counters(stack, r.in_sa);
    println!(
        "{}: tcp echo {took:?}; ESP frames {esp_tx} out / {esp_rx} in; guest in-state {} pkts {} B, out-state {} pkts {} B; ours out {} pkts, in {} pkts",
        alg.name(),
        g_in.packets,
        g_in.bytes,
        g_out.packets,
        g_out.bytes,
        ours_out.packets,
        ours_in.packets
    );
    assert!(
        g_in.packets >= 3 + 3 + (ECHO_BYTES / 1500) as u64,
        "{}: {g_in:?}",
        alg.name()
    );
    assert!(g_in.bytes >= ECHO_BYTES as u64, "{}: {g_in:?}", alg.name());
    assert!(
        g_out.packets >= 3 + 3 + (ECHO_BYTES / 1500) as u64,
        "{}: {g_out:?}",
        alg.name()
    );
    assert!(
        g_out.bytes >= ECHO_BYTES as u64,
        "{}: {g_out:?}",
        alg.name()
    );
    // Nothing is invented: the guest accepted at most what we protected and
    // we accepted at most what it sent; the link is lossless in practice.
    assert!(
        g_in.packets <= ours_out.packets,
        "{}: {g_in:?} vs {ours_out:?}",
        alg.name()
    );
    assert!(
        ours_in.packets <= g_out.packets,
        "{}: {ours_in:?} vs {g_out:?}",
        alg.name()
    );
    assert_eq!(
        (g_in.replay, g_in.integrity_failed, g_in.replay_window_drops),
        (0, 0, 0),
        "{}",
        alg.name()
    );
    assert_eq!(
        (ours_in.replay, ours_in.integrity_failed),
        (0, 0),
        "{}",
        alg.name()
    );
    let events = drain_events(stack);
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Dropped {
                reason: DropReason::IntegrityFailed | DropReason::Replay,
                ..
            }
        )),
        "{}: {events:?}",
        alg.name()
    );

    // --- replayed and tampered packets towards the guest ---
    let ours_frame = tx
        .iter()
        .rev()
        .find(|f| esp_spi_seq(f).is_some_and(|(spi, _)| spi == r.spi_out))
        .expect("an ESP frame we sent")
        .clone();
    let stat0 = xfrm_stat(guest);
    let before = guest_state(guest, r.spi_out);
    link.send_raw(&ours_frame).unwrap();
    link.send_raw(&tamper(&ours_frame)).unwrap();
    // Give a slow (TCG) guest time to process both frames; the checks below
    // are exact, so waiting longer cannot make a wrong count pass.
    let mut after = before.clone();
    for _ in 0..20 {
        stack.serve_for(Duration::from_millis(200));
        after = guest_state(guest, r.spi_out);
        if after.integrity_failed > before.integrity_failed
            && after.replay + after.replay_window_drops > before.replay + before.replay_window_drops
        {
            break;
        }
    }
    stack.serve_for(Duration::from_millis(200));
    let after2 = guest_state(guest, r.spi_out);
    let drops = |x: &XfrmState| (x.replay, x.replay_window_drops, x.integrity_failed);
    assert_eq!(
        drops(&after),
        drops(&after2),
        "{}: guest drop counters still moving",
        alg.name()
    );
    let stat1 = xfrm_stat(guest);
    let d = |k: &str| stat1.get(k).copied().unwrap_or(0) - stat0.get(k).copied().unwrap_or(0);
    assert_eq!(
        (after.replay + after.replay_window_drops) - (before.replay + before.replay_window_drops),
        1,
        "{}: guest did not count the replay: {before:?} -> {after:?}",
        alg.name()
    );
    assert_eq!(
        after.integrity_failed - before.integrity_failed,
        1,
        "{}: guest did not count the forgery: {before:?} -> {after:?}",
        alg.name()
    );
    assert_eq!(
        after.packets,
        before.packets,
        "{}: guest accepted an injected packet",
        alg.name()
    );
    assert_eq!(
        d("XfrmInStateSeqError"),
        1,
        "{}: {stat0:?} -> {stat1:?}",
        alg.name()
    );
    assert_eq!(
        d("XfrmInStateProtoError"),
        1,
        "{}: {stat0:?} -> {stat1:?}",
        alg.name()
    );

    // --- replayed and tampered packets towards us ---
    let guest_frame = rx
        .iter()
        .rev()
        .find(|f| esp_spi_seq(f).is_some_and(|(spi, _)| spi == r.spi_in))
        .expect("an ESP frame the guest sent")
        .clone();
    let c0 = sa_counters(stack, r.in_sa);
    let e0 = *stack.device.engine().counters();
    link.inject_rx(&guest_frame);
    link.inject_rx(&tamper(&guest_frame));
    stack.poll();
    let c1 = sa_counters(stack, r.in_sa);
    let e1 = *stack.device.engine().counters();
    let events = drain_events(stack);
    println!(
        "{}: our events for the injected frames: {events:?}",
        alg.name()
    );
    let replay_drops = (e1.dropped(DropReason::Replay) + e1.dropped(DropReason::TooOld))
        - (e0.dropped(DropReason::Replay) + e0.dropped(DropReason::TooOld));
    assert_eq!(replay_drops, 1, "{}", alg.name());
    assert_eq!(
        e1.dropped(DropReason::IntegrityFailed) - e0.dropped(DropReason::IntegrityFailed),
        1,
        "{}",
        alg.name()
    );
    assert_eq!(c1.replay - c0.replay, 1, "{}: {c0:?} -> {c1:?}", alg.name());
    assert_eq!(
        c1.integrity_failed - c0.integrity_failed,
        1,
        "{}: {c0:?} -> {c1:?}",
        alg.name()
    );
    assert_eq!(
        c1.packets,
        c0.packets,
        "{}: we accepted an injected packet",
        alg.name()
    );
    let (_, guest_seq) = esp_spi_seq(&guest_frame).unwrap();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Dropped { direction: Direction::Inbound, reason: DropReason::Replay | DropReason::TooOld, spi: Some(s), sequence: Some(q), .. }
                if *s == r.spi_in && *q == u64::from(guest_seq))),
        "{}: no replay event: {events:?}",
        alg.name()
    );
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Dropped { direction: Direction::Inbound, reason: DropReason::IntegrityFailed, spi: Some(s), .. }
                if *s == r.spi_in)),
        "{}: no integrity event: {events:?}",
        alg.name()
    );

    // --- and the SAs still carry traffic afterwards ---
    stack
        .ping(p.guest, 1, Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{}: ping after the injections: {e}", alg.name()));
    println!("{}: round done in {:?}", alg.name(), t.elapsed());
}

#[test]
fn linux_xfrm_interop_all_algorithms() {
    let t0 = Instant::now();
    let Some(mut guest) = Guest::boot_or_skip(&GuestConfig::default()) else {
        return;
    };
    println!(
        "guest kernel {} booted in {:?} with {:?}",
        guest.kernel_release(),
        guest.boot_time(),
        guest.accel()
    );
    guest
        .run(&format!(
            "ip addr add {GUEST}/24 dev eth0 && ip -6 addr add {GUEST6}/64 dev eth0 nodad \
             && ip link set eth0 up"
        ))
        .unwrap();
    guest
        .spawn(&format!("nc -ll -p {ECHO_PORT} -e /bin/cat"))
        .unwrap();
    let link = guest.take_link().unwrap();
    let handle = link.handle();
    let mut stack: EspStack = Stack::new(
        EspDevice::new(link),
        handle.clone(),
        OUR_MAC,
        IpCidr::new(IpAddress::Ipv4(US), 24),
    );
    stack
        .add_address(IpCidr::new(IpAddress::Ipv6(US6), 64))
        .unwrap();

    // Before any SA: our SPD discards, so the guest is unreachable.
    assert!(stack.ping(GUEST, 1, Duration::from_secs(2)).is_err());

    assert!(stack.ping(GUEST6, 1, Duration::from_secs(2)).is_err());

    let mut round = 0;
    for (family, peers) in [("IPv4", V4), ("IPv6", V6)] {
        for alg in ALGORITHMS {
            round += 1;
            println!("--- {} over {family}", alg.name());
            run_round(
                &mut guest,
                &mut stack,
                &handle,
                alg,
                round,
                peers,
                Mode::Transport,
            );
        }
    }
    // Tunnel mode (host to host: outer and inner addresses are the same pair).
    for (alg, family, peers) in [
        (Algorithm::AesGcm128, "IPv4", V4),
        (Algorithm::ChaCha20Poly1305, "IPv6", V6),
    ] {
        round += 1;
        println!("--- {} over {family}, tunnel mode", alg.name());
        run_round(
            &mut guest,
            &mut stack,
            &handle,
            alg,
            round,
            peers,
            Mode::Tunnel,
        );
    }
    println!(
        "linux interop: {} algorithms over IPv4 and IPv6 in transport mode, 2 in tunnel mode, in {:?}",
        ALGORITHMS.len(),
        t0.elapsed()
    );
}

#[test]
fn parses_ip_xfrm_state_output() {
    let text = "src 192.0.2.1 dst 192.0.2.2
\tproto esp spi 0x00001002(4098) reqid 1(0x00000001) mode transport
\treplay-window 32 seq 0x00000000 flag  (0x00000000)
\taead rfc4106(gcm(aes)) 0x00 (160 bits) 128
\tlifetime config:
\t  limit: soft (INF)(bytes), hard (INF)(bytes)
\tlifetime current:
\t  1101948(bytes), 791(packets)
\t  add 2026-11-22 04:10:00 use 2026-11-22 04:10:01
\tstats:
\t  replay-window 2 replay 1 failed 3
src 192.0.2.2 dst 192.0.2.1
\tproto esp spi 0x00001003(4099) reqid 1(0x00000001) mode transport
\tlifetime current:
\t  10(bytes), 1(packets)
";
    let s = parse_states(text);
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0],
        XfrmState {
            src: "192.0.2.1".into(),
            dst: "192.0.2.2".into(),
            spi: 0x1002,
            bytes: 1_101_948,
            packets: 791,
            replay_window_drops: 2,
            replay: 1,
            integrity_failed: 3,
        }
    );
    assert_eq!((s[1].spi, s[1].bytes, s[1].packets), (0x1003, 10, 1));
}

#[test]
fn tampering_moves_the_sequence_ahead_and_flips_a_byte() {
    let mut f = vec![0u8; 14 + 20 + 8 + 40];
    f[12] = 0x08;
    f[14] = 0x45;
    f[23] = 50;
    f[34..38].copy_from_slice(&0x1234u32.to_be_bytes());
    f[38..42].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(esp_spi_seq(&f), Some((0x1234, 7)));
    let t = tamper(&f);
    assert_eq!(esp_spi_seq(&t), Some((0x1234, 100_007)));
    assert_eq!(t[t.len() - 1], 0x80);
    assert_eq!(t.len(), f.len());
    f[23] = 6;
    assert_eq!(esp_spi_seq(&f), None);
}
