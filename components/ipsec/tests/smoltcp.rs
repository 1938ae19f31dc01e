//! smoltcp's TCP and UDP sockets over ESP between two stacks in one process.

mod common;

use common::{pipe, PipeEnd};
use ipsec::{
    Action, Algorithm, Direction, DropReason, EspDevice, Event, HostPair, Mode, Service,
    ALL_ALGORITHMS,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Medium;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv6Address,
};

struct Node {
    iface: Interface,
    dev: EspDevice<PipeEnd>,
    sockets: SocketSet<'static>,
}

fn key(alg: Algorithm, seed: u8) -> Vec<u8> {
    (0..alg.keymat_len() as u8)
        .map(|i| i.wrapping_mul(31) ^ seed)
        .collect()
}

const A4: IpAddress = IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1));
const B4: IpAddress = IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2));
const A6: IpAddress = IpAddress::Ipv6(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
const B6: IpAddress = IpAddress::Ipv6(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));

fn node(end: PipeEnd, mac: u8, v4: IpAddress, v6: IpAddress) -> Node {
    let mut dev = EspDevice::new(end);
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
        2, 0, 0, 0, 0, mac,
    ])));
    config.random_seed = u64::from(mac);
    let mut iface = Interface::new(config, &mut dev, Instant::ZERO);
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(v4, 24)).unwrap();
        a.push(IpCidr::new(v6, 64)).unwrap();
    });
    Node {
        iface,
        dev,
        sockets: SocketSet::new(vec![]),
    }
}

/// Two nodes with hand-keyed SA pairs for IPv4 and IPv6.
fn setup(alg: Algorithm, mode: Mode) -> (Node, Node, [HostPair; 4]) {
    let (ea, eb) = pipe(Medium::Ethernet);
    let mut a = node(ea, 1, A4, A6);
    let mut b = node(eb, 2, B4, B6);
    let now = Instant::ZERO;
    let (k1, k2) = (key(alg, 1), key(alg, 2));
    let pa4 = a
        .dev
        .engine_mut()
        .add_host_pair(alg, mode, A4, B4, (0x1001, &k1), (0x2001, &k2), 10, now)
        .unwrap();
    let pb4 = b
        .dev
        .engine_mut()
        .add_host_pair(alg, mode, B4, A4, (0x2001, &k2), (0x1001, &k1), 10, now)
        .unwrap();
    let pa6 = a
        .dev
        .engine_mut()
        .add_host_pair(alg, mode, A6, B6, (0x1006, &k1), (0x2006, &k2), 10, now)
        .unwrap();
    let pb6 = b
        .dev
        .engine_mut()
        .add_host_pair(alg, mode, B6, A6, (0x2006, &k2), (0x1006, &k1), 10, now)
        .unwrap();
    (a, b, [pa4, pb4, pa6, pb6])
}

fn poll(a: &mut Node, b: &mut Node, now: Instant) {
    a.iface.poll(now, &mut a.dev, &mut a.sockets);
    b.iface.poll(now, &mut b.dev, &mut b.sockets);
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
    )
}

/// Send `data` from a to b's echo server and read it back; returns the echo.
fn tcp_echo(a: &mut Node, b: &mut Node, server: IpAddress, data: &[u8]) -> Vec<u8> {
    let hs = b.sockets.add(tcp_socket());
    b.sockets.get_mut::<tcp::Socket>(hs).listen(7).unwrap();
    let hc = a.sockets.add(tcp_socket());
    a.sockets
        .get_mut::<tcp::Socket>(hc)
        .connect(a.iface.context(), (server, 7), 49152)
        .unwrap();
    let mut sent = 0;
    let mut echo = Vec::new();
    let mut now = Instant::ZERO;
    for _ in 0..200_000 {
        now += smoltcp::time::Duration::from_millis(1);
        poll(a, b, now);
        let c = a.sockets.get_mut::<tcp::Socket>(hc);
        if c.can_send() && sent < data.len() {
            sent += c.send_slice(&data[sent..]).unwrap();
        }
        if c.can_recv() {
            c.recv(|buf| {
                echo.extend_from_slice(buf);
                (buf.len(), ())
            })
            .unwrap();
        }
        let s = b.sockets.get_mut::<tcp::Socket>(hs);
        if s.can_recv() && s.can_send() {
            let mut tmp = [0u8; 8192];
            let room = s.send_capacity() - s.send_queue();
            let n = s.peek_slice(&mut tmp[..room.min(8192)]).unwrap();
            let n = s.send_slice(&tmp[..n]).unwrap();
            s.recv(|_| (n, ())).unwrap();
        }
        if echo.len() >= data.len() {
            break;
        }
    }
    echo
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn tcp_echo_over_esp_every_algorithm_v4_and_v6() {
    for alg in ALL_ALGORITHMS {
        for (server, idx) in [(B4, 0usize), (B6, 2)] {
            let (mut a, mut b, pairs) = setup(alg, Mode::Transport);
            a.dev.inner_mut().record = true;
            let data = payload(60_000);
            let echo = tcp_echo(&mut a, &mut b, server, &data);
            assert_eq!(echo.len(), data.len(), "{alg:?} {server}");
            assert!(echo == data, "{alg:?} {server}: echo differs");
            // The SAs carried the traffic.
            let out = a.dev.engine().sad.get(pairs[idx].outbound).unwrap();
            let inb = a.dev.engine().sad.get(pairs[idx].inbound).unwrap();
            assert!(out.counters().packets > 20, "{alg:?}");
            assert!(inb.counters().packets > 20, "{alg:?}");
            assert!(out.counters().bytes >= data.len() as u64);
            assert_eq!(a.dev.engine().counters().dropped_total(), 0);
            assert_eq!(b.dev.engine().counters().dropped_total(), 0);
            // Nothing but ESP, ARP and neighbour discovery went over the wire,
            // and the payload never appears in clear (for encrypting SAs).
            let wire = a.dev.inner().wire.borrow();
            assert!(!wire.is_empty());
            for f in wire.iter() {
                let ethertype = u16::from_be_bytes([f[12], f[13]]);
                match ethertype {
                    0x0806 => {}
                    0x0800 => assert_eq!(f[14 + 9], 50, "clear IPv4 frame"),
                    0x86dd => {
                        let nh = f[14 + 6];
                        let nd = nh == 58 && (133..=137).contains(&f[14 + 40]);
                        assert!(nh == 50 || nd, "clear IPv6 frame, next header {nh}");
                    }
                    t => panic!("unexpected ethertype {t:#x}"),
                }
                if alg.confidential() {
                    let needle = &data[1000..1032];
                    assert!(
                        !f.windows(32).any(|w| w == needle),
                        "clear payload on the wire"
                    );
                }
            }
            // The policy records how the last inbound packet was protected.
            let stats = a.dev.engine().spd.get(pairs[idx].policy).unwrap().stats;
            let last = stats.last_inbound.expect("last inbound");
            assert_eq!(last.sa, pairs[idx].inbound);
            assert_eq!(last.algorithm, alg);
            assert_eq!(last.service, Service::of(alg));
            assert_eq!(last.peer, server);
        }
    }
}

#[test]
fn tcp_echo_over_esp_tunnel_mode() {
    for server in [B4, B6] {
        let (mut a, mut b, _) = setup(Algorithm::AesGcm128, Mode::Tunnel);
        let data = payload(30_000);
        let echo = tcp_echo(&mut a, &mut b, server, &data);
        assert!(echo == data, "tunnel {server}");
    }
}

#[test]
fn udp_over_esp_reports_provenance() {
    let (mut a, mut b, pairs) = setup(Algorithm::ChaCha20Poly1305, Mode::Transport);
    let mk = || {
        udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 4096]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 4096]),
        )
    };
    let ha: SocketHandle = a.sockets.add(mk());
    let hb: SocketHandle = b.sockets.add(mk());
    a.sockets.get_mut::<udp::Socket>(ha).bind(5000).unwrap();
    b.sockets.get_mut::<udp::Socket>(hb).bind(6000).unwrap();
    let mut now = Instant::ZERO;
    let mut got = None;
    for i in 0..200 {
        now += smoltcp::time::Duration::from_millis(1);
        if i % 20 == 0 {
            let _ = a
                .sockets
                .get_mut::<udp::Socket>(ha)
                .send_slice(b"hello over esp", (B4, 6000));
        }
        poll(&mut a, &mut b, now);
        if let Ok((data, meta)) = b.sockets.get_mut::<udp::Socket>(hb).recv() {
            got = Some((data.to_vec(), meta.meta));
            break;
        }
    }
    let (data, meta) = got.expect("datagram received");
    assert_eq!(data, b"hello over esp");
    let info = b
        .dev
        .inbound_info(meta)
        .expect("provenance of the datagram");
    assert_eq!(info.sa, pairs[1].inbound);
    assert_eq!(info.spi, 0x1001);
    assert_eq!(info.peer, A4);
    assert_eq!(info.policy, Some(pairs[1].policy));
}

#[test]
fn wrong_key_delivers_nothing_and_is_reported() {
    let (ea, eb) = pipe(Medium::Ethernet);
    let mut a = node(ea, 1, A4, A6);
    let mut b = node(eb, 2, B4, B6);
    let alg = Algorithm::AesGcm256;
    let (k1, k2, k3) = (key(alg, 1), key(alg, 2), key(alg, 3));
    let now = Instant::ZERO;
    a.dev
        .engine_mut()
        .add_host_pair(
            alg,
            Mode::Transport,
            A4,
            B4,
            (0x1001, &k1),
            (0x2001, &k2),
            1,
            now,
        )
        .unwrap();
    // b has the wrong key for a's outbound SA.
    b.dev
        .engine_mut()
        .add_host_pair(
            alg,
            Mode::Transport,
            B4,
            A4,
            (0x2001, &k2),
            (0x1001, &k3),
            1,
            now,
        )
        .unwrap();
    let echo = {
        let hs = b.sockets.add(tcp_socket());
        b.sockets.get_mut::<tcp::Socket>(hs).listen(7).unwrap();
        let hc = a.sockets.add(tcp_socket());
        a.sockets
            .get_mut::<tcp::Socket>(hc)
            .connect(a.iface.context(), (B4, 7), 49152)
            .unwrap();
        let mut t = Instant::ZERO;
        for _ in 0..3000 {
            t += smoltcp::time::Duration::from_millis(1);
            poll(&mut a, &mut b, t);
        }
        a.sockets.get::<tcp::Socket>(hc).state()
    };
    assert_ne!(echo, tcp::State::Established);
    let c = b.dev.engine().counters();
    assert!(c.dropped(DropReason::IntegrityFailed) > 0);
    let mut saw = false;
    while let Some(e) = b.dev.engine_mut().poll_event() {
        if let Event::Dropped {
            direction: Direction::Inbound,
            reason: DropReason::IntegrityFailed,
            spi: Some(0x1001),
            ..
        } = e
        {
            saw = true;
        }
    }
    assert!(saw, "integrity failure reported as an event");
}

#[test]
fn policy_removed_at_run_time_stops_traffic() {
    let (mut a, mut b, pairs) = setup(Algorithm::AesGcm128, Mode::Transport);
    let data = payload(5000);
    assert!(tcp_echo(&mut a, &mut b, B4, &data) == data);
    // Remove a's IPv4 policy: its packets to b now hit the default DISCARD.
    a.dev.engine_mut().spd.remove(pairs[0].policy).unwrap();
    assert_eq!(a.dev.engine().spd.default_action(), Action::Discard);
    let before = a.dev.engine().counters().dropped(DropReason::PolicyDiscard);
    let echo = tcp_echo(&mut a, &mut b, B4, &data[..100]);
    assert!(echo.is_empty());
    assert!(a.dev.engine().counters().dropped(DropReason::PolicyDiscard) > before);
}

#[test]
fn ping_over_esp() {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::socket::icmp;
    use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr};

    let (mut a, mut b, pairs) = setup(Algorithm::AesGmac256, Mode::Transport);
    let h = a.sockets.add(icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
    ));
    a.sockets
        .get_mut::<icmp::Socket>(h)
        .bind(icmp::Endpoint::Ident(0x22))
        .unwrap();
    let mut now = Instant::ZERO;
    let mut replied = false;
    for i in 0..300 {
        now += smoltcp::time::Duration::from_millis(1);
        let s = a.sockets.get_mut::<icmp::Socket>(h);
        if i % 50 == 0 && s.can_send() {
            let repr = Icmpv4Repr::EchoRequest {
                ident: 0x22,
                seq_no: i as u16,
                data: b"ping over esp",
            };
            let buf = s.send(repr.buffer_len(), B4).unwrap();
            repr.emit(
                &mut Icmpv4Packet::new_unchecked(buf),
                &ChecksumCapabilities::default(),
            );
        }
        poll(&mut a, &mut b, now);
        let s = a.sockets.get_mut::<icmp::Socket>(h);
        if let Ok((data, from)) = s.recv() {
            let p = Icmpv4Packet::new_checked(data).unwrap();
            let r = Icmpv4Repr::parse(&p, &ChecksumCapabilities::default()).unwrap();
            assert!(matches!(
                r,
                Icmpv4Repr::EchoReply {
                    ident: 0x22,
                    data: b"ping over esp",
                    ..
                }
            ));
            assert_eq!(from, B4);
            replied = true;
            break;
        }
    }
    assert!(replied, "echo reply over ESP");
    // Both directions went through the SAs.
    assert!(
        b.dev
            .engine()
            .sad
            .get(pairs[1].inbound)
            .unwrap()
            .counters()
            .packets
            >= 1
    );
    assert!(
        a.dev
            .engine()
            .sad
            .get(pairs[0].inbound)
            .unwrap()
            .counters()
            .packets
            >= 1
    );
}

#[test]
fn device_asks_smoltcp_for_software_checksums_and_a_smaller_mtu() {
    use smoltcp::phy::{Checksum, Device};
    let (mut ea, _eb) = pipe(Medium::Ethernet);
    ea.offload = true;
    assert!(matches!(ea.capabilities().checksum.tcp, Checksum::None));
    let inner_mtu = ea.capabilities().max_transmission_unit;
    let dev = EspDevice::new(ea);
    let caps = dev.capabilities();
    assert_eq!(caps.max_transmission_unit, inner_mtu - ipsec::MAX_OVERHEAD);
    assert!(matches!(caps.checksum.ipv4, Checksum::Both));
    assert!(matches!(caps.checksum.tcp, Checksum::Both));
    assert!(matches!(caps.checksum.udp, Checksum::Both));
}

/// Replayed, tampered and garbage frames injected while TCP runs: each is
/// dropped and counted, and the connection carries on unharmed.
#[test]
fn hostile_frames_during_tcp_are_dropped_and_counted() {
    let (mut a, mut b, _) = setup(Algorithm::AesGcm128, Mode::Transport);
    a.dev.inner_mut().record = true;
    // A first exchange to have genuine ESP frames from a to b on record.
    let data = payload(20_000);
    assert!(tcp_echo(&mut a, &mut b, B4, &data) == data);
    let frames: Vec<Vec<u8>> = a
        .dev
        .inner()
        .wire
        .borrow()
        .iter()
        .filter(|f| f.len() > 100 && u16::from_be_bytes([f[12], f[13]]) == 0x0800)
        .cloned()
        .collect();
    assert!(frames.len() > 5);
    let replayed = frames[3].clone();
    // A fresh sequence number passes the replay check, then fails the ICV
    // (a copy with its old number would be refused as a replay first).
    let mut tampered = frames[4].clone();
    tampered[14 + 24..14 + 28].copy_from_slice(&1_000_000u32.to_be_bytes());
    let mut unknown_spi = frames[5].clone();
    unknown_spi[14 + 20] ^= 0xff;
    let before = *b.dev.engine().counters();
    for f in [
        replayed,
        tampered,
        unknown_spi,
        vec![0xff; 60],
        frames[0][..30].to_vec(),
    ] {
        b.dev.inner().inject(f);
    }
    // A second exchange on a new connection still works.
    let data2 = payload(20_000);
    let hs = b.sockets.add(tcp_socket());
    b.sockets.get_mut::<tcp::Socket>(hs).listen(8).unwrap();
    let hc = a.sockets.add(tcp_socket());
    a.sockets
        .get_mut::<tcp::Socket>(hc)
        .connect(a.iface.context(), (B4, 8), 49153)
        .unwrap();
    let (mut sent, mut got) = (0, Vec::new());
    let mut now = Instant::from_secs(100);
    for _ in 0..100_000 {
        now += smoltcp::time::Duration::from_millis(1);
        poll(&mut a, &mut b, now);
        let c = a.sockets.get_mut::<tcp::Socket>(hc);
        if c.can_send() && sent < data2.len() {
            sent += c.send_slice(&data2[sent..]).unwrap();
        }
        let s = b.sockets.get_mut::<tcp::Socket>(hs);
        if s.can_recv() {
            s.recv(|buf| {
                got.extend_from_slice(buf);
                (buf.len(), ())
            })
            .unwrap();
        }
        if got.len() >= data2.len() {
            break;
        }
    }
    assert!(got == data2);
    let after = b.dev.engine().counters();
    let delta = |r| after.dropped(r) - before.dropped(r);
    assert_eq!(delta(DropReason::Replay), 1);
    assert_eq!(delta(DropReason::IntegrityFailed), 1);
    assert_eq!(delta(DropReason::UnknownSpi), 1);
    // The 0xff frame is not IP (ethertype 0xffff): it passes to smoltcp,
    // which ignores it; the 30-byte frame is a malformed IPv4 packet.
    assert_eq!(delta(DropReason::Malformed), 1);
}

#[test]
fn device_reports_time_lifetimes_while_idle() {
    use ipsec::{Lifetime, LifetimeKind, SaConfig};
    let (mut a, mut b, _) = setup(Algorithm::AesGcm128, Mode::Transport);
    let k = key(Algorithm::AesGcm128, 9);
    let id = a
        .dev
        .engine_mut()
        .sad
        .add(
            SaConfig::new(0x3000, Direction::Inbound, Algorithm::AesGcm128, &k, A4, B4)
                .with_lifetimes(
                    Lifetime::default(),
                    Lifetime {
                        seconds: Some(5),
                        ..Default::default()
                    },
                ),
            Instant::ZERO,
        )
        .unwrap();
    poll(&mut a, &mut b, Instant::from_secs(4));
    assert_eq!(
        a.dev.engine().sad.get(id).unwrap().state(),
        ipsec::SaState::Mature
    );
    poll(&mut a, &mut b, Instant::from_secs(6));
    assert_eq!(
        a.dev.engine().sad.get(id).unwrap().state(),
        ipsec::SaState::Expired
    );
    let events: Vec<Event> = std::iter::from_fn(|| a.dev.engine_mut().poll_event()).collect();
    assert!(events.contains(&Event::HardExpired {
        sa: id,
        spi: 0x3000,
        kind: LifetimeKind::Seconds
    }));
}
