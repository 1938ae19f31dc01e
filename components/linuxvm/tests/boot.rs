//! Boots the stock Debian kernel in QEMU and checks plain IP between it and a
//! smoltcp stack over the loopback UDP link: ping both ways (IPv4 and IPv6)
//! and a 1 MiB TCP echo verified byte for byte. Skips (saying why) when QEMU, busybox or the
//! kernel package are missing, unless `LINUXVM_REQUIRE=1`.

use std::time::{Duration, Instant};

use linuxvm::{Guest, GuestConfig, Stack};
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv6Address};

const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

#[test]
fn plain_ip_ping_both_ways_and_tcp_echo_with_linux() {
    let t0 = Instant::now();
    let Some(mut guest) = Guest::boot_or_skip(&GuestConfig::default()) else {
        return;
    };
    println!(
        "guest {} booted in {:?} ({:?})",
        guest.kernel_release(),
        guest.boot_time(),
        guest.accel()
    );
    let uname = guest.run("uname -r").unwrap();
    assert_eq!(uname.trim(), guest.kernel_release());
    // A failing command reports its status and output.
    match guest.run("ls /nonexistent") {
        Err(linuxvm::Error::CommandFailed { status, output, .. }) => {
            assert_ne!(status, 0);
            assert!(output.contains("nonexistent"), "{output}");
        }
        other => panic!("expected a failed command, got {other:?}"),
    }

    // `ip` is iproute2's (busybox's has no xfrm).
    let v = guest.run("ip -V").unwrap();
    assert!(v.contains("iproute2"), "{v}");
    guest.run("ip xfrm state").unwrap();

    guest
        .run(
            "ip addr add 192.0.2.2/24 dev eth0 && ip -6 addr add 2001:db8::2/64 dev eth0 nodad \
             && ip link set eth0 up",
        )
        .unwrap();
    guest.spawn("nc -ll -p 7 -e /bin/cat").unwrap();

    let link = guest.take_link().unwrap();
    let handle = link.handle();
    let mut stack = Stack::new(
        link,
        handle.clone(),
        OUR_MAC,
        IpCidr::new(IpAddress::v4(192, 0, 2, 1), 24),
    );
    stack
        .add_address(IpCidr::new(
            IpAddress::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            64,
        ))
        .unwrap();
    let guest_ip = Ipv4Address::new(192, 0, 2, 2);
    let guest_ip6 = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    // Our stack pings the guest (the first one also resolves ARP).
    let rtts = stack.ping(guest_ip, 3, Duration::from_secs(10)).unwrap();
    println!("ping guest: {rtts:?}");
    assert_eq!(rtts.len(), 3);

    // The guest pings us; smoltcp answers echo requests by itself.
    let out = guest
        .exec(
            "ping -c 3 -W 5 192.0.2.1",
            Duration::from_secs(30),
            &mut || stack.poll_wait(Duration::from_millis(2)),
        )
        .unwrap();
    println!("{}", out.text);
    assert_eq!(out.status, 0, "guest ping failed:\n{}", out.text);
    assert!(out.text.contains("3 packets received"), "{}", out.text);

    // The same over IPv6 (neighbour discovery included).
    let rtts = stack.ping(guest_ip6, 2, Duration::from_secs(10)).unwrap();
    assert_eq!(rtts.len(), 2);
    let out = guest
        .exec(
            "ping6 -c 2 -W 5 2001:db8::1",
            Duration::from_secs(30),
            &mut || stack.poll_wait(Duration::from_millis(2)),
        )
        .unwrap();
    assert_eq!(out.status, 0, "guest ping6 failed:\n{}", out.text);
    assert!(out.text.contains("2 packets received"), "{}", out.text);

    // 1 MiB through the guest's echo server, checked byte for byte.
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let took = stack
        .tcp_echo(
            IpAddress::Ipv4(guest_ip),
            7,
            &data,
            Duration::from_secs(120),
        )
        .unwrap();
    println!(
        "tcp echo of {} bytes in {took:?} ({:.1} MB/s each way)",
        data.len(),
        data.len() as f64 / took.as_secs_f64() / 1e6
    );

    // The guest's own counters saw the traffic.
    let stats = guest
        .run("cat /sys/class/net/eth0/statistics/rx_bytes")
        .unwrap();
    let rx: u64 = stats.trim().parse().unwrap();
    assert!(rx > 1 << 20, "guest received only {rx} bytes");
    let (sent, received) = handle.counters();
    assert!(sent > 100 && received > 100, "{sent} {received}");
    println!("whole test {:?}", t0.elapsed());
}
