//! A small smoltcp stack driver for tests: poll, ping, TCP echo. Generic over
//! the device so the same checks run over plain Ethernet or over a wrapper
//! (e.g. an IPsec layer) around a [`UdpEthernet`](crate::UdpEthernet).

use std::time::{Duration, Instant as StdInstant};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{ChecksumCapabilities, Device};
use smoltcp::socket::{icmp, tcp};
use smoltcp::time::{Duration as SmolDuration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr,
    IpAddress, IpCidr, Ipv6Address,
};

use crate::udp::LinkHandle;
use crate::Error;

/// An interface, its device and sockets, and a clock.
pub struct Stack<D: Device> {
    /// The smoltcp interface.
    pub iface: Interface,
    /// The device (possibly a wrapper around the link).
    pub device: D,
    /// The sockets.
    pub sockets: SocketSet<'static>,
    link: LinkHandle,
    epoch: StdInstant,
    next_port: u16,
}

impl<D: Device> Stack<D> {
    /// An interface with hardware address `mac` and address `cidr` on
    /// `device`; `link` is the handle of the underlying UDP link, used to
    /// sleep until traffic arrives.
    pub fn new(mut device: D, link: LinkHandle, mac: [u8; 6], cidr: IpCidr) -> Self {
        let epoch = StdInstant::now();
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let mut iface = Interface::new(config, &mut device, Instant::from_millis(0));
        iface.update_ip_addrs(|a| {
            // A fresh interface has room for several addresses.
            let _ = a.push(cidr);
        });
        Self {
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            link,
            epoch,
            next_port: 49152,
        }
    }

    /// Adds another address (e.g. an IPv6 one next to the IPv4 one).
    pub fn add_address(&mut self, cidr: IpCidr) -> Result<(), Error> {
        let mut res = Ok(());
        self.iface.update_ip_addrs(|a| {
            if a.push(cidr).is_err() {
                res = Err(Error::Net(format!("no room for address {cidr}")));
            }
        });
        res
    }

    /// Our first IPv6 address.
    fn ipv6_source(&self) -> Option<Ipv6Address> {
        self.iface
            .ip_addrs()
            .iter()
            .find_map(|c| match c.address() {
                IpAddress::Ipv6(a) => Some(a),
                _ => None,
            })
    }

    /// The stack's clock.
    pub fn now(&self) -> Instant {
        Instant::from_micros(i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX))
    }

    /// Processes everything pending.
    pub fn poll(&mut self) {
        let now = self.now();
        self.iface.poll(now, &mut self.device, &mut self.sockets);
    }

    /// Polls, then sleeps until traffic arrives, a timer is due, or `max`.
    pub fn poll_wait(&mut self, max: Duration) {
        self.poll();
        let now = self.now();
        let delay = match self.iface.poll_delay(now, &self.sockets) {
            Some(d) => Duration::from_micros(d.total_micros()).min(max),
            None => max,
        };
        if !delay.is_zero() {
            self.link.wait(delay);
        }
        self.poll();
    }

    /// Keeps the stack running (answering ARP, pings, ...) for `dur`.
    pub fn serve_for(&mut self, dur: Duration) {
        let end = StdInstant::now() + dur;
        while StdInstant::now() < end {
            self.poll_wait(end.saturating_duration_since(StdInstant::now()));
        }
    }

    fn local_port(&mut self) -> u16 {
        self.next_port = if self.next_port >= 65000 {
            49152
        } else {
            self.next_port + 1
        };
        self.next_port
    }

    /// Sends `count` ICMP (or ICMPv6) echo requests (56 data bytes) to
    /// `dst`, one at a time, and returns the round-trip time of each. Every
    /// request must be answered within `timeout`.
    pub fn ping(
        &mut self,
        dst: impl Into<IpAddress>,
        count: u16,
        timeout: Duration,
    ) -> Result<Vec<Duration>, Error> {
        let dst = dst.into();
        let sock = icmp::Socket::new(
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
        );
        let h = self.sockets.add(sock);
        let r = self.ping_inner(h, dst, count, timeout);
        self.sockets.remove(h);
        r
    }

    fn ping_inner(
        &mut self,
        h: SocketHandle,
        dst: IpAddress,
        count: u16,
        timeout: Duration,
    ) -> Result<Vec<Duration>, Error> {
        let src6 = match dst {
            IpAddress::Ipv6(_) => Some(
                self.ipv6_source()
                    .ok_or_else(|| Error::Net("no IPv6 address to ping from".into()))?,
            ),
            IpAddress::Ipv4(_) => None,
        };
        let ident = self.local_port();
        self.sockets
            .get_mut::<icmp::Socket>(h)
            .bind(icmp::Endpoint::Ident(ident))
            .map_err(|e| Error::Net(format!("icmp bind: {e}")))?;
        let caps = ChecksumCapabilities::default();
        let mut rtts = Vec::new();
        for seq_no in 0..count {
            let sent: Vec<u8> = (0..56u8).map(|i| i ^ seq_no as u8).collect();
            let started = StdInstant::now();
            {
                let s = self.sockets.get_mut::<icmp::Socket>(h);
                match (dst, src6) {
                    (IpAddress::Ipv6(d), Some(src)) => {
                        let repr = Icmpv6Repr::EchoRequest {
                            ident,
                            seq_no,
                            data: &sent,
                        };
                        let buf = s
                            .send(repr.buffer_len(), dst)
                            .map_err(|e| Error::Net(format!("icmp send: {e}")))?;
                        repr.emit(&src, &d, &mut Icmpv6Packet::new_unchecked(buf), &caps);
                    }
                    _ => {
                        let repr = Icmpv4Repr::EchoRequest {
                            ident,
                            seq_no,
                            data: &sent,
                        };
                        let buf = s
                            .send(repr.buffer_len(), dst)
                            .map_err(|e| Error::Net(format!("icmp send: {e}")))?;
                        repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
                    }
                }
            }
            let deadline = started + timeout;
            loop {
                self.poll_wait(Duration::from_millis(20));
                let s = self.sockets.get_mut::<icmp::Socket>(h);
                let mut got = false;
                while let Ok((payload, from)) = s.recv() {
                    if from != dst {
                        continue;
                    }
                    let reply = match (dst, src6) {
                        (IpAddress::Ipv6(d), Some(src)) => Icmpv6Packet::new_checked(payload)
                            .ok()
                            .and_then(|p| Icmpv6Repr::parse(&d, &src, &p, &caps).ok())
                            .and_then(|r| match r {
                                Icmpv6Repr::EchoReply {
                                    ident: i,
                                    seq_no: n,
                                    data: d,
                                } => Some((i, n, d == &sent[..])),
                                _ => None,
                            }),
                        _ => Icmpv4Packet::new_checked(payload)
                            .ok()
                            .and_then(|p| Icmpv4Repr::parse(&p, &caps).ok())
                            .and_then(|r| match r {
                                Icmpv4Repr::EchoReply {
                                    ident: i,
                                    seq_no: n,
                                    data: d,
                                } => Some((i, n, d == &sent[..])),
                                _ => None,
                            }),
                    };
                    if reply == Some((ident, seq_no, true)) {
                        got = true;
                    }
                }
                if got {
                    rtts.push(started.elapsed());
                    break;
                }
                if StdInstant::now() >= deadline {
                    return Err(Error::Net(format!(
                        "no echo reply from {dst} for seq {seq_no} within {timeout:?}"
                    )));
                }
            }
        }
        Ok(rtts)
    }

    /// Connects to an echo server at `dst:port`, sends `data` and checks that
    /// exactly the same bytes come back, in order. Returns the elapsed time.
    pub fn tcp_echo(
        &mut self,
        dst: IpAddress,
        port: u16,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Duration, Error> {
        let mut sock = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65535]),
            tcp::SocketBuffer::new(vec![0; 65535]),
        );
        sock.set_timeout(Some(SmolDuration::from_secs(20)));
        let h = self.sockets.add(sock);
        let r = self.tcp_echo_inner(h, dst, port, data, timeout);
        self.sockets.get_mut::<tcp::Socket>(h).abort();
        self.poll();
        self.sockets.remove(h);
        r
    }

    fn tcp_echo_inner(
        &mut self,
        h: SocketHandle,
        dst: IpAddress,
        port: u16,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Duration, Error> {
        let local = self.local_port();
        let started = StdInstant::now();
        self.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(self.iface.context(), (dst, port), local)
            .map_err(|e| Error::Net(format!("tcp connect: {e}")))?;
        let (mut sent, mut recvd) = (0usize, 0usize);
        let deadline = started + timeout;
        while recvd < data.len() {
            self.poll_wait(Duration::from_millis(20));
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            if s.state() == tcp::State::Closed || s.state() == tcp::State::TimeWait {
                return Err(Error::Net(format!(
                    "tcp connection to {dst}:{port} closed after {sent} bytes sent, {recvd} echoed"
                )));
            }
            if s.can_send() && sent < data.len() {
                sent += s
                    .send_slice(&data[sent..])
                    .map_err(|e| Error::Net(format!("tcp send: {e}")))?;
            }
            while s.can_recv() {
                let mut bad = None;
                let n = s
                    .recv(|buf| {
                        let rest = &data[recvd..];
                        if buf.len() > rest.len() {
                            bad = Some(format!(
                                "{} bytes echoed beyond the {} sent",
                                buf.len() - rest.len(),
                                data.len()
                            ));
                        } else if buf != &rest[..buf.len()] {
                            bad = Some(format!("echoed data differs near offset {recvd}"));
                        }
                        (buf.len(), buf.len())
                    })
                    .map_err(|e| Error::Net(format!("tcp recv: {e}")))?;
                if let Some(why) = bad {
                    return Err(Error::Net(why));
                }
                if n == 0 {
                    break;
                }
                recvd += n;
            }
            if StdInstant::now() >= deadline {
                return Err(Error::Net(format!(
                    "tcp echo with {dst}:{port} timed out: {sent} of {} bytes sent, {recvd} echoed",
                    data.len()
                )));
            }
        }
        self.sockets.get_mut::<tcp::Socket>(h).close();
        self.poll();
        Ok(started.elapsed())
    }
}
