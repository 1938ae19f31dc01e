//! smoltcp integration: a [`phy::Device`] that runs every IP packet through
//! an [`Engine`].
//!
//! Wrap the real device (`EspDevice::new(inner)`) and give the wrapper to
//! `Interface::poll`: smoltcp's sockets then run over ESP unchanged. With the
//! Ethernet medium the wrapper looks inside Ethernet frames (IPv4 and IPv6
//! ethertypes) and passes everything else (ARP, ...) through; with the IP
//! medium every packet is IP. Between polls, the owner reaches the SPD and
//! SAD through [`EspDevice::engine_mut`] to add or remove policies and SAs,
//! and reads events and counters.
//!
//! Per-packet provenance: every accepted inbound ESP packet gets a fresh
//! [`PacketMeta`] id (smoltcp hands it to UDP sockets in `UdpMetadata::meta`),
//! and [`EspDevice::inbound_info`] maps recent ids to [`InboundInfo`]. The
//! SPD entry that matched also keeps the last [`InboundInfo`]
//! (`EntryStats::last_inbound`), which suits TCP, where smoltcp keeps no
//! per-segment metadata.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use smoltcp::phy::{self, DeviceCapabilities, Medium, PacketMeta};
use smoltcp::time::Instant;

use crate::engine::{Engine, Inbound, InboundInfo, Outbound, HEADROOM, MAX_OVERHEAD, TAILROOM};

const ETH_HDR: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// How many recent inbound packet ids [`EspDevice::inbound_info`] remembers.
pub const PROVENANCE_LOG: usize = 256;

/// A smoltcp device that applies IPsec ESP to the traffic of an inner device.
#[derive(Debug)]
pub struct EspDevice<D> {
    inner: D,
    engine: Engine,
    rx_buf: Vec<u8>,
    tx_buf: Vec<u8>,
    next_id: u32,
    provenance: VecDeque<(u32, InboundInfo)>,
    last_lifetime_check: Option<Instant>,
}

impl<D: phy::Device> EspDevice<D> {
    /// Wrap a device, with an empty SPD (default DISCARD) and SAD.
    pub fn new(inner: D) -> EspDevice<D> {
        EspDevice::with_engine(inner, Engine::new())
    }

    /// Wrap a device with a prepared engine.
    pub fn with_engine(inner: D, engine: Engine) -> EspDevice<D> {
        EspDevice {
            inner,
            engine,
            rx_buf: Vec::new(),
            tx_buf: Vec::new(),
            next_id: 1,
            provenance: VecDeque::new(),
            last_lifetime_check: None,
        }
    }

    /// The engine (SPD, SAD, counters).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, mutable: add and remove SAs and policies here.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutable.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Unwrap.
    pub fn into_parts(self) -> (D, Engine) {
        (self.inner, self.engine)
    }

    /// How the inbound packet with this [`PacketMeta`] id was protected
    /// (for the last [`PROVENANCE_LOG`] ESP packets).
    pub fn inbound_info(&self, meta: PacketMeta) -> Option<InboundInfo> {
        self.provenance
            .iter()
            .rev()
            .find(|(id, _)| *id == meta.id)
            .map(|(_, i)| *i)
    }
}

/// Where the IP packet starts in a frame of this medium, or `None` if the
/// frame carries no IP (ARP and other ethertypes).
fn ip_offset(medium: Medium, frame: &[u8]) -> Option<usize> {
    match medium {
        Medium::Ethernet => {
            let t = frame.get(12..14)?;
            match u16::from_be_bytes([t[0], t[1]]) {
                ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some(ETH_HDR),
                _ => None,
            }
        }
        Medium::Ip => Some(0),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Time lifetimes have a one-second resolution: check them at most once a
/// second, not for every frame.
fn lifetime_tick(engine: &mut Engine, last: &mut Option<Instant>, now: Instant) {
    if last.is_none_or(|t| now >= t + smoltcp::time::Duration::from_secs(1)) {
        engine.poll(now);
        *last = Some(now);
    }
}

/// Receive token: the (decapsulated) frame.
pub struct RxToken<'a> {
    frame: &'a [u8],
    meta: PacketMeta,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }

    fn meta(&self) -> PacketMeta {
        self.meta
    }
}

/// Transmit token: smoltcp writes the clear frame, the engine protects it.
pub struct TxToken<'a, T: phy::TxToken> {
    inner: T,
    engine: &'a mut Engine,
    buf: &'a mut Vec<u8>,
    medium: Medium,
    now: Instant,
}

impl<T: phy::TxToken> phy::TxToken for TxToken<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let TxToken {
            inner,
            engine,
            buf,
            medium,
            now,
        } = self;
        let base = HEADROOM + ETH_HDR;
        let need = base + len + TAILROOM;
        if buf.len() < need {
            buf.resize(need, 0);
        }
        let r = f(&mut buf[base..base + len]);
        let Some(off) = ip_offset(medium, &buf[base..base + len]) else {
            inner.consume(len, |out| out.copy_from_slice(&buf[base..base + len]));
            return r;
        };
        let mut link = [0u8; ETH_HDR];
        link[..off].copy_from_slice(&buf[base..base + off]);
        match engine.outbound(buf, base + off, len - off, now) {
            Outbound::Bypass => {
                inner.consume(len, |out| out.copy_from_slice(&buf[base..base + len]));
            }
            Outbound::Protected {
                start, len: plen, ..
            } => {
                let s = start - off;
                buf[s..start].copy_from_slice(&link[..off]);
                inner.consume(plen + off, |out| out.copy_from_slice(&buf[s..start + plen]));
            }
            Outbound::Dropped(_) => {}
        }
        r
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.inner.set_meta(meta)
    }
}

impl<D: phy::Device> phy::Device for EspDevice<D> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let medium = self.inner.capabilities().medium;
        let EspDevice {
            inner,
            engine,
            rx_buf,
            tx_buf,
            next_id,
            provenance,
            last_lifetime_check,
        } = self;
        lifetime_tick(engine, last_lifetime_check, timestamp);
        let (rx, tx) = phy::Device::receive(inner, timestamp)?;
        let accepted = phy::RxToken::consume(rx, |frame| {
            let base = ETH_HDR;
            let need = base + frame.len();
            if rx_buf.len() < need {
                rx_buf.resize(need, 0);
            }
            rx_buf[base..need].copy_from_slice(frame);
            let Some(off) = ip_offset(medium, frame) else {
                return Some((base, frame.len(), None));
            };
            match engine.inbound(rx_buf, base + off, frame.len() - off, timestamp) {
                Inbound::Clear { .. } => Some((base, frame.len(), None)),
                Inbound::Decapsulated { start, len, info } => {
                    if off > 0 {
                        // Rebuild the link header in front of the clear packet.
                        let mut link = [0u8; ETH_HDR];
                        link.copy_from_slice(&rx_buf[base..base + ETH_HDR]);
                        let ethertype = match rx_buf[start] >> 4 {
                            6 => ETHERTYPE_IPV6,
                            _ => ETHERTYPE_IPV4,
                        };
                        link[12..14].copy_from_slice(&ethertype.to_be_bytes());
                        rx_buf[start - off..start].copy_from_slice(&link);
                    }
                    Some((start - off, len + off, Some(info)))
                }
                Inbound::Dropped(_) => None,
            }
        });
        // A dropped frame still yields a token, with an empty frame that
        // smoltcp discards: the next call goes on with the next frame.
        let (start, len, info) = accepted.unwrap_or((0, 0, None));
        let mut meta = PacketMeta::default();
        if let Some(info) = info {
            meta.id = *next_id;
            *next_id = next_id.wrapping_add(1);
            if provenance.len() >= PROVENANCE_LOG {
                provenance.pop_front();
            }
            provenance.push_back((meta.id, info));
        }
        let rx = RxToken {
            frame: &rx_buf[start..start + len],
            meta,
        };
        let tx = TxToken {
            inner: tx,
            engine,
            buf: tx_buf,
            medium,
            now: timestamp,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        lifetime_tick(&mut self.engine, &mut self.last_lifetime_check, timestamp);
        let medium = self.inner.capabilities().medium;
        let tx = self.inner.transmit(timestamp)?;
        Some(TxToken {
            inner: tx,
            engine: &mut self.engine,
            buf: &mut self.tx_buf,
            medium,
            now: timestamp,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.inner.capabilities();
        // Leave room for the ESP overhead so protected packets still fit.
        caps.max_transmission_unit = caps.max_transmission_unit.saturating_sub(MAX_OVERHEAD);
        // A NIC cannot fill in or check checksums inside ESP: smoltcp must
        // compute and verify them all itself.
        caps.checksum = phy::ChecksumCapabilities::default();
        caps
    }
}
