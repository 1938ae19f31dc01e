//! Security Policy Database (RFC 4301 section 4.4.1).
//!
//! An ordered list of entries: the first entry (lowest `priority`, then
//! oldest) whose selectors match a packet decides its fate. Entries are added
//! and removed by handle at run time. Lookups go through an index so they stay
//! fast with many entries while keeping first-match semantics:
//!
//! * entries whose remote address selector is a single host are indexed by
//!   that address,
//! * the others whose local port selector is a single port are indexed by it,
//! * the rest are kept in one ordered list.
//!
//! A lookup walks the (ordered) candidates of the packet's remote address,
//! then those of its local port and the general list, each only until it
//! passes the best match found so far.

use alloc::collections::{BTreeMap, BTreeSet};

use smoltcp::wire::{IpAddress, IpCidr};

use crate::sa::{SaId, Service};

/// Handle of an SPD entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyHandle(pub u64);

/// An address selector: ANY or an inclusive range of one IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSelector {
    /// Any address.
    Any,
    /// Addresses from `.0` to `.1` inclusive (same IP version).
    Range(IpAddress, IpAddress),
}

impl AddrSelector {
    /// A single host.
    pub fn host(addr: IpAddress) -> AddrSelector {
        AddrSelector::Range(addr, addr)
    }

    /// Every address of a prefix.
    pub fn subnet(cidr: IpCidr) -> AddrSelector {
        match cidr {
            IpCidr::Ipv4(c) => {
                let host_mask = u32::MAX.checked_shr(u32::from(c.prefix_len())).unwrap_or(0);
                let base = u32::from(c.address()) & !host_mask;
                AddrSelector::Range(
                    IpAddress::Ipv4(base.into()),
                    IpAddress::Ipv4((base | host_mask).into()),
                )
            }
            IpCidr::Ipv6(c) => {
                let host_mask = u128::MAX
                    .checked_shr(u32::from(c.prefix_len()))
                    .unwrap_or(0);
                let base = u128::from(c.address()) & !host_mask;
                AddrSelector::Range(
                    IpAddress::Ipv6(base.into()),
                    IpAddress::Ipv6((base | host_mask).into()),
                )
            }
        }
    }

    /// Whether `addr` matches.
    pub fn matches(&self, addr: IpAddress) -> bool {
        match (self, addr) {
            (AddrSelector::Any, _) => true,
            (AddrSelector::Range(IpAddress::Ipv4(a), IpAddress::Ipv4(b)), IpAddress::Ipv4(x)) => {
                (*a..=*b).contains(&x)
            }
            (AddrSelector::Range(IpAddress::Ipv6(a), IpAddress::Ipv6(b)), IpAddress::Ipv6(x)) => {
                (*a..=*b).contains(&x)
            }
            _ => false,
        }
    }

    fn single(&self) -> Option<IpAddress> {
        match self {
            AddrSelector::Range(a, b) if a == b => Some(*a),
            _ => None,
        }
    }
}

/// A port selector: ANY or an inclusive range. For ICMP and ICMPv6 the local
/// port is the message type and the remote port the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSelector {
    /// Any port (and packets without ports).
    Any,
    /// Ports from `.0` to `.1` inclusive.
    Range(u16, u16),
}

impl PortSelector {
    /// One port.
    pub fn port(p: u16) -> PortSelector {
        PortSelector::Range(p, p)
    }

    /// Whether `port` matches.
    pub fn matches(&self, port: u16) -> bool {
        match self {
            PortSelector::Any => true,
            PortSelector::Range(a, b) => (*a..=*b).contains(&port),
        }
    }

    fn single(&self) -> Option<u16> {
        match self {
            PortSelector::Range(a, b) if a == b => Some(*a),
            _ => None,
        }
    }
}

/// The selectors of an SPD entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    /// Our address (source when sending, destination when receiving).
    pub local: AddrSelector,
    /// The peer's address.
    pub remote: AddrSelector,
    /// Next-layer protocol (IP protocol number), `None` for ANY.
    pub protocol: Option<u8>,
    /// Our port.
    pub local_port: PortSelector,
    /// The peer's port.
    pub remote_port: PortSelector,
}

impl Selector {
    /// Matches every packet.
    pub const ANY: Selector = Selector {
        local: AddrSelector::Any,
        remote: AddrSelector::Any,
        protocol: None,
        local_port: PortSelector::Any,
        remote_port: PortSelector::Any,
    };

    /// All traffic between two hosts.
    pub fn hosts(local: IpAddress, remote: IpAddress) -> Selector {
        Selector {
            local: AddrSelector::host(local),
            remote: AddrSelector::host(remote),
            ..Selector::ANY
        }
    }

    /// Whether a packet's flow matches.
    pub fn matches(&self, flow: &Flow) -> bool {
        self.local.matches(flow.local)
            && self.remote.matches(flow.remote)
            && self.protocol.is_none_or(|p| p == flow.protocol)
            && self.local_port.matches(flow.local_port)
            && self.remote_port.matches(flow.remote_port)
    }
}

/// The selector values of one packet, oriented from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Our address.
    pub local: IpAddress,
    /// The peer's address.
    pub remote: IpAddress,
    /// Next-layer protocol.
    pub protocol: u8,
    /// Our port (ICMP: type), 0 if none.
    pub local_port: u16,
    /// The peer's port (ICMP: code), 0 if none.
    pub remote_port: u16,
}

/// What PROTECT demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protect {
    /// The minimum service: an SA giving less is refused.
    pub service: Service,
    /// The SA outbound packets use (`None`: no SA yet, packets are dropped).
    pub outbound: Option<SaId>,
    /// The SA inbound packets must have arrived on (`None`: any SA from the
    /// peer providing the service).
    pub inbound: Option<SaId>,
}

/// The action of an SPD entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send and receive in the clear.
    Bypass,
    /// Drop.
    Discard,
    /// Require ESP.
    Protect(Protect),
}

/// Traffic statistics and the last inbound protection of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryStats {
    /// Outbound packets that matched.
    pub packets_out: u64,
    /// Inbound packets that matched (after decryption for PROTECT).
    pub packets_in: u64,
    /// How the last inbound packet of this entry was protected.
    pub last_inbound: Option<crate::InboundInfo>,
}

/// An SPD entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Ordering: lower first; equal priorities keep insertion order.
    pub priority: u32,
    /// Selectors.
    pub selector: Selector,
    /// Action.
    pub action: Action,
    /// Statistics.
    pub stats: EntryStats,
}

type Order = (u32, u64);

/// A few recent lookups: packets of one flow come in trains.
#[derive(Debug, Clone, Default)]
struct Cache {
    slots: [Option<(Flow, Option<Order>)>; 4],
    next: usize,
}

/// The Security Policy Database.
#[derive(Debug, Clone)]
pub struct Spd {
    entries: BTreeMap<Order, Entry>,
    handles: BTreeMap<PolicyHandle, Order>,
    by_remote: BTreeMap<IpAddress, BTreeSet<Order>>,
    by_local_port: BTreeMap<u16, BTreeSet<Order>>,
    general: BTreeSet<Order>,
    next: u64,
    default: Action,
    cache: Cache,
}

impl Default for Spd {
    fn default() -> Self {
        Spd::new(Action::Discard)
    }
}

impl Spd {
    /// An empty SPD whose packets matching no entry get `default`
    /// (RFC 4301 says DISCARD).
    pub fn new(default: Action) -> Spd {
        Spd {
            entries: BTreeMap::new(),
            handles: BTreeMap::new(),
            by_remote: BTreeMap::new(),
            by_local_port: BTreeMap::new(),
            general: BTreeSet::new(),
            next: 0,
            default,
            cache: Cache::default(),
        }
    }

    /// The action for packets matching no entry.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// Change the action for packets matching no entry.
    pub fn set_default_action(&mut self, action: Action) {
        self.default = action;
    }

    /// Add an entry; it goes after every entry of lower or equal priority.
    pub fn insert(&mut self, priority: u32, selector: Selector, action: Action) -> PolicyHandle {
        self.cache = Cache::default();
        let order = (priority, self.next);
        let handle = PolicyHandle(self.next);
        self.next += 1;
        if let Some(a) = selector.remote.single() {
            self.by_remote.entry(a).or_default().insert(order);
        } else if let Some(p) = selector.local_port.single() {
            self.by_local_port.entry(p).or_default().insert(order);
        } else {
            self.general.insert(order);
        }
        self.entries.insert(
            order,
            Entry {
                priority,
                selector,
                action,
                stats: EntryStats::default(),
            },
        );
        self.handles.insert(handle, order);
        handle
    }

    /// Remove an entry; returns it if it existed.
    pub fn remove(&mut self, handle: PolicyHandle) -> Option<Entry> {
        let order = self.handles.remove(&handle)?;
        let entry = self.entries.remove(&order)?;
        self.cache = Cache::default();
        if let Some(a) = entry.selector.remote.single() {
            if let Some(set) = self.by_remote.get_mut(&a) {
                set.remove(&order);
                if set.is_empty() {
                    self.by_remote.remove(&a);
                }
            }
        } else if let Some(p) = entry.selector.local_port.single() {
            if let Some(set) = self.by_local_port.get_mut(&p) {
                set.remove(&order);
                if set.is_empty() {
                    self.by_local_port.remove(&p);
                }
            }
        } else {
            self.general.remove(&order);
        }
        Some(entry)
    }

    /// Replace the action of an entry (e.g. to point PROTECT at a new SA).
    pub fn set_action(&mut self, handle: PolicyHandle, action: Action) -> bool {
        match self
            .handles
            .get(&handle)
            .and_then(|o| self.entries.get_mut(o))
        {
            Some(e) => {
                e.action = action;
                true
            }
            None => false,
        }
    }

    /// An entry by handle.
    pub fn get(&self, handle: PolicyHandle) -> Option<&Entry> {
        self.handles.get(&handle).and_then(|o| self.entries.get(o))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in lookup order, with their handles.
    pub fn iter(&self) -> impl Iterator<Item = (PolicyHandle, &Entry)> + '_ {
        // Handles are the insertion counter, which is the second half of the order key.
        self.entries.iter().map(|((_, n), e)| (PolicyHandle(*n), e))
    }

    fn first_match<'a>(
        &self,
        candidates: impl Iterator<Item = &'a Order>,
        flow: &Flow,
        best: Option<Order>,
    ) -> Option<Order> {
        for o in candidates {
            if best.is_some_and(|b| *o >= b) {
                return best;
            }
            if self
                .entries
                .get(o)
                .is_some_and(|e| e.selector.matches(flow))
            {
                return Some(*o);
            }
        }
        best
    }

    /// The first matching entry's handle, or `None` (default action applies).
    pub fn lookup(&self, flow: &Flow) -> Option<PolicyHandle> {
        self.find(flow).map(|(_, n)| PolicyHandle(n))
    }

    /// Like [`Spd::lookup`], through a small cache of recent flows, and
    /// returning the entry itself (for the engine's hot path).
    pub(crate) fn lookup_entry(&mut self, flow: &Flow) -> Option<(PolicyHandle, &mut Entry)> {
        let cached = self
            .cache
            .slots
            .iter()
            .flatten()
            .find(|(f, _)| f == flow)
            .map(|(_, o)| *o);
        let order = match cached {
            Some(o) => o,
            None => {
                let o = self.find(flow);
                let i = self.cache.next;
                self.cache.slots[i] = Some((*flow, o));
                self.cache.next = (i + 1) % self.cache.slots.len();
                o
            }
        }?;
        let entry = self.entries.get_mut(&order)?;
        Some((PolicyHandle(order.1), entry))
    }

    fn find(&self, flow: &Flow) -> Option<Order> {
        let mut best = None;
        if let Some(set) = self.by_remote.get(&flow.remote) {
            best = self.first_match(set.iter(), flow, best);
        }
        if let Some(set) = self.by_local_port.get(&flow.local_port) {
            best = self.first_match(set.iter(), flow, best);
        }
        self.first_match(self.general.iter(), flow, best)
    }

    /// The action for a flow: the first match's, or the default.
    pub fn decide(&self, flow: &Flow) -> (Option<PolicyHandle>, Action) {
        match self.lookup(flow) {
            Some(h) => (Some(h), self.get(h).map_or(self.default, |e| e.action)),
            None => (None, self.default),
        }
    }

    /// Reference lookup by linear scan (for tests and benchmarks).
    pub fn lookup_linear(&self, flow: &Flow) -> Option<PolicyHandle> {
        self.iter()
            .find(|(_, e)| e.selector.matches(flow))
            .map(|(h, _)| h)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use alloc::vec::Vec;
    use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddress {
        IpAddress::Ipv4(Ipv4Address::new(a, b, c, d))
    }

    fn flow(remote: IpAddress, proto: u8, lp: u16, rp: u16) -> Flow {
        Flow {
            local: v4(10, 0, 0, 1),
            remote,
            protocol: proto,
            local_port: lp,
            remote_port: rp,
        }
    }

    #[test]
    fn first_match_wins_and_priorities_order() {
        let mut spd = Spd::default();
        let general = spd.insert(10, Selector::ANY, Action::Bypass);
        let host = spd.insert(
            20,
            Selector::hosts(v4(10, 0, 0, 1), v4(10, 0, 0, 2)),
            Action::Discard,
        );
        let f = flow(v4(10, 0, 0, 2), 6, 80, 1234);
        // The general entry has a lower priority value: it wins.
        assert_eq!(spd.lookup(&f), Some(general));
        spd.remove(general).unwrap();
        assert_eq!(spd.lookup(&f), Some(host));
        let port = spd.insert(
            5,
            Selector {
                local_port: PortSelector::port(80),
                protocol: Some(6),
                ..Selector::ANY
            },
            Action::Bypass,
        );
        assert_eq!(spd.lookup(&f), Some(port));
        assert_eq!(spd.lookup(&flow(v4(10, 0, 0, 2), 17, 80, 1)), Some(host));
        assert_eq!(spd.lookup(&flow(v4(10, 0, 0, 3), 17, 80, 1)), None);
        assert_eq!(
            spd.decide(&flow(v4(10, 0, 0, 3), 17, 80, 1)),
            (None, Action::Discard)
        );
        // Same priority: insertion order.
        let mut spd = Spd::default();
        let a = spd.insert(1, Selector::ANY, Action::Bypass);
        let _b = spd.insert(1, Selector::ANY, Action::Discard);
        assert_eq!(spd.lookup(&f), Some(a));
    }

    #[test]
    fn ranges_and_subnets() {
        let s = AddrSelector::subnet(IpCidr::Ipv4(Ipv4Cidr::new(
            Ipv4Address::new(192, 168, 4, 77),
            24,
        )));
        assert!(s.matches(v4(192, 168, 4, 0)));
        assert!(s.matches(v4(192, 168, 4, 255)));
        assert!(!s.matches(v4(192, 168, 5, 0)));
        assert!(!s.matches(IpAddress::Ipv6(smoltcp::wire::Ipv6Address::LOCALHOST)));
        let all =
            AddrSelector::subnet(IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(1, 2, 3, 4), 0)));
        assert!(all.matches(v4(255, 255, 255, 255)));
        assert!(PortSelector::Range(10, 20).matches(20));
        assert!(!PortSelector::Range(10, 20).matches(21));
    }

    /// The index gives the same answer as a linear scan on a mixed,
    /// changing rule set.
    #[test]
    fn index_agrees_with_linear_scan() {
        let mut spd = Spd::default();
        let mut handles = Vec::new();
        let mut x: u32 = 12345;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for i in 0..600u32 {
            let r = rnd();
            let remote = match r % 3 {
                0 => AddrSelector::host(v4(10, 0, (r >> 8) as u8 % 4, (r >> 16) as u8 % 8)),
                1 => AddrSelector::Range(v4(10, 0, 0, 0), v4(10, 0, 1, (r >> 8) as u8)),
                _ => AddrSelector::Any,
            };
            let local_port = match (r >> 4) % 3 {
                0 => PortSelector::port((r >> 12) as u16 % 8),
                1 => PortSelector::Range(0, (r >> 12) as u16 % 8),
                _ => PortSelector::Any,
            };
            let sel = Selector {
                remote,
                local_port,
                protocol: if r % 5 == 0 { Some(17) } else { None },
                ..Selector::ANY
            };
            let action = if i % 2 == 0 {
                Action::Bypass
            } else {
                Action::Discard
            };
            handles.push(spd.insert(rnd() % 50, sel, action));
            if i % 7 == 0 {
                let victim = handles.swap_remove(rnd() as usize % handles.len());
                spd.remove(victim);
            }
        }
        for _ in 0..3000 {
            let r = rnd();
            let f = flow(
                v4(10, 0, (r % 4) as u8, (r >> 8) as u8 % 8),
                if r % 3 == 0 { 17 } else { 6 },
                (r >> 16) as u16 % 9,
                1,
            );
            assert_eq!(spd.lookup(&f), spd.lookup_linear(&f), "{f:?}");
        }
    }
}
