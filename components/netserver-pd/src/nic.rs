//! Host NICs for the network server, chosen by `VETTED_NIC`:
//!
//! - `udp:LOCALPORT:REMOTEPORT`: one Ethernet frame per UDP datagram on
//!   127.0.0.1, sent to REMOTEPORT, received on LOCALPORT (what QEMU's
//!   `-netdev dgram` speaks, so a QEMU-booted node can join the link);
//! - `tap:IFNAME`: a Linux TAP device (needs CAP_NET_ADMIN);
//! - unset or `none`: no network (every frame is dropped).
//!
//! Each is a smoltcp `phy::Device` over a non-blocking descriptor, and
//! exposes the descriptor for the PD's "readable" event source.
#![allow(unsafe_code)] // a driver: the TAP ioctl and raw reads/writes

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Largest Ethernet frame carried (1500-byte MTU + 14-byte header).
pub const FRAME: usize = 1514;

/// Why `VETTED_NIC` could not be used.
#[derive(Debug)]
pub enum NicError {
    /// The value is not `udp:L:R`, `tap:IF` or `none`.
    Syntax(String),
    /// The OS refused (bind, open, ioctl).
    Os(std::io::Error),
}

impl core::fmt::Display for NicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Syntax(s) => write!(
                f,
                "VETTED_NIC={s:?}: expected udp:LOCALPORT:REMOTEPORT, tap:IFNAME or none"
            ),
            Self::Os(e) => write!(f, "host NIC: {e}"),
        }
    }
}

enum Kind {
    None,
    Udp(UdpSocket),
    Tap(std::fs::File),
}

/// A host NIC.
pub struct HostNic {
    kind: Kind,
    rx: Vec<u8>,
    /// Frames sent and received, and receive errors.
    pub counters: NicCounters,
}

/// Frame counters of a [`HostNic`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NicCounters {
    /// Frames received.
    pub rx: u64,
    /// Frames sent.
    pub tx: u64,
    /// Frames that could not be sent.
    pub tx_errors: u64,
    /// Received datagrams dropped (runt or oversized).
    pub rx_dropped: u64,
}

impl HostNic {
    /// The NIC `spec` names (the value of `VETTED_NIC`).
    pub fn open(spec: Option<&str>) -> Result<HostNic, NicError> {
        let kind = match spec.map(str::trim) {
            None | Some("") | Some("none") => Kind::None,
            Some(s) if s.starts_with("udp:") => {
                let mut it = s[4..].split(':');
                let (Some(l), Some(r), None) = (it.next(), it.next(), it.next()) else {
                    return Err(NicError::Syntax(s.into()));
                };
                let (Ok(l), Ok(r)) = (l.parse::<u16>(), r.parse::<u16>()) else {
                    return Err(NicError::Syntax(s.into()));
                };
                let sock = UdpSocket::bind(("127.0.0.1", l)).map_err(NicError::Os)?;
                sock.connect(("127.0.0.1", r)).map_err(NicError::Os)?;
                sock.set_nonblocking(true).map_err(NicError::Os)?;
                Kind::Udp(sock)
            }
            Some(s) if s.starts_with("tap:") && s.len() > 4 && s.len() < 4 + 16 => {
                Kind::Tap(open_tap(&s[4..]).map_err(NicError::Os)?)
            }
            Some(s) => return Err(NicError::Syntax(s.into())),
        };
        Ok(HostNic {
            kind,
            rx: vec![0; 65536],
            counters: NicCounters::default(),
        })
    }

    /// The descriptor to watch for readability (`None`: no network).
    pub fn fd(&self) -> Option<RawFd> {
        match &self.kind {
            Kind::None => None,
            Kind::Udp(s) => Some(s.as_raw_fd()),
            Kind::Tap(f) => Some(f.as_raw_fd()),
        }
    }

    fn recv_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let n = match &mut self.kind {
                Kind::None => return None,
                Kind::Udp(s) => s.recv(&mut self.rx).ok()?,
                Kind::Tap(f) => std::io::Read::read(f, &mut self.rx).ok()?,
            };
            // Runt or oversized frames are dropped; the next one is tried.
            if (14..=FRAME).contains(&n) {
                self.counters.rx += 1;
                return Some(self.rx[..n].to_vec());
            }
            self.counters.rx_dropped += 1;
        }
    }

    fn send_frame(&mut self, frame: &[u8]) {
        let ok = match &mut self.kind {
            Kind::None => false,
            Kind::Udp(s) => s.send(frame).is_ok(),
            Kind::Tap(f) => std::io::Write::write(f, frame).is_ok(),
        };
        if ok {
            self.counters.tx += 1;
        } else {
            self.counters.tx_errors += 1;
        }
    }
}

fn open_tap(name: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")?;
    // struct ifreq: 16-byte name, then flags (short) in the union.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as i16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq` (40 bytes on
    // Linux), which `ifr` is, zero-initialised, with a NUL-terminated name
    // (checked shorter than 16 by the caller).
    let r = unsafe { libc::ioctl(f.as_raw_fd(), libc::TUNSETIFF as _, ifr.as_mut_ptr()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Receive token.
pub struct Rx(Vec<u8>);
/// Transmit token.
pub struct Tx<'a>(&'a mut HostNic);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.send_frame(&buf);
        r
    }
}

impl phy::Device for HostNic {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.recv_frame()?;
        Some((Rx(frame), Tx(self)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        Some(Tx(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = FRAME;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{Device, RxToken, TxToken};

    #[test]
    fn bad_specs_are_refused_with_the_syntax() {
        for s in [
            "udp:1",
            "udp:a:b",
            "udp:1:2:3",
            "eth0",
            "tap:",
            "tap:namethatiswaytoolong",
        ] {
            assert!(
                matches!(HostNic::open(Some(s)), Err(NicError::Syntax(_))),
                "{s}"
            );
        }
        assert!(HostNic::open(None).unwrap().fd().is_none());
    }

    #[test]
    fn udp_nics_exchange_frames_and_drop_runts() {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let pa = probe.local_addr().unwrap().port();
        drop(probe);
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let pb = probe.local_addr().unwrap().port();
        drop(probe);
        let mut a = HostNic::open(Some(&format!("udp:{pa}:{pb}"))).unwrap();
        let mut b = HostNic::open(Some(&format!("udp:{pb}:{pa}"))).unwrap();
        let now = Instant::ZERO;
        a.transmit(now).unwrap().consume(60, |f| f.fill(7));
        // A runt straight on the socket is dropped by the receiver.
        if let Kind::Udp(s) = &a.kind {
            s.send(&[1, 2, 3]).unwrap();
        }
        a.transmit(now).unwrap().consume(100, |f| f.fill(9));
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (rx, _) = b.receive(now).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), vec![7; 60]);
        let (rx, _) = b.receive(now).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), vec![9; 100]);
        assert!(b.receive(now).is_none());
        assert_eq!((a.counters.tx, b.counters.rx), (2, 2));
    }
}
