//! A hostile TCP peer that sends bytes beyond the window our smoltcp stack
//! advertised (smoltcp issues #1048/#1051, fixed by PR #1079 in 0.13.0).
//!
//! smoltcp 0.12.0 accepted such bytes up to its buffer capacity and then
//! panicked with "attempt to subtract sequence numbers with underflow" in
//! `tcp::Socket::last_scaled_window` when it built the next ACK: a remote
//! crash of the network server. The peer here is hand-written so that it can
//! ignore the window, which no well-behaved stack does.

mod common;

use common::{pipe, PipeEnd};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{ChecksumCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl,
    TcpPacket, TcpRepr, TcpSeqNumber,
};

const OURS: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const PEER: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const OUR_PORT: u16 = 7;
const PEER_PORT: u16 = 40000;
/// Our receive buffer, hence the largest window we advertise.
const RX_CAP: usize = 2048;

/// One segment our stack sent, as the peer sees it.
struct Seen {
    control: TcpControl,
    seq: TcpSeqNumber,
    ack: Option<TcpSeqNumber>,
    window: u16,
    payload: Vec<u8>,
}

fn frame(
    seq: TcpSeqNumber,
    ack: Option<TcpSeqNumber>,
    control: TcpControl,
    data: &[u8],
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: PEER_PORT,
        dst_port: OUR_PORT,
        control,
        seq_number: seq,
        ack_number: ack,
        window_len: 65535,
        window_scale: None,
        max_seg_size: (control == TcpControl::Syn).then_some(1400),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: data,
    };
    let ip = Ipv4Repr {
        src_addr: PEER,
        dst_addr: OURS,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
    let caps = ChecksumCapabilities::default();
    let mut ipp = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ipp, &caps);
    let mut tcpp = TcpPacket::new_unchecked(ipp.payload_mut());
    tcp.emit(
        &mut tcpp,
        &IpAddress::Ipv4(PEER),
        &IpAddress::Ipv4(OURS),
        &caps,
    );
    buf
}

fn seen(dev: &PipeEnd) -> Vec<Seen> {
    dev.take_sent()
        .iter()
        .map(|f| {
            let ipp = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert_eq!(ipp.next_header(), IpProtocol::Tcp);
            let tcpp = TcpPacket::new_checked(ipp.payload()).unwrap();
            let repr = TcpRepr::parse(
                &tcpp,
                &IpAddress::Ipv4(OURS),
                &IpAddress::Ipv4(PEER),
                &ChecksumCapabilities::default(),
            )
            .unwrap();
            assert_ne!(
                repr.control,
                TcpControl::Rst,
                "our stack reset the connection"
            );
            Seen {
                control: repr.control,
                seq: repr.seq_number,
                ack: repr.ack_number,
                window: repr.window_len,
                payload: repr.payload.to_vec(),
            }
        })
        .collect()
}

#[test]
fn peer_sending_beyond_the_advertised_window_neither_panics_nor_breaks_the_connection() {
    let (mut dev, _peer_end) = pipe(Medium::Ip);
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut dev, Instant::ZERO);
    iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(OURS), 24)).unwrap());
    let mut sockets = SocketSet::new(vec![]);
    let mut sock = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; RX_CAP]),
        tcp::SocketBuffer::new(vec![0; 4096]),
    );
    sock.listen(OUR_PORT).unwrap();
    let h = sockets.add(sock);
    let mut now = Instant::ZERO;

    // Handshake.
    let isn = TcpSeqNumber(1000);
    dev.inject(frame(isn, None, TcpControl::Syn, &[]));
    iface.poll(now, &mut dev, &mut sockets);
    let synack = seen(&dev);
    assert_eq!(synack.len(), 1);
    assert_eq!(synack[0].control, TcpControl::Syn);
    assert_eq!(synack[0].ack, Some(isn + 1));
    assert_eq!(usize::from(synack[0].window), RX_CAP);
    let their_next = synack[0].seq + 1;
    dev.inject(frame(isn + 1, Some(their_next), TcpControl::None, &[]));
    iface.poll(now, &mut dev, &mut sockets);
    assert_eq!(
        sockets.get::<tcp::Socket>(h).state(),
        tcp::State::Established
    );
    seen(&dev);

    // 1000 bytes: the ACK is delayed, so the last window we advertised still
    // ends at isn + 1 + RX_CAP.
    let data: Vec<u8> = (0..6000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    dev.inject(frame(
        isn + 1,
        Some(their_next),
        TcpControl::Psh,
        &data[..1000],
    ));
    iface.poll(now, &mut dev, &mut sockets);
    assert!(
        seen(&dev).is_empty(),
        "the first segment's ACK must be delayed for this scenario"
    );
    // The application drains the buffer; the window grows but no update goes out.
    let mut got = Vec::new();
    sockets
        .get_mut::<tcp::Socket>(h)
        .recv(|b| {
            got.extend_from_slice(b);
            (b.len(), ())
        })
        .unwrap();
    assert_eq!(got.len(), 1000);

    // The hostile part: 1400 more bytes, 352 of them beyond the advertised
    // window end (1000 + 1400 > RX_CAP) yet within our free buffer. smoltcp
    // 0.12 accepted them all and panicked building the ACK. From here on the
    // peer always sends a full 1400 bytes from the last acknowledged byte,
    // whatever window we advertise, until everything is through.
    let mut acked = 1000usize;
    let mut rounds = 0;
    while acked < data.len() {
        rounds += 1;
        assert!(rounds < 100, "no progress: {acked} bytes acknowledged");
        let end = (acked + 1400).min(data.len());
        let seq = isn + 1 + acked;
        dev.inject(frame(
            seq,
            Some(their_next),
            TcpControl::Psh,
            &data[acked..end],
        ));
        iface.poll(now, &mut dev, &mut sockets);
        // Let any delayed ACK go out.
        now += Duration::from_millis(50);
        iface.poll(now, &mut dev, &mut sockets);
        for s in seen(&dev) {
            let ack = s
                .ack
                .expect("every segment after the handshake acknowledges");
            let upto = ack - (isn + 1);
            assert!(upto <= end, "acknowledged bytes never sent");
            acked = acked.max(upto);
        }
        sockets
            .get_mut::<tcp::Socket>(h)
            .recv(|b| {
                got.extend_from_slice(b);
                (b.len(), ())
            })
            .unwrap();
    }
    assert_eq!(got, data, "the byte stream arrived intact and in order");

    // The connection still works the other way round.
    let sock = sockets.get_mut::<tcp::Socket>(h);
    assert_eq!(sock.state(), tcp::State::Established);
    sock.send_slice(b"still alive").unwrap();
    iface.poll(now, &mut dev, &mut sockets);
    let reply: Vec<u8> = seen(&dev).into_iter().flat_map(|s| s.payload).collect();
    assert_eq!(reply, b"still alive");
}
