//! The ESP processing engine: SPD + SAD applied to IP packets, in place.
//!
//! [`Engine::outbound`] takes a clear IP packet in a buffer with
//! [`HEADROOM`] bytes free before it and [`TAILROOM`] bytes after it, and
//! either leaves it alone (BYPASS), protects it in place (PROTECT), or drops
//! it. [`Engine::inbound`] takes a received IP packet and either accepts it as
//! it is (BYPASS), decapsulates it in place (ESP), or drops it. Every drop is
//! counted and reported as an [`Event`]; nothing here panics on bad input.
//!
//! IPv6 transport mode: ESP is inserted right after the base header and a
//! Hop-by-Hop Options header if there is one; any other extension header
//! travels inside ESP. On input the chain Hop-by-Hop / Destination Options /
//! Routing is walked up to the ESP header. Fragments (IPv4 with MF or an
//! offset, IPv6 with a Fragment header) are dropped: this layer does not
//! reassemble (RFC 4303 section 3.4.1 auditable event). Neighbor Discovery
//! and MLD messages (ICMPv6 types 130-137, 143) always bypass IPsec, like
//! link-layer ARP.

use alloc::collections::VecDeque;

use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address};

use crate::crypto::{Algorithm, CryptoError};
use crate::replay::ReplayError;
use crate::sa::{Direction, LifetimeKind, Mode, SaConfig, SaId, SaState, Sad, SadError, Service};
use crate::spd::{Action, Flow, PolicyHandle, Protect, Selector, Spd};
use crate::wire::{self, Trailer, HEADER_LEN, ICV_LEN, IV_LEN};

/// Bytes needed before an outbound packet: ESP header, IV and an outer IPv6 header.
pub const HEADROOM: usize = HEADER_LEN + IV_LEN + 40;
/// Bytes needed after an outbound packet: up to 3 padding bytes, pad length,
/// next header and the ICV.
pub const TAILROOM: usize = 3 + 2 + ICV_LEN;
/// The most bytes ESP adds to a packet (tunnel mode with an IPv6 outer header).
pub const MAX_OVERHEAD: usize = HEADROOM + TAILROOM;

const PROTO_IPV4: u8 = 4;
const PROTO_IPV6: u8 = 41;
const PROTO_ESP: u8 = 50;
const PROTO_NONE: u8 = 59;
const PROTO_ICMP: u8 = 1;
const PROTO_ICMPV6: u8 = 58;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// The IP header is malformed (bad version, lengths or checksum).
    Malformed,
    /// The ESP packet is shorter than header, IV, trailer and ICV.
    Truncated,
    /// The packet is an IP fragment; this layer does not reassemble.
    Fragment,
    /// No inbound SA has this SPI.
    UnknownSpi,
    /// The SA's addresses do not match the packet's.
    AddressMismatch,
    /// The sequence number was already received.
    Replay,
    /// The sequence number is left of the anti-replay window.
    TooOld,
    /// The ICV did not verify.
    IntegrityFailed,
    /// The decrypted padding is not 1, 2, 3, ...
    BadPadding,
    /// The decrypted next header does not fit the SA's mode or the inner packet.
    BadNextHeader,
    /// A dummy packet (next header 59): discarded by design.
    Dummy,
    /// The decrypted packet does not match the selectors of the SA's policy.
    SelectorMismatch,
    /// The SA gives less than the service the policy requires.
    ServiceMismatch,
    /// The matching policy says DISCARD (or no policy matched and the default is DISCARD).
    PolicyDiscard,
    /// A clear packet arrived for a flow the policy says must be protected.
    ClearTextRejected,
    /// PROTECT names no usable outbound SA.
    NoSa,
    /// The SA's hard lifetime expired.
    SaExpired,
    /// The outbound sequence number would wrap (RFC 4303 section 3.3.3).
    SequenceOverflow,
    /// The buffer has no room for the ESP overhead.
    NoRoom,
}

/// Number of [`DropReason`] variants.
pub const DROP_REASONS: usize = DropReason::NoRoom as usize + 1;

/// How an accepted inbound packet was protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundInfo {
    /// The SA that carried it.
    pub sa: SaId,
    /// Its SPI.
    pub spi: u32,
    /// Its full sequence number.
    pub sequence: u64,
    /// The transform.
    pub algorithm: Algorithm,
    /// The service it received.
    pub service: Service,
    /// Transport or tunnel.
    pub mode: Mode,
    /// The peer (outer source address).
    pub peer: IpAddress,
    /// The SPD entry whose selectors it matched.
    pub policy: Option<PolicyHandle>,
}

/// Something the engine reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A packet was dropped.
    Dropped {
        /// Inbound or outbound.
        direction: Direction,
        /// Why.
        reason: DropReason,
        /// The SPI, if the packet got that far.
        spi: Option<u32>,
        /// The SA, if one was found.
        sa: Option<SaId>,
        /// The (inferred) sequence number, if known.
        sequence: Option<u64>,
        /// Source address, if the IP header was readable.
        src: Option<IpAddress>,
        /// Destination address, if the IP header was readable.
        dst: Option<IpAddress>,
    },
    /// An SA reached a soft lifetime: it should be replaced.
    SoftExpired {
        /// The SA.
        sa: SaId,
        /// Its SPI.
        spi: u32,
        /// Which limit.
        kind: LifetimeKind,
    },
    /// An SA reached a hard lifetime: it no longer carries traffic.
    HardExpired {
        /// The SA.
        sa: SaId,
        /// Its SPI.
        spi: u32,
        /// Which limit.
        kind: LifetimeKind,
    },
    /// An outbound SA ran out of sequence numbers and stopped.
    SequenceOverflow {
        /// The SA.
        sa: SaId,
        /// Its SPI.
        spi: u32,
    },
}

/// Engine-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Outbound packets protected with ESP.
    pub out_protected: u64,
    /// Outbound packets sent in the clear (BYPASS, ND, non-IP).
    pub out_bypassed: u64,
    /// Inbound ESP packets decapsulated and accepted.
    pub in_decapsulated: u64,
    /// Inbound clear packets accepted (BYPASS, ND).
    pub in_bypassed: u64,
    /// Events dropped because the event queue was full.
    pub events_lost: u64,
    dropped: [u64; DROP_REASONS],
}

impl Counters {
    /// Packets dropped for `reason` (both directions).
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    /// Packets dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// What happened to an outbound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// Send it unchanged.
    Bypass,
    /// Send the ESP packet now at `buf[start..start + len]`.
    Protected {
        /// Start of the ESP-protected IP packet in the buffer.
        start: usize,
        /// Its length.
        len: usize,
        /// The SA used.
        sa: SaId,
    },
    /// Do not send it.
    Dropped(DropReason),
}

/// What happened to an inbound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// A clear packet the policy lets through unchanged.
    Clear {
        /// The matching SPD entry, if any.
        policy: Option<PolicyHandle>,
    },
    /// An ESP packet, decapsulated: the clear IP packet is at `buf[start..start + len]`.
    Decapsulated {
        /// Start of the clear IP packet in the buffer.
        start: usize,
        /// Its length.
        len: usize,
        /// How it was protected.
        info: InboundInfo,
    },
    /// Drop it.
    Dropped(DropReason),
}

/// The parsed parts of an IP header this layer needs.
#[derive(Debug, Clone, Copy)]
struct IpInfo {
    v6: bool,
    src: IpAddress,
    dst: IpAddress,
    /// Length of the packet according to its header.
    total: usize,
    /// Offset of the next-header byte that names the upper layer or ESP.
    nh_off: usize,
    /// The headers before that upper layer / ESP (base header, IPv4
    /// options, IPv6 hop-by-hop ... ).
    hdr_len: usize,
    /// The protocol at `hdr_len`.
    next_header: u8,
    fragment: bool,
}

fn parse_ip(pkt: &[u8], inbound_esp_walk: bool) -> Result<IpInfo, DropReason> {
    let first = *pkt.first().ok_or(DropReason::Malformed)?;
    match first >> 4 {
        4 => {
            if pkt.len() < 20 {
                return Err(DropReason::Malformed);
            }
            let ihl = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
            if ihl < 20 || total < ihl || total > pkt.len() {
                return Err(DropReason::Malformed);
            }
            let frag = u16::from_be_bytes([pkt[6], pkt[7]]);
            let fragment = frag & 0x2000 != 0 || frag & 0x1fff != 0;
            Ok(IpInfo {
                v6: false,
                src: IpAddress::Ipv4(Ipv4Address::new(pkt[12], pkt[13], pkt[14], pkt[15])),
                dst: IpAddress::Ipv4(Ipv4Address::new(pkt[16], pkt[17], pkt[18], pkt[19])),
                total,
                nh_off: 9,
                hdr_len: ihl,
                next_header: pkt[9],
                fragment,
            })
        }
        6 => {
            if pkt.len() < 40 {
                return Err(DropReason::Malformed);
            }
            let total = 40 + usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            if total > pkt.len() {
                return Err(DropReason::Malformed);
            }
            let mut src = [0u8; 16];
            src.copy_from_slice(&pkt[8..24]);
            let mut dst = [0u8; 16];
            dst.copy_from_slice(&pkt[24..40]);
            let mut nh_off = 6;
            let mut off = 40;
            let mut nh = pkt[6];
            let mut fragment = false;
            // Outbound: stop after a Hop-by-Hop header. Inbound: walk to ESP.
            loop {
                let walk = match nh {
                    0 => off == 40,
                    60 | 43 => inbound_esp_walk,
                    44 => {
                        fragment = true;
                        false
                    }
                    _ => false,
                };
                if !walk {
                    break;
                }
                let len = (usize::from(*pkt.get(off + 1).ok_or(DropReason::Malformed)?) + 1) * 8;
                if off + len > total {
                    return Err(DropReason::Malformed);
                }
                nh_off = off;
                nh = pkt[off];
                off += len;
            }
            Ok(IpInfo {
                v6: true,
                src: IpAddress::Ipv6(Ipv6Address::from(src)),
                dst: IpAddress::Ipv6(Ipv6Address::from(dst)),
                total,
                nh_off,
                hdr_len: off,
                next_header: nh,
                fragment,
            })
        }
        _ => Err(DropReason::Malformed),
    }
}

/// Upper-layer protocol and ports of a packet, skipping IPv6 extension
/// headers. Returns (protocol, source port, destination port); ICMP gives
/// (type, code) as ports.
fn upper_layer(pkt: &[u8], ip: &IpInfo) -> (u8, u16, u16) {
    let mut nh = ip.next_header;
    let mut off = ip.hdr_len;
    if ip.v6 {
        // Skip what the outbound parse left in place.
        for _ in 0..8 {
            match nh {
                0 | 43 | 60 => {
                    let Some(l) = pkt.get(off + 1) else {
                        return (nh, 0, 0);
                    };
                    nh = pkt[off];
                    off += (usize::from(*l) + 1) * 8;
                }
                _ => break,
            }
        }
    }
    let l4 = pkt.get(off..ip.total).unwrap_or(&[]);
    match nh {
        PROTO_TCP | PROTO_UDP | PROTO_SCTP if l4.len() >= 4 => (
            nh,
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
        PROTO_ICMP | PROTO_ICMPV6 if l4.len() >= 2 => (nh, u16::from(l4[0]), u16::from(l4[1])),
        _ => (nh, 0, 0),
    }
}

/// Whether an IPv6 packet is Neighbor Discovery or MLD (always bypassed).
fn is_nd_or_mld(pkt: &[u8], ip: &IpInfo) -> bool {
    if !ip.v6 {
        return false;
    }
    let (proto, ty, _) = upper_layer(pkt, ip);
    proto == PROTO_ICMPV6 && matches!(ty, 130..=137 | 143)
}

fn flow_of(pkt: &[u8], ip: &IpInfo, outbound: bool) -> Flow {
    let (protocol, sport, dport) = upper_layer(pkt, ip);
    let icmp = protocol == PROTO_ICMP || protocol == PROTO_ICMPV6;
    if outbound {
        Flow {
            local: ip.src,
            remote: ip.dst,
            protocol,
            local_port: sport,
            remote_port: dport,
        }
    } else {
        Flow {
            local: ip.dst,
            remote: ip.src,
            protocol,
            // ICMP: type and code keep their places whatever the direction.
            local_port: if icmp { sport } else { dport },
            remote_port: if icmp { dport } else { sport },
        }
    }
}

fn ipv4_checksum(hdr: &[u8]) -> u16 {
    // Sum of the 16-bit words, skipping the checksum field (bytes 10..12).
    // IPv4 header lengths are multiples of 4, so there is no odd byte.
    let mut sum: u32 = hdr
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    if let Some(c) = hdr.get(10..12) {
        sum += u32::from(!u16::from_be_bytes([c[0], c[1]]));
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

fn set_ipv4_len_proto(hdr: &mut [u8], total: usize, proto: u8) {
    hdr[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    hdr[9] = proto;
    let c = ipv4_checksum(hdr);
    hdr[10..12].copy_from_slice(&c.to_be_bytes());
}

fn lifetime_event(sa: &mut crate::sa::Sa, id: SaId, now: Instant) -> Option<Event> {
    let spi = sa.spi();
    sa.check_lifetimes(now).map(|(state, kind)| match state {
        SaState::Expired => Event::HardExpired { sa: id, spi, kind },
        _ => Event::SoftExpired { sa: id, spi, kind },
    })
}

/// What [`Engine::add_host_pair`] installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPair {
    /// The outbound SA.
    pub outbound: SaId,
    /// The inbound SA.
    pub inbound: SaId,
    /// The PROTECT policy.
    pub policy: PolicyHandle,
}

/// Maximum number of queued events.
pub const EVENT_QUEUE: usize = 1024;

/// SPD + SAD + ESP processing.
#[derive(Debug, Default)]
pub struct Engine {
    /// The Security Association Database.
    pub sad: Sad,
    /// The Security Policy Database.
    pub spd: Spd,
    counters: Counters,
    events: VecDeque<Event>,
    ipv4_ident: u16,
}

impl Engine {
    /// An engine with empty databases (default action DISCARD).
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Install a hand-keyed pair of SAs between two hosts and a PROTECT
    /// policy for all their traffic, as `ip xfrm state add` (twice) and `ip
    /// xfrm policy add` (both directions) do on Linux. `outbound` and
    /// `inbound` are `(SPI, key || salt)`. The policy goes at `priority`
    /// (lower first).
    #[allow(clippy::too_many_arguments)]
    pub fn add_host_pair(
        &mut self,
        algorithm: Algorithm,
        mode: Mode,
        local: IpAddress,
        remote: IpAddress,
        outbound: (u32, &[u8]),
        inbound: (u32, &[u8]),
        priority: u32,
        now: Instant,
    ) -> Result<HostPair, SadError> {
        let mut out = SaConfig::new(
            outbound.0,
            Direction::Outbound,
            algorithm,
            outbound.1,
            local,
            remote,
        );
        out.mode = mode;
        let mut inb = SaConfig::new(
            inbound.0,
            Direction::Inbound,
            algorithm,
            inbound.1,
            local,
            remote,
        );
        inb.mode = mode;
        let out_id = self.sad.add(out, now)?;
        let in_id = match self.sad.add(inb, now) {
            Ok(id) => id,
            Err(e) => {
                self.sad.remove(out_id);
                return Err(e);
            }
        };
        let policy = self.spd.insert(
            priority,
            Selector::hosts(local, remote),
            Action::Protect(Protect {
                service: Service::of(algorithm),
                outbound: Some(out_id),
                inbound: Some(in_id),
            }),
        );
        Ok(HostPair {
            outbound: out_id,
            inbound: in_id,
            policy,
        })
    }

    /// Remove what [`Engine::add_host_pair`] installed.
    pub fn remove_host_pair(&mut self, pair: HostPair) {
        self.spd.remove(pair.policy);
        self.sad.remove(pair.outbound);
        self.sad.remove(pair.inbound);
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Number of queued events.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    fn emit(&mut self, e: Event) {
        if self.events.len() >= EVENT_QUEUE {
            self.events.pop_front();
            self.counters.events_lost += 1;
        }
        self.events.push_back(e);
    }

    #[allow(clippy::too_many_arguments)]
    fn drop_packet(
        &mut self,
        direction: Direction,
        reason: DropReason,
        spi: Option<u32>,
        sa: Option<SaId>,
        sequence: Option<u64>,
        ip: Option<&IpInfo>,
    ) {
        self.counters.dropped[reason as usize] += 1;
        self.emit(Event::Dropped {
            direction,
            reason,
            spi,
            sa,
            sequence,
            src: ip.map(|i| i.src),
            dst: ip.map(|i| i.dst),
        });
    }

    /// Check the time lifetimes of every SA (call now and then, e.g. on
    /// every interface poll); raises expiry events.
    pub fn poll(&mut self, now: Instant) {
        let mut raised = alloc::vec::Vec::new();
        for (id, sa) in self.sad.iter_mut() {
            if let Some((state, kind)) = sa.check_lifetimes(now) {
                raised.push((id, sa.spi(), state, kind));
            }
        }
        for (id, spi, state, kind) in raised {
            let e = match state {
                SaState::Expired => Event::HardExpired { sa: id, spi, kind },
                _ => Event::SoftExpired { sa: id, spi, kind },
            };
            self.emit(e);
        }
    }

    /// Apply the SPD to an outbound IP packet at `buf[start..start + len]`
    /// and protect it in place if it says so. For protection, `start` must be
    /// at least [`HEADROOM`] and `buf` must extend [`TAILROOM`] bytes past
    /// the packet, or the packet is dropped with [`DropReason::NoRoom`].
    pub fn outbound(&mut self, buf: &mut [u8], start: usize, len: usize, now: Instant) -> Outbound {
        let out = Direction::Outbound;
        let Some(pkt) = start.checked_add(len).and_then(|end| buf.get(start..end)) else {
            self.drop_packet(out, DropReason::NoRoom, None, None, None, None);
            return Outbound::Dropped(DropReason::NoRoom);
        };
        let ip = match parse_ip(pkt, false) {
            Ok(ip) => ip,
            Err(r) => {
                self.drop_packet(out, r, None, None, None, None);
                return Outbound::Dropped(r);
            }
        };
        if is_nd_or_mld(pkt, &ip) {
            self.counters.out_bypassed += 1;
            return Outbound::Bypass;
        }
        let flow = flow_of(pkt, &ip, true);
        let action = match self.spd.lookup_entry(&flow) {
            Some((_, e)) => {
                e.stats.packets_out += 1;
                e.action
            }
            None => self.spd.default_action(),
        };
        let protect = match action {
            Action::Bypass => {
                self.counters.out_bypassed += 1;
                return Outbound::Bypass;
            }
            Action::Discard => {
                self.drop_packet(out, DropReason::PolicyDiscard, None, None, None, Some(&ip));
                return Outbound::Dropped(DropReason::PolicyDiscard);
            }
            Action::Protect(p) => p,
        };
        if ip.fragment {
            self.drop_packet(out, DropReason::Fragment, None, None, None, Some(&ip));
            return Outbound::Dropped(DropReason::Fragment);
        }
        match self.protect(buf, start, &ip, protect.outbound, protect.service, now) {
            Ok((s, l, id, event)) => {
                self.counters.out_protected += 1;
                if let Some(e) = event {
                    self.emit(e);
                }
                Outbound::Protected {
                    start: s,
                    len: l,
                    sa: id,
                }
            }
            Err((r, spi, sa, seq)) => {
                self.drop_packet(out, r, spi, sa, seq, Some(&ip));
                if r == DropReason::SequenceOverflow {
                    if let (Some(id), Some(spi)) = (sa, spi) {
                        if let Some(s) = self.sad.get_mut(id) {
                            if s.state != SaState::SequenceOverflow {
                                s.state = SaState::SequenceOverflow;
                                self.emit(Event::SequenceOverflow { sa: id, spi });
                            }
                        }
                    }
                }
                Outbound::Dropped(r)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn protect(
        &mut self,
        buf: &mut [u8],
        start: usize,
        ip: &IpInfo,
        sa: Option<SaId>,
        required: Service,
        now: Instant,
    ) -> Result<
        (usize, usize, SaId, Option<Event>),
        (DropReason, Option<u32>, Option<SaId>, Option<u64>),
    > {
        let id = sa.ok_or((DropReason::NoSa, None, None, None))?;
        let sa = self
            .sad
            .get_mut(id)
            .ok_or((DropReason::NoSa, None, None, None))?;
        let spi = sa.spi();
        let e = |r| (r, Some(spi), Some(id), None);
        if sa.config().direction != Direction::Outbound {
            return Err(e(DropReason::NoSa));
        }
        match sa.state {
            SaState::Expired => {
                sa.counters.expired += 1;
                return Err(e(DropReason::SaExpired));
            }
            SaState::SequenceOverflow => {
                sa.counters.sequence_overflow += 1;
                return Err(e(DropReason::SequenceOverflow));
            }
            SaState::Mature | SaState::Dying => {}
        }
        if !sa.service().satisfies(required) {
            return Err(e(DropReason::ServiceMismatch));
        }
        let mode = sa.config().mode;
        if mode == Mode::Transport && (ip.src != sa.config().local || ip.dst != sa.config().remote)
        {
            return Err(e(DropReason::AddressMismatch));
        }
        if sa.seq_out >= sa.max_seq() {
            sa.counters.sequence_overflow += 1;
            return Err(e(DropReason::SequenceOverflow));
        }
        let seq = sa.seq_out + 1;
        let esp_extra = HEADER_LEN + IV_LEN;
        let (new_start, esp, payload_len, trailer) = match mode {
            Mode::Transport => {
                let payload_len = ip.total - ip.hdr_len;
                let trailer = Trailer::for_payload(payload_len, ip.next_header);
                let new_start = start.checked_sub(esp_extra).ok_or(e(DropReason::NoRoom))?;
                (new_start, new_start + ip.hdr_len, payload_len, trailer)
            }
            Mode::Tunnel => {
                let outer = match sa.config().local {
                    IpAddress::Ipv4(_) => 20,
                    IpAddress::Ipv6(_) => 40,
                };
                let nh = if ip.v6 { PROTO_IPV6 } else { PROTO_IPV4 };
                let trailer = Trailer::for_payload(ip.total, nh);
                let new_start = start
                    .checked_sub(esp_extra + outer)
                    .ok_or(e(DropReason::NoRoom))?;
                (new_start, new_start + outer, ip.total, trailer)
            }
        };
        let end = esp + esp_extra + trailer.buffer_len() + ICV_LEN;
        if end > buf.len() {
            return Err(e(DropReason::NoRoom));
        }
        let new_len = end - new_start;
        match mode {
            Mode::Transport => {
                buf.copy_within(start..start + ip.hdr_len, new_start);
                let hdr = &mut buf[new_start..esp];
                if ip.v6 {
                    hdr[4..6].copy_from_slice(&((new_len - 40) as u16).to_be_bytes());
                    hdr[ip.nh_off] = PROTO_ESP;
                } else {
                    set_ipv4_len_proto(hdr, new_len, PROTO_ESP);
                }
            }
            Mode::Tunnel => {
                let hdr = &mut buf[new_start..esp];
                match (sa.config().local, sa.config().remote) {
                    (IpAddress::Ipv4(l), IpAddress::Ipv4(r)) => {
                        hdr[0] = 0x45;
                        hdr[1] = 0;
                        hdr[4..6].copy_from_slice(&self.ipv4_ident.to_be_bytes());
                        self.ipv4_ident = self.ipv4_ident.wrapping_add(1);
                        hdr[6..8].copy_from_slice(&[0x40, 0]); // DF
                        hdr[8] = 64;
                        hdr[12..16].copy_from_slice(&l.octets());
                        hdr[16..20].copy_from_slice(&r.octets());
                        set_ipv4_len_proto(hdr, new_len, PROTO_ESP);
                    }
                    (IpAddress::Ipv6(l), IpAddress::Ipv6(r)) => {
                        hdr[..4].copy_from_slice(&[0x60, 0, 0, 0]);
                        hdr[4..6].copy_from_slice(&((new_len - 40) as u16).to_be_bytes());
                        hdr[6] = PROTO_ESP;
                        hdr[7] = 64;
                        hdr[8..24].copy_from_slice(&l.octets());
                        hdr[24..40].copy_from_slice(&r.octets());
                    }
                    // Sad::add refuses mixed families.
                    _ => return Err(e(DropReason::AddressMismatch)),
                }
            }
        }
        {
            let mut p = wire::Packet::new_unchecked(&mut buf[esp..end]);
            p.set_spi(spi);
            p.set_sequence_number(seq as u32);
            p.set_iv(&seq.to_be_bytes());
        }
        let plain = esp + esp_extra;
        trailer.emit(&mut buf[plain..plain + trailer.buffer_len()]);
        let seq_hi = sa.config().esn.then_some((seq >> 32) as u32);
        sa.transform
            .seal_esp(&mut buf[..end], esp, seq_hi)
            .map_err(|_| e(DropReason::NoRoom))?;
        sa.seq_out = seq;
        sa.counters.packets += 1;
        sa.counters.bytes += payload_len as u64;
        let event = lifetime_event(sa, id, now);
        Ok((new_start, new_len, id, event))
    }

    /// Process a received IP packet at `buf[start..start + len]`: accept it
    /// in the clear if the policy allows, decapsulate it in place if it is
    /// ESP, or drop it.
    pub fn inbound(&mut self, buf: &mut [u8], start: usize, len: usize, now: Instant) -> Inbound {
        let dir = Direction::Inbound;
        let Some(pkt) = start.checked_add(len).and_then(|end| buf.get(start..end)) else {
            self.drop_packet(dir, DropReason::Malformed, None, None, None, None);
            return Inbound::Dropped(DropReason::Malformed);
        };
        let ip = match parse_ip(pkt, true) {
            Ok(ip) => ip,
            Err(r) => {
                self.drop_packet(dir, r, None, None, None, None);
                return Inbound::Dropped(r);
            }
        };
        if ip.next_header != PROTO_ESP {
            if is_nd_or_mld(pkt, &ip) {
                self.counters.in_bypassed += 1;
                return Inbound::Clear { policy: None };
            }
            if ip.fragment {
                self.drop_packet(dir, DropReason::Fragment, None, None, None, Some(&ip));
                return Inbound::Dropped(DropReason::Fragment);
            }
            let flow = flow_of(pkt, &ip, false);
            let (handle, action) = match self.spd.lookup_entry(&flow) {
                Some((h, e)) => {
                    if e.action == Action::Bypass {
                        e.stats.packets_in += 1;
                    }
                    (Some(h), e.action)
                }
                None => (None, self.spd.default_action()),
            };
            let r = match action {
                Action::Bypass => {
                    self.counters.in_bypassed += 1;
                    return Inbound::Clear { policy: handle };
                }
                Action::Discard => DropReason::PolicyDiscard,
                Action::Protect(_) => DropReason::ClearTextRejected,
            };
            self.drop_packet(dir, r, None, None, None, Some(&ip));
            return Inbound::Dropped(r);
        }
        match self.decapsulate(buf, start, &ip, now) {
            Ok((s, l, info, event)) => {
                self.counters.in_decapsulated += 1;
                if let Some(e) = event {
                    self.emit(e);
                }
                Inbound::Decapsulated {
                    start: s,
                    len: l,
                    info,
                }
            }
            Err((r, spi, sa, seq)) => {
                self.drop_packet(dir, r, spi, sa, seq, Some(&ip));
                Inbound::Dropped(r)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn decapsulate(
        &mut self,
        buf: &mut [u8],
        start: usize,
        ip: &IpInfo,
        now: Instant,
    ) -> Result<
        (usize, usize, InboundInfo, Option<Event>),
        (DropReason, Option<u32>, Option<SaId>, Option<u64>),
    > {
        let plain_err = |r| (r, None, None, None);
        if ip.fragment {
            return Err(plain_err(DropReason::Fragment));
        }
        if !ip.v6 {
            let hdr = &buf[start..start + ip.hdr_len];
            if ipv4_checksum(hdr) != u16::from_be_bytes([hdr[10], hdr[11]]) {
                return Err(plain_err(DropReason::Malformed));
            }
        }
        let esp = start + ip.hdr_len;
        let end = start + ip.total;
        let (spi, seq_lo) = {
            let p = wire::Packet::new_checked(&buf[esp..end])
                .map_err(|_| plain_err(DropReason::Truncated))?;
            (p.spi(), p.sequence_number())
        };
        let id =
            self.sad
                .lookup_inbound(spi)
                .ok_or((DropReason::UnknownSpi, Some(spi), None, None))?;
        let sa = self
            .sad
            .get_mut(id)
            .ok_or((DropReason::UnknownSpi, Some(spi), None, None))?;
        let e = |r, seq| (r, Some(spi), Some(id), seq);
        if !sa.usable() {
            sa.counters.expired += 1;
            return Err(e(DropReason::SaExpired, None));
        }
        if ip.src != sa.config().remote || ip.dst != sa.config().local {
            return Err(e(DropReason::AddressMismatch, None));
        }
        let Some(seq) = sa.replay.infer(seq_lo) else {
            sa.counters.replay += 1;
            return Err(e(DropReason::TooOld, Some(u64::from(seq_lo))));
        };
        if let Err(r) = sa.replay.check(seq) {
            sa.counters.replay += 1;
            let reason = match r {
                ReplayError::Duplicate => DropReason::Replay,
                ReplayError::TooOld => DropReason::TooOld,
            };
            return Err(e(reason, Some(seq)));
        }
        let seq_hi = sa.config().esn.then_some((seq >> 32) as u32);
        if let Err(c) = sa.transform.open_esp(&mut buf[..end], esp, seq_hi) {
            let r = match c {
                CryptoError::IntegrityCheckFailed => {
                    sa.counters.integrity_failed += 1;
                    DropReason::IntegrityFailed
                }
                _ => DropReason::Truncated,
            };
            return Err(e(r, Some(seq)));
        }
        // Authentic: only now may the window move (RFC 4303 section 3.4.3).
        let _ = sa.replay.update(seq);
        let plain = esp + HEADER_LEN + IV_LEN;
        let trailer = match Trailer::parse(&buf[plain..end - ICV_LEN]) {
            Ok(t) => t,
            Err(_) => {
                sa.counters.malformed += 1;
                return Err(e(DropReason::BadPadding, Some(seq)));
            }
        };
        if trailer.next_header == PROTO_NONE {
            return Err(e(DropReason::Dummy, Some(seq)));
        }
        let mode = sa.config().mode;
        let (new_start, new_len) = match mode {
            Mode::Transport => {
                if matches!(trailer.next_header, PROTO_IPV4 | PROTO_IPV6 | PROTO_ESP) {
                    sa.counters.malformed += 1;
                    return Err(e(DropReason::BadNextHeader, Some(seq)));
                }
                let hdr_len = ip.hdr_len;
                let new_start = start + HEADER_LEN + IV_LEN;
                buf.copy_within(start..start + hdr_len, new_start);
                let new_len = hdr_len + trailer.payload_len;
                let hdr = &mut buf[new_start..new_start + hdr_len];
                if ip.v6 {
                    hdr[4..6].copy_from_slice(&((new_len - 40) as u16).to_be_bytes());
                    hdr[ip.nh_off] = trailer.next_header;
                } else {
                    set_ipv4_len_proto(hdr, new_len, trailer.next_header);
                }
                (new_start, new_len)
            }
            Mode::Tunnel => {
                let inner = &buf[plain..plain + trailer.payload_len];
                let version_ok = matches!(
                    (trailer.next_header, inner.first().map(|b| b >> 4)),
                    (PROTO_IPV4, Some(4)) | (PROTO_IPV6, Some(6))
                );
                if !version_ok {
                    sa.counters.malformed += 1;
                    return Err(e(DropReason::BadNextHeader, Some(seq)));
                }
                match parse_ip(inner, false) {
                    Ok(i) => (plain, i.total),
                    Err(_) => {
                        sa.counters.malformed += 1;
                        return Err(e(DropReason::Malformed, Some(seq)));
                    }
                }
            }
        };
        // Inbound selector check (RFC 4301 section 5.2): the clear packet
        // must match a PROTECT entry this SA may serve.
        let service = sa.service();
        let algorithm = sa.algorithm();
        let peer = ip.src;
        let inner = &buf[new_start..new_start + new_len];
        let inner_ip = match parse_ip(inner, false) {
            Ok(i) => i,
            Err(_) => {
                sa.counters.malformed += 1;
                return Err(e(DropReason::Malformed, Some(seq)));
            }
        };
        let flow = flow_of(inner, &inner_ip, false);
        let (handle, mut entry) = match self.spd.lookup_entry(&flow) {
            Some((h, e)) => (Some(h), Some(e)),
            None => (None, None),
        };
        let verdict = match entry.as_ref().map(|e| e.action) {
            Some(Action::Protect(p)) => match p.inbound {
                Some(want) if want != id => Err(DropReason::SelectorMismatch),
                _ if !service.satisfies(p.service) => Err(DropReason::ServiceMismatch),
                _ => Ok(()),
            },
            _ => Err(DropReason::SelectorMismatch),
        };
        if let Err(r) = verdict {
            sa.counters.selector_mismatch += 1;
            return Err(e(r, Some(seq)));
        }
        sa.counters.packets += 1;
        sa.counters.bytes += trailer.payload_len as u64;
        let info = InboundInfo {
            sa: id,
            spi,
            sequence: seq,
            algorithm,
            service,
            mode,
            peer,
            policy: handle,
        };
        if let Some(entry) = entry.as_mut() {
            entry.stats.packets_in += 1;
            entry.stats.last_inbound = Some(info);
        }
        let event = lifetime_event(sa, id, now);
        Ok((new_start, new_len, info, event))
    }
}
