//! An Ethernet link carried in UDP datagrams on loopback, one frame per
//! datagram: the format of QEMU's `-netdev dgram`. Wrapped as a smoltcp
//! [`phy::Device`] so a user-space stack can face the guest's NIC.

use std::collections::VecDeque;
use std::io;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Largest Ethernet frame we pass (no FCS): 1500-byte IP MTU + 14.
pub const MAX_FRAME: usize = 1514;
/// Frames kept per direction while capturing.
pub const CAPTURE_LIMIT: usize = 4096;

#[derive(Debug, Default)]
struct Taps {
    capture: bool,
    tx: VecDeque<Vec<u8>>,
    rx: VecDeque<Vec<u8>>,
    inject: VecDeque<Vec<u8>>,
    sent: u64,
    received: u64,
}

#[derive(Debug)]
struct Shared {
    sock: UdpSocket,
    taps: Mutex<Taps>,
}

impl Shared {
    fn taps(&self) -> MutexGuard<'_, Taps> {
        self.taps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn push_bounded(q: &mut VecDeque<Vec<u8>>, frame: &[u8]) {
    if q.len() == CAPTURE_LIMIT {
        q.pop_front();
    }
    q.push_back(frame.to_vec());
}

/// Our end of the link: a connected UDP socket as a smoltcp Ethernet device.
#[derive(Debug)]
pub struct UdpEthernet {
    shared: Arc<Shared>,
    scratch: Vec<u8>,
}

/// A second handle on the same link, usable while the device itself is
/// owned by a stack (or by a wrapper such as an IPsec layer): wait for
/// traffic, capture frames, send or inject raw frames.
#[derive(Debug, Clone)]
pub struct LinkHandle {
    shared: Arc<Shared>,
}

impl UdpEthernet {
    /// Wraps a UDP socket already `connect`ed to the peer's address.
    pub fn new(sock: UdpSocket) -> io::Result<Self> {
        sock.set_nonblocking(true)?;
        Ok(Self {
            shared: Arc::new(Shared {
                sock,
                taps: Mutex::new(Taps::default()),
            }),
            scratch: vec![0; 65536],
        })
    }

    /// A handle on this link.
    pub fn handle(&self) -> LinkHandle {
        LinkHandle {
            shared: self.shared.clone(),
        }
    }
}

impl LinkHandle {
    /// Blocks until a datagram (or an injected frame) is ready, at most `timeout`.
    pub fn wait(&self, timeout: Duration) {
        if !self.shared.taps().inject.is_empty() {
            return;
        }
        let sock = &self.shared.sock;
        let t = timeout.max(Duration::from_micros(100));
        if sock.set_nonblocking(false).is_ok() && sock.set_read_timeout(Some(t)).is_ok() {
            let mut b = [0u8; 1];
            let _ = sock.peek(&mut b);
        }
        let _ = sock.set_nonblocking(true);
    }

    /// Starts (or stops) recording the frames sent and received.
    pub fn set_capture(&self, on: bool) {
        self.shared.taps().capture = on;
    }

    /// Takes the recorded outgoing frames.
    pub fn take_tx(&self) -> Vec<Vec<u8>> {
        self.shared.taps().tx.drain(..).collect()
    }

    /// Takes the recorded incoming frames.
    pub fn take_rx(&self) -> Vec<Vec<u8>> {
        self.shared.taps().rx.drain(..).collect()
    }

    /// Sends a raw frame to the peer, bypassing the stack.
    pub fn send_raw(&self, frame: &[u8]) -> io::Result<()> {
        self.shared.sock.send(frame).map(|_| ())
    }

    /// Queues a frame that the device will hand to the stack as if received.
    pub fn inject_rx(&self, frame: &[u8]) {
        self.shared.taps().inject.push_back(frame.to_vec());
    }

    /// Frames sent and received by the device so far.
    pub fn counters(&self) -> (u64, u64) {
        let t = self.shared.taps();
        (t.sent, t.received)
    }
}

/// Receive token: owns the received frame.
#[derive(Debug)]
pub struct RxToken {
    frame: Vec<u8>,
}

/// Transmit token: sends one datagram.
#[derive(Debug)]
pub struct TxToken<'a> {
    shared: &'a Shared,
}

impl phy::RxToken for RxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        // A full socket buffer drops the frame, like a busy wire would.
        let _ = self.shared.sock.send(&buf);
        let mut t = self.shared.taps();
        t.sent += 1;
        if t.capture {
            push_bounded(&mut t.tx, &buf);
        }
        r
    }
}

impl phy::Device for UdpEthernet {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let UdpEthernet { shared, scratch } = self;
        let shared = &**shared;
        let injected = shared.taps().inject.pop_front();
        let frame = match injected {
            Some(f) => f,
            None => {
                // WouldBlock (nothing there) and errors alike mean "no frame".
                let n = shared.sock.recv(scratch).ok()?;
                let frame = scratch[..n].to_vec();
                let mut t = shared.taps();
                t.received += 1;
                if t.capture {
                    push_bounded(&mut t.rx, &frame);
                }
                frame
            }
        };
        Some((RxToken { frame }, TxToken { shared }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            shared: &self.shared,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{Device, RxToken as _, TxToken as _};

    fn pair() -> (UdpEthernet, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        (UdpEthernet::new(a).unwrap(), b)
    }

    #[test]
    fn frames_cross_as_datagrams_and_are_captured() {
        let (mut dev, peer) = pair();
        let h = dev.handle();
        h.set_capture(true);
        let now = Instant::from_millis(0);
        assert!(dev.receive(now).is_none());
        dev.transmit(now).unwrap().consume(60, |b| b.fill(0xab));
        let mut buf = [0u8; 100];
        assert_eq!(peer.recv(&mut buf).unwrap(), 60);
        assert!(buf[..60].iter().all(|&b| b == 0xab));
        peer.send(&[1, 2, 3]).unwrap();
        h.wait(Duration::from_secs(5));
        let (rx, _tx) = dev.receive(now).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), vec![1, 2, 3]);
        assert_eq!(h.take_tx(), vec![vec![0xab; 60]]);
        assert_eq!(h.take_rx(), vec![vec![1, 2, 3]]);
        assert_eq!(h.counters(), (1, 1));
    }

    #[test]
    fn injected_frames_come_first_and_raw_sends_bypass() {
        let (mut dev, peer) = pair();
        let h = dev.handle();
        peer.send(&[9]).unwrap();
        h.inject_rx(&[7, 7]);
        let now = Instant::from_millis(0);
        let (rx, _) = dev.receive(now).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), vec![7, 7]);
        h.wait(Duration::from_secs(5));
        let (rx, _) = dev.receive(now).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), vec![9]);
        h.send_raw(&[5; 20]).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(peer.recv(&mut buf).unwrap(), 20);
    }
}
