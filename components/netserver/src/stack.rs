//! The network server proper: a smoltcp [`Interface`] over an
//! [`ipsec::EspDevice`], and the socket operations of
//! [`netserver_api::Request`] on top of the socket table, the port pools and
//! the vetting flow.
//!
//! - Every authorized `Connect`, `Bind`, `SendTo` and every accepted
//!   connection inserts SPD rules for exactly its flow, PROTECT with the
//!   hand-keyed SA pair of the peer and the effective algorithm (or BYPASS
//!   for level bypass); `Close` removes them and gives the port back.
//! - Hand-keyed SAs are installed once, at start; sockets take references
//!   on them ([`Audit::sa_refs`]).
//! - Nothing blocks: a call that cannot complete returns
//!   [`Error::WouldBlock`], and [`NetServer::take_ready`] names the
//!   applications whose sockets changed state since, so the PD notifies them.
//!
//! Levels: `Bypass` makes a BYPASS rule; `Avail` protects when the peer has
//! an SA for an allowed algorithm and bypasses otherwise; `Use`, `Require`
//! protect (an SPD PROTECT entry also refuses clear inbound traffic, so
//! `Use` is enforced as strictly as `Require`: the ESP layer's SPD has no
//! outbound-only entries); `Unique` needs an SA of the socket's own, which
//! hand-keyed SAs cannot give: it is refused with [`Error::NotSupported`]
//! (fail closed) until on-demand keying exists.

use crate::ports::{Owner, PortError, PortPool};
use crate::table::{SockState, SocketTable};
use crate::vet::{Ask, Authority, VetError, Vetter};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ipsec::{
    AddrSelector, Direction, EspDevice, InboundInfo, PolicyHandle, PortSelector, Protect, SaConfig,
    SaId, Selector,
};
use netserver_api::{
    Algorithm, Endpoint, Error, Floor, InboundProtection, IpAddr, Level, Protection, Proto,
    Refusal, Request, Response, SockOpt, SockOptValue, SocketId,
};
use policyrepo_api::{AppProfile, ManualSa, NetworkConfig, SaDirection};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address,
    Ipv6Address,
};
use trust_api::Operation;

/// TCP receive and send buffer size of each socket.
pub const TCP_BUFFER: usize = 64 * 1024;
/// UDP datagrams buffered per socket.
pub const UDP_PACKETS: usize = 32;
/// UDP payload bytes buffered per socket.
pub const UDP_BUFFER: usize = 64 * 1024;
/// Most bytes one `Recv`/`RecvFrom` returns (a reply must fit in
/// [`netserver_api::MAX_MESSAGE`]).
pub const MAX_RECV: usize = 60 * 1024;
/// Largest UDP payload sent: one unfragmented datagram over ESP on a
/// 1500-byte link, IPv4 or IPv6 (the ESP layer never fragments).
pub const MAX_DATAGRAM: usize = 1372;
/// Most listening sockets a `Listen` backlog keeps.
pub const MAX_BACKLOG: usize = 16;
/// How long a gracefully closed TCP connection may take to finish before it
/// is aborted and its rule and port are released.
pub const LINGER: Duration = Duration::from_secs(2);

/// SPD priority of per-flow rules (lower goes first).
const PRIO_FLOW: u32 = 10;
/// SPD priority of a bound socket's per-peer rules.
const PRIO_BOUND: u32 = 20;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// The server's clock: smoltcp time and wall-clock seconds (for security
/// context freshness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time for smoltcp.
    pub instant: Instant,
    /// Seconds since the Unix epoch.
    pub unix: u64,
}

/// What the server needs at start, from the policy repository.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The node's name (the `node` action attribute).
    pub node: String,
    /// MAC and addresses.
    pub network: NetworkConfig,
    /// Every application profile; the owner of a request is the channel id
    /// of the profile (`AppProfile::channel`).
    pub apps: Vec<AppProfile>,
    /// The node's hand-keyed SAs.
    pub sas: Vec<ManualSa>,
    /// Security contexts must be issued within this many seconds of `now`.
    pub context_window: u64,
    /// At most this many context nonces are remembered.
    pub nonce_capacity: usize,
    /// At most this many sockets in all.
    pub max_sockets: usize,
    /// At most this many sockets per application.
    pub max_sockets_per_app: usize,
    /// smoltcp's random seed (TCP initial sequence numbers, ephemeral
    /// ports): the PD sets it from its random source. `new` leaves 0, which
    /// makes sequence numbers predictable: only for tests.
    pub random_seed: u64,
}

impl NetConfig {
    /// A configuration with the default limits (30 s context window, 16384
    /// nonces, i.e. about 500 vetted actions per second sustained and about
    /// 1 MiB of memory at most, 512 sockets, 64 per application).
    pub fn new(
        node: &str,
        network: NetworkConfig,
        apps: Vec<AppProfile>,
        sas: Vec<ManualSa>,
    ) -> Self {
        NetConfig {
            node: String::from(node),
            network,
            apps,
            sas,
            context_window: 30,
            nonce_capacity: 16_384,
            max_sockets: 512,
            max_sockets_per_app: 64,
            random_seed: 0,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// More addresses than the interface holds, or a bad prefix length.
    Address,
    /// A hand-keyed SA was refused by the SAD (bad key length, duplicate
    /// SPI, ...); the SPI says which.
    Sa(u32),
    /// An SA names a local address that is not one of the node's.
    SaAddress(u32),
}

/// A leak audit: after every socket is closed (and lingering connections
/// finished) every figure is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Audit {
    /// Sockets in the table.
    pub sockets: usize,
    /// smoltcp sockets (including listening backlogs and lingering ones).
    pub stack_sockets: usize,
    /// Closed TCP connections still finishing.
    pub lingering: usize,
    /// SPD rules in the ESP engine.
    pub spd_rules: usize,
    /// Sum of socket references on hand-keyed SAs.
    pub sa_refs: u64,
    /// TCP ports held.
    pub tcp_ports: usize,
    /// UDP ports held.
    pub udp_ports: usize,
}

impl Audit {
    /// Whether nothing is held.
    pub fn is_clean(&self) -> bool {
        *self == Audit::default()
    }
}

/// Cumulative counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// SPD rules inserted.
    pub rules_inserted: u64,
    /// SPD rules removed.
    pub rules_removed: u64,
    /// Actions vetted and allowed.
    pub allowed: u64,
    /// Actions refused.
    pub refused: u64,
}

/// One SPD rule a socket holds, with the SA pair it references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The SPD entry.
    pub handle: PolicyHandle,
    /// Outbound and inbound SA, for PROTECT rules.
    pub sas: Option<(SaId, SaId)>,
}

/// The rules of one socket (the control block's `rule`).
pub type Rules = Vec<Rule>;

/// A hand-keyed SA pair to one peer for one algorithm.
#[derive(Debug, Clone)]
struct PeerSa {
    remote: IpAddr,
    algorithm: Algorithm,
    out: Option<SaId>,
    inb: Option<SaId>,
    peer_key: String,
    peer_credentials: Vec<String>,
}

/// The smoltcp side of one socket.
#[derive(Debug, Default)]
struct Net {
    /// The TCP or UDP socket.
    handle: Option<SocketHandle>,
    /// Listening sockets of a TCP listener.
    backlog: Vec<SocketHandle>,
    /// Local address the socket is bound to (None: any of the node's).
    local_addr: Option<IpAddr>,
    /// UDP destinations already authorized, with the index of their rule.
    flows: BTreeMap<(IpAddr, u16), usize>,
    /// How the last inbound datagram was protected (UDP); for an accepted
    /// TCP connection, the packet that opened it on the listener's rule.
    last_inbound: Option<InboundInfo>,
    /// Readiness last reported to the owner.
    readiness: u8,
}

/// A closed TCP connection finishing in the background.
#[derive(Debug)]
struct Linger {
    handle: SocketHandle,
    rules: Rules,
    port: Option<u16>,
    owner: Owner,
    deadline: Instant,
}

/// The decided protection of one flow.
#[derive(Debug, Clone, Copy)]
enum Choice {
    Bypass,
    Protect {
        out: SaId,
        inb: SaId,
        service: ipsec::Service,
        /// Inbound traffic must come on `inb` exactly; otherwise on any SA
        /// from the peer giving the service (the peer picks its own
        /// outbound algorithm, e.g. for a SYN-ACK sent before `Accept`).
        strict: bool,
    },
}

/// The network server.
pub struct NetServer<D: Device> {
    iface: Interface,
    dev: EspDevice<D>,
    sockets: SocketSet<'static>,
    table: SocketTable<Rules>,
    nets: BTreeMap<SocketId, Net>,
    tcp_ports: PortPool,
    udp_ports: PortPool,
    vetter: Vetter,
    apps: BTreeMap<Owner, AppProfile>,
    addresses: Vec<IpAddr>,
    peers: Vec<PeerSa>,
    sa_peer: BTreeMap<SaId, usize>,
    sa_refs: BTreeMap<SaId, u64>,
    lingering: Vec<Linger>,
    refusals: BTreeMap<Owner, Refusal>,
    ready: BTreeSet<Owner>,
    stats: Stats,
}

fn to_smol(a: IpAddr) -> IpAddress {
    match a {
        IpAddr::V4(b) => IpAddress::Ipv4(Ipv4Address::from(b)),
        IpAddr::V6(b) => IpAddress::Ipv6(Ipv6Address::from(b)),
    }
}

fn from_smol(a: IpAddress) -> IpAddr {
    match a {
        IpAddress::Ipv4(a) => IpAddr::V4(a.octets()),
        IpAddress::Ipv6(a) => IpAddr::V6(a.octets()),
    }
}

fn to_ipsec_alg(a: Algorithm) -> ipsec::Algorithm {
    match a {
        Algorithm::AesGcm128 => ipsec::Algorithm::AesGcm128,
        Algorithm::AesGcm256 => ipsec::Algorithm::AesGcm256,
        Algorithm::ChaCha20Poly1305 => ipsec::Algorithm::ChaCha20Poly1305,
        Algorithm::AesGmac128 => ipsec::Algorithm::AesGmac128,
        Algorithm::AesGmac256 => ipsec::Algorithm::AesGmac256,
    }
}

fn from_ipsec_alg(a: ipsec::Algorithm) -> Algorithm {
    match a {
        ipsec::Algorithm::AesGcm128 => Algorithm::AesGcm128,
        ipsec::Algorithm::AesGcm256 => Algorithm::AesGcm256,
        ipsec::Algorithm::ChaCha20Poly1305 => Algorithm::ChaCha20Poly1305,
        ipsec::Algorithm::AesGmac128 => Algorithm::AesGmac128,
        ipsec::Algorithm::AesGmac256 => Algorithm::AesGmac256,
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    matches!(
        (a, b),
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
    )
}

fn concrete(e: &Endpoint) -> Result<(IpAddr, u16), Error> {
    match (e.addr, e.port) {
        (Some(a), Some(p)) if p != 0 => Ok((a, p)),
        _ => Err(Error::Invalid),
    }
}

fn port_error(e: PortError) -> Error {
    match e {
        PortError::InUse => Error::AddressInUse,
        PortError::Exhausted => Error::NoPorts,
        PortError::Invalid => Error::Invalid,
    }
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    s.set_nagle_enabled(false);
    s
}

fn udp_socket() -> udp::Socket<'static> {
    udp::Socket::new(
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
            vec![0; UDP_BUFFER],
        ),
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
            vec![0; UDP_BUFFER],
        ),
    )
}

impl<D: Device> NetServer<D> {
    /// A server on `device`: installs the node's addresses and hand-keyed
    /// SAs; the SPD starts empty (default DISCARD: nothing passes before a
    /// socket is vetted, ARP and IPv6 ND aside).
    pub fn new(device: D, cfg: NetConfig, now: Instant) -> Result<Self, SetupError> {
        let mut dev = EspDevice::new(device);
        let mut iface_cfg =
            Config::new(HardwareAddress::Ethernet(EthernetAddress(cfg.network.mac)));
        iface_cfg.random_seed = cfg.random_seed;
        let mut iface = Interface::new(iface_cfg, &mut dev, now);
        let mut bad = false;
        iface.update_ip_addrs(|addrs| {
            for (a, prefix) in &cfg.network.addresses {
                let max = if matches!(a, IpAddr::V4(_)) { 32 } else { 128 };
                if *prefix > max || addrs.push(IpCidr::new(to_smol(*a), *prefix)).is_err() {
                    bad = true;
                }
            }
        });
        if bad {
            return Err(SetupError::Address);
        }
        if let Some(gw) = cfg.network.gateway {
            match to_smol(gw) {
                IpAddress::Ipv4(g) => {
                    let _ = iface.routes_mut().add_default_ipv4_route(g);
                }
                IpAddress::Ipv6(g) => {
                    let _ = iface.routes_mut().add_default_ipv6_route(g);
                }
            }
        }
        let addresses: Vec<IpAddr> = cfg.network.addresses.iter().map(|(a, _)| *a).collect();
        let mut peers: Vec<PeerSa> = Vec::new();
        let mut sa_peer = BTreeMap::new();
        for sa in &cfg.sas {
            if !addresses.contains(&sa.local) {
                return Err(SetupError::SaAddress(sa.spi));
            }
            let dir = match sa.direction {
                SaDirection::Inbound => Direction::Inbound,
                SaDirection::Outbound => Direction::Outbound,
            };
            let id = dev
                .engine_mut()
                .sad
                .add(
                    SaConfig::new(
                        sa.spi,
                        dir,
                        to_ipsec_alg(sa.algorithm),
                        &sa.key,
                        to_smol(sa.local),
                        to_smol(sa.remote),
                    ),
                    now,
                )
                .map_err(|_| SetupError::Sa(sa.spi))?;
            let idx = match peers
                .iter()
                .position(|p| p.remote == sa.remote && p.algorithm == sa.algorithm)
            {
                Some(i) => i,
                None => {
                    peers.push(PeerSa {
                        remote: sa.remote,
                        algorithm: sa.algorithm,
                        out: None,
                        inb: None,
                        peer_key: sa.peer_key.clone(),
                        peer_credentials: sa.peer_credentials.clone(),
                    });
                    peers.len() - 1
                }
            };
            match dir {
                Direction::Outbound => peers[idx].out = Some(id),
                Direction::Inbound => peers[idx].inb = Some(id),
            }
            sa_peer.insert(id, idx);
        }
        let mut tcp_ports = PortPool::new(49152, 65535);
        let mut udp_ports = PortPool::new(49152, 65535);
        let mut apps = BTreeMap::new();
        for app in cfg.apps {
            let owner = Owner::from(app.channel);
            for p in &app.ports {
                tcp_ports.reserve(*p, owner);
                udp_ports.reserve(*p, owner);
            }
            apps.insert(owner, app);
        }
        Ok(NetServer {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            table: SocketTable::new(cfg.max_sockets, cfg.max_sockets_per_app),
            nets: BTreeMap::new(),
            tcp_ports,
            udp_ports,
            vetter: Vetter::new(&cfg.node, cfg.context_window, cfg.nonce_capacity),
            apps,
            addresses,
            peers,
            sa_peer,
            sa_refs: BTreeMap::new(),
            lingering: Vec::new(),
            refusals: BTreeMap::new(),
            ready: BTreeSet::new(),
            stats: Stats::default(),
        })
    }

    /// The ESP device (engine counters, SAD, SPD).
    pub fn device(&self) -> &EspDevice<D> {
        &self.dev
    }

    /// The ESP device, mutable (e.g. to reach the inner NIC).
    pub fn device_mut(&mut self) -> &mut EspDevice<D> {
        &mut self.dev
    }

    /// The application profile bound to channel `owner`.
    pub fn app(&self, owner: Owner) -> Option<&AppProfile> {
        self.apps.get(&owner)
    }

    /// Cumulative counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// What is held right now (see [`Audit`]).
    pub fn audit(&self) -> Audit {
        Audit {
            sockets: self.table.len(),
            stack_sockets: self.sockets.iter().count(),
            lingering: self.lingering.len(),
            spd_rules: self.dev.engine().spd.len(),
            sa_refs: self.sa_refs.values().sum(),
            tcp_ports: self.tcp_ports.in_use(),
            udp_ports: self.udp_ports.in_use(),
        }
    }

    /// Runs the stack: moves frames, advances timers, finishes lingering
    /// connections and records which applications' sockets changed state.
    /// Returns whether anything happened.
    pub fn poll(&mut self, now: Instant) -> bool {
        let r = self.iface.poll(now, &mut self.dev, &mut self.sockets);
        self.reap_lingering(now);
        self.update_readiness();
        r != smoltcp::iface::PollResult::None
    }

    /// How long until [`NetServer::poll`] should run again without new
    /// frames (`None`: no timer pending).
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        let d = self.iface.poll_delay(now, &self.sockets);
        if self.lingering.is_empty() {
            d
        } else {
            Some(d.map_or(Duration::from_millis(100), |d| {
                d.min(Duration::from_millis(100))
            }))
        }
    }

    /// The applications whose sockets changed readiness since the last
    /// call: the PD notifies each on its channel.
    pub fn take_ready(&mut self) -> Vec<Owner> {
        core::mem::take(&mut self.ready).into_iter().collect()
    }

    /// Closes every socket of `owner` (the application exited or crashed).
    pub fn close_owner(&mut self, owner: Owner, now: Instant) {
        let ids: Vec<SocketId> = self
            .nets
            .keys()
            .copied()
            .filter(|id| self.table.get(owner, *id).is_ok())
            .collect();
        for id in ids {
            let _ = self.close(owner, id, now);
        }
        self.refusals.remove(&owner);
    }

    /// Benchmark baseline: a bare smoltcp TCP connect on this stack, with
    /// no vetting, no socket table and no SPD rule management (the caller
    /// installs whatever SPD rule the flow needs). Not for the PD.
    #[doc(hidden)]
    pub fn bench_raw_connect(
        &mut self,
        local: (IpAddr, u16),
        remote: (IpAddr, u16),
    ) -> Option<SocketHandle> {
        let mut s = tcp_socket();
        s.connect(
            self.iface.context(),
            (to_smol(remote.0), remote.1),
            (to_smol(local.0), local.1),
        )
        .ok()?;
        Some(self.sockets.add(s))
    }

    /// Benchmark baseline: whether a raw connection is established.
    #[doc(hidden)]
    pub fn bench_raw_established(&self, h: SocketHandle) -> bool {
        self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Established
    }

    /// Benchmark baseline: aborts and forgets a raw connection.
    #[doc(hidden)]
    pub fn bench_raw_abort(&mut self, h: SocketHandle) {
        self.sockets.get_mut::<tcp::Socket>(h).abort();
        self.lingering.push(Linger {
            handle: h,
            rules: Vec::new(),
            port: None,
            owner: Owner::MAX,
            deadline: Instant::ZERO,
        });
    }

    /// Serves one request of the application on channel `owner`.
    pub fn handle(
        &mut self,
        auth: &mut impl Authority,
        owner: Owner,
        req: Request,
        now: Now,
    ) -> Result<Response, Error> {
        if !self.apps.contains_key(&owner) {
            // No profile binds this channel: nothing is served on it.
            return Err(Error::Refused);
        }
        let r = match req {
            Request::Socket { proto } => self.socket(owner, proto),
            Request::Bind {
                sock,
                local,
                ctx,
                credentials,
            } => self.bind(auth, owner, sock, local, &ctx, &credentials, now),
            Request::Listen { sock, backlog } => self.listen(owner, sock, backlog),
            Request::Accept { sock } => self.accept(auth, owner, sock, now),
            Request::Connect {
                sock,
                remote,
                ctx,
                credentials,
            } => self.connect(auth, owner, sock, remote, &ctx, &credentials, now),
            Request::Send { sock, data } => self.send(owner, sock, &data),
            Request::Recv { sock, max_len } => self.recv(owner, sock, max_len),
            Request::SendTo {
                sock,
                remote,
                ctx,
                credentials,
                data,
            } => self.send_to(auth, owner, sock, remote, &ctx, &credentials, &data, now),
            Request::RecvFrom { sock, max_len } => self.recv_from(owner, sock, max_len),
            Request::Close { sock } => self.close(owner, sock, now.instant),
            Request::GetSockOpt { sock, opt } => self.get_opt(owner, sock, opt),
            Request::SetSockOpt { sock, value } => self.set_opt(owner, sock, value),
            Request::GetRemoteCredentials { sock } => self
                .peer_of(owner, sock)
                .map(|p| Response::Credentials(self.peers[p].peer_credentials.clone())),
            Request::GetRemoteKey { sock } => self
                .peer_of(owner, sock)
                .map(|p| Response::Key(self.peers[p].peer_key.clone())),
            Request::LastRefusal => Ok(Response::Refusal(self.refusals.get(&owner).cloned())),
        };
        // Work done on behalf of the request (a SYN, a datagram) goes out now.
        self.poll(now.instant);
        r
    }

    fn pd(&self, owner: Owner) -> String {
        self.apps
            .get(&owner)
            .map(|a| a.pd.clone())
            .unwrap_or_default()
    }

    fn floor(&self, owner: Owner) -> Option<Floor> {
        self.apps.get(&owner).map(|a| a.floor)
    }

    fn refuse(&mut self, owner: Owner, e: VetError) -> Error {
        self.stats.refused += 1;
        let code = e.error();
        if let VetError::Refused(r) = e {
            self.refusals.insert(owner, r);
        }
        code
    }

    fn local_for(&self, remote: IpAddr) -> Result<IpAddr, Error> {
        self.addresses
            .iter()
            .copied()
            .find(|a| same_family(*a, remote))
            .ok_or(Error::Unreachable)
    }

    fn is_local(&self, a: IpAddr) -> bool {
        self.addresses.contains(&a)
    }

    fn ports(&mut self, proto: Proto) -> &mut PortPool {
        match proto {
            Proto::Tcp => &mut self.tcp_ports,
            Proto::Udp => &mut self.udp_ports,
        }
    }

    /// The SA pair for a flow to `remote` with `prot`.
    fn choose(&self, remote: IpAddr, prot: &Protection) -> Result<Choice, Error> {
        self.choose_with(remote, prot, None)
    }

    /// As [`Self::choose`], trying `preferred` first (the algorithm the
    /// peer used) and then pinning inbound traffic to its SA.
    fn choose_with(
        &self,
        remote: IpAddr,
        prot: &Protection,
        preferred: Option<Algorithm>,
    ) -> Result<Choice, Error> {
        match prot.level {
            Level::Bypass => return Ok(Choice::Bypass),
            Level::Unique => return Err(Error::NotSupported),
            _ => {}
        }
        let service = if prot.service.confidentiality() {
            ipsec::Service::Confidentiality
        } else {
            ipsec::Service::Integrity
        };
        let preferred = preferred.filter(|a| prot.algorithms.contains(*a));
        for alg in preferred.into_iter().chain(prot.algorithms.iter()) {
            if let Some(p) = self
                .peers
                .iter()
                .find(|p| p.remote == remote && p.algorithm == alg)
            {
                if let (Some(out), Some(inb)) = (p.out, p.inb) {
                    return Ok(Choice::Protect {
                        out,
                        inb,
                        service,
                        strict: preferred.is_some(),
                    });
                }
            }
        }
        if prot.level == Level::Avail {
            Ok(Choice::Bypass)
        } else {
            Err(Error::Unreachable)
        }
    }

    fn insert_rule(&mut self, prio: u32, selector: Selector, choice: Choice) -> Rule {
        let (action, sas) = match choice {
            Choice::Bypass => (ipsec::Action::Bypass, None),
            Choice::Protect {
                out,
                inb,
                service,
                strict,
            } => {
                *self.sa_refs.entry(out).or_insert(0) += 1;
                *self.sa_refs.entry(inb).or_insert(0) += 1;
                (
                    ipsec::Action::Protect(Protect {
                        service,
                        outbound: Some(out),
                        inbound: strict.then_some(inb),
                    }),
                    Some((out, inb)),
                )
            }
        };
        self.stats.rules_inserted += 1;
        let handle = self.dev.engine_mut().spd.insert(prio, selector, action);
        Rule { handle, sas }
    }

    fn remove_rules(&mut self, rules: Rules) {
        for r in rules {
            if self.dev.engine_mut().spd.remove(r.handle).is_some() {
                self.stats.rules_removed += 1;
            }
            if let Some((out, inb)) = r.sas {
                for sa in [out, inb] {
                    if let Some(n) = self.sa_refs.get_mut(&sa) {
                        *n -= 1;
                        if *n == 0 {
                            self.sa_refs.remove(&sa);
                        }
                    }
                }
            }
        }
    }

    fn flow_selector(proto: Proto, local: (IpAddr, u16), remote: (IpAddr, u16)) -> Selector {
        Selector {
            local: AddrSelector::host(to_smol(local.0)),
            remote: AddrSelector::host(to_smol(remote.0)),
            protocol: Some(match proto {
                Proto::Tcp => IPPROTO_TCP,
                Proto::Udp => IPPROTO_UDP,
            }),
            local_port: PortSelector::port(local.1),
            remote_port: PortSelector::port(remote.1),
        }
    }

    fn push_rule(&mut self, owner: Owner, sock: SocketId, rule: Rule) {
        if let Ok(cb) = self.table.get_mut(owner, sock) {
            cb.rule.get_or_insert_with(Vec::new).push(rule);
        }
    }

    fn socket(&mut self, owner: Owner, proto: Proto) -> Result<Response, Error> {
        let id = self.table.create(owner, proto)?;
        self.nets.insert(id, Net::default());
        Ok(Response::Socket(id))
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        auth: &mut impl Authority,
        owner: Owner,
        sock: SocketId,
        local: Endpoint,
        ctx: &netserver_api::SecurityContext,
        credentials: &[String],
        now: Now,
    ) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.state != SockState::Created {
            return Err(Error::Invalid);
        }
        let proto = cb.proto;
        if let Some(a) = local.addr {
            if !self.is_local(a) {
                return Err(Error::Unreachable);
            }
        }
        let port = match local.port {
            None | Some(0) => self.ports(proto).allocate(owner).map_err(port_error)?,
            Some(p) => {
                self.ports(proto).take(p, owner).map_err(port_error)?;
                p
            }
        };
        let real_local = Endpoint {
            addr: local.addr,
            port: Some(port),
        };
        let ask = Ask {
            pd: &self.pd(owner),
            operation: Operation::Bind,
            protocol: proto,
            local: real_local,
            remote: Endpoint::ANY,
            ctx,
            credentials,
            now: now.unix,
        };
        let prot = match self.vetter.vet(auth, &ask) {
            Ok(p) => p,
            Err(e) => {
                self.ports(proto).release(port, owner);
                return Err(self.refuse(owner, e));
            }
        };
        if prot.level == Level::Unique {
            self.ports(proto).release(port, owner);
            return Err(Error::NotSupported);
        }
        self.stats.allowed += 1;
        // Inbound rules: one per peer we have SAs with (the SA chosen by the
        // peer and the effective algorithm), or one BYPASS rule.
        let mut rules = Vec::new();
        let local_sel = match local.addr {
            Some(a) => AddrSelector::host(to_smol(a)),
            None => AddrSelector::Any,
        };
        let pnum = match proto {
            Proto::Tcp => IPPROTO_TCP,
            Proto::Udp => IPPROTO_UDP,
        };
        let mut remotes: Vec<IpAddr> = self.peers.iter().map(|p| p.remote).collect();
        remotes.sort();
        remotes.dedup();
        if prot.level == Level::Bypass {
            let sel = Selector {
                local: local_sel,
                remote: AddrSelector::Any,
                protocol: Some(pnum),
                local_port: PortSelector::port(port),
                remote_port: PortSelector::Any,
            };
            rules.push(self.insert_rule(PRIO_BOUND, sel, Choice::Bypass));
        } else {
            for r in remotes {
                if let Ok(choice) = self.choose(r, &prot) {
                    let sel = Selector {
                        local: local_sel,
                        remote: AddrSelector::host(to_smol(r)),
                        protocol: Some(pnum),
                        local_port: PortSelector::port(port),
                        remote_port: PortSelector::Any,
                    };
                    rules.push(self.insert_rule(PRIO_BOUND, sel, choice));
                }
            }
        }
        let handle = match proto {
            Proto::Tcp => None,
            Proto::Udp => {
                let mut s = udp_socket();
                let ep = IpListenEndpoint {
                    addr: local.addr.map(to_smol),
                    port,
                };
                if s.bind(ep).is_err() {
                    self.remove_rules(rules);
                    self.ports(proto).release(port, owner);
                    return Err(Error::Invalid);
                }
                Some(self.sockets.add(s))
            }
        };
        let cb = self.table.get_mut(owner, sock)?;
        cb.state = SockState::Bound;
        cb.ctx = Some(ctx.clone());
        cb.protection = Some(prot);
        cb.local_port = Some(port);
        cb.rule = Some(rules);
        if let Some(net) = self.nets.get_mut(&sock) {
            net.handle = handle;
            net.local_addr = local.addr;
        }
        Ok(Response::Bound(real_local))
    }

    fn listen(&mut self, owner: Owner, sock: SocketId, backlog: u16) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.proto != Proto::Tcp {
            return Err(Error::NotSupported);
        }
        if cb.state != SockState::Bound {
            return Err(Error::Invalid);
        }
        let port = cb.local_port.ok_or(Error::Invalid)?;
        let addr = self.nets.get(&sock).and_then(|n| n.local_addr);
        let n = usize::from(backlog).clamp(1, MAX_BACKLOG);
        let mut handles = Vec::new();
        for _ in 0..n {
            let mut s = tcp_socket();
            if s.listen(IpListenEndpoint {
                addr: addr.map(to_smol),
                port,
            })
            .is_err()
            {
                for h in handles {
                    self.sockets.remove(h);
                }
                return Err(Error::Invalid);
            }
            handles.push(self.sockets.add(s));
        }
        if let Some(net) = self.nets.get_mut(&sock) {
            net.backlog = handles;
        }
        self.table.get_mut(owner, sock)?.state = SockState::Listening;
        Ok(Response::Ok)
    }

    fn accept(
        &mut self,
        auth: &mut impl Authority,
        owner: Owner,
        sock: SocketId,
        now: Now,
    ) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.state != SockState::Listening {
            return Err(Error::Invalid);
        }
        let prot = cb.protection.ok_or(Error::Invalid)?;
        let backlog = self
            .nets
            .get(&sock)
            .map(|n| n.backlog.clone())
            .unwrap_or_default();
        for (i, h) in backlog.iter().enumerate() {
            let s = self.sockets.get::<tcp::Socket>(*h);
            if !matches!(s.state(), tcp::State::Established | tcp::State::CloseWait) {
                continue;
            }
            let (Some(l), Some(r)) = (s.local_endpoint(), s.remote_endpoint()) else {
                continue;
            };
            let local = (from_smol(l.addr), l.port);
            let remote = (from_smol(r.addr), r.port);
            let pd = self.pd(owner);
            let verdict = self.vetter.vet_accept(
                auth,
                &pd,
                Endpoint::new(local.0, local.1),
                Endpoint::new(remote.0, remote.1),
                prot,
                now.unix,
            );
            // Either way the listening slot is refilled.
            let mut fresh = tcp_socket();
            let addr = self.nets.get(&sock).and_then(|n| n.local_addr);
            let listening = fresh
                .listen(IpListenEndpoint {
                    addr: addr.map(to_smol),
                    port: local.1,
                })
                .is_ok();
            let new_h = listening.then(|| self.sockets.add(fresh));
            if let Some(net) = self.nets.get_mut(&sock) {
                match new_h {
                    Some(nh) => net.backlog[i] = nh,
                    None => {
                        net.backlog.remove(i);
                    }
                }
            }
            if let Err(e) = verdict {
                self.sockets.get_mut::<tcp::Socket>(*h).abort();
                self.lingering.push(Linger {
                    handle: *h,
                    rules: Vec::new(),
                    port: None,
                    owner,
                    deadline: now.instant,
                });
                return Err(self.refuse(owner, e));
            }
            // The algorithm the peer opened the connection with (the last
            // inbound packet on the listener's rule for that peer); one the
            // socket does not allow refuses the connection.
            let opened_with = self.peer_inbound(owner, sock, remote.0);
            let used = opened_with.map(|info| from_ipsec_alg(info.algorithm));
            let disallowed = used.is_some_and(|a| !prot.algorithms.contains(a));
            let choice = match self.choose_with(remote.0, &prot, used) {
                Ok(c) if !disallowed => Ok(c),
                Ok(_) => Err(Error::Refused),
                Err(e) => Err(e),
            };
            let choice = match choice {
                Ok(c) => c,
                Err(e) => {
                    self.sockets.get_mut::<tcp::Socket>(*h).abort();
                    self.lingering.push(Linger {
                        handle: *h,
                        rules: Vec::new(),
                        port: None,
                        owner,
                        deadline: now.instant,
                    });
                    return Err(e);
                }
            };
            let id = match self.table.create(owner, Proto::Tcp) {
                Ok(id) => id,
                Err(e) => {
                    self.sockets.get_mut::<tcp::Socket>(*h).abort();
                    self.lingering.push(Linger {
                        handle: *h,
                        rules: Vec::new(),
                        port: None,
                        owner,
                        deadline: now.instant,
                    });
                    return Err(e);
                }
            };
            self.stats.allowed += 1;
            let rule = self.insert_rule(
                PRIO_FLOW,
                Self::flow_selector(Proto::Tcp, local, remote),
                choice,
            );
            let ctx = self.table.get(owner, sock).ok().and_then(|c| c.ctx.clone());
            let cb = self.table.get_mut(owner, id)?;
            cb.state = SockState::Connected;
            cb.protection = Some(prot);
            cb.ctx = ctx;
            cb.remote = Some(Endpoint::new(remote.0, remote.1));
            cb.rule = Some(vec![rule]);
            self.nets.insert(
                id,
                Net {
                    handle: Some(*h),
                    local_addr: Some(local.0),
                    // Bytes that arrived before the accept came on the
                    // listener's rule: how they were protected, until the
                    // flow rule sees a packet of its own.
                    last_inbound: opened_with,
                    ..Net::default()
                },
            );
            return Ok(Response::Accepted {
                sock: id,
                peer: Endpoint::new(remote.0, remote.1),
            });
        }
        Err(Error::WouldBlock)
    }

    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        auth: &mut impl Authority,
        owner: Owner,
        sock: SocketId,
        remote: Endpoint,
        ctx: &netserver_api::SecurityContext,
        credentials: &[String],
        now: Now,
    ) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        let proto = cb.proto;
        match cb.state {
            SockState::Connecting | SockState::Connected => {
                return self.connect_progress(owner, sock)
            }
            SockState::Created | SockState::Bound => {}
            SockState::Listening => return Err(Error::Invalid),
        }
        let (raddr, rport) = concrete(&remote)?;
        let bound = cb.local_port;
        let laddr = match self.nets.get(&sock).and_then(|n| n.local_addr) {
            Some(a) if same_family(a, raddr) => a,
            Some(_) => return Err(Error::Invalid),
            None => self.local_for(raddr)?,
        };
        let lport = match bound {
            Some(p) => p,
            None => self.ports(proto).allocate(owner).map_err(port_error)?,
        };
        let undo_port = |s: &mut Self| {
            if bound.is_none() {
                s.ports(proto).release(lport, owner);
            }
        };
        let ask = Ask {
            pd: &self.pd(owner),
            operation: Operation::Connect,
            protocol: proto,
            local: Endpoint::new(laddr, lport),
            remote: Endpoint::new(raddr, rport),
            ctx,
            credentials,
            now: now.unix,
        };
        let prot = match self.vetter.vet(auth, &ask) {
            Ok(p) => p,
            Err(e) => {
                undo_port(self);
                return Err(self.refuse(owner, e));
            }
        };
        let choice = match self.choose(raddr, &prot) {
            Ok(c) => c,
            Err(e) => {
                undo_port(self);
                return Err(e);
            }
        };
        self.stats.allowed += 1;
        let rule = self.insert_rule(
            PRIO_FLOW,
            Self::flow_selector(proto, (laddr, lport), (raddr, rport)),
            choice,
        );
        let handle = match proto {
            Proto::Tcp => {
                let mut s = tcp_socket();
                let cx = self.iface.context();
                if s.connect(cx, (to_smol(raddr), rport), (to_smol(laddr), lport))
                    .is_err()
                {
                    self.remove_rules(vec![rule]);
                    undo_port(self);
                    return Err(Error::Invalid);
                }
                Some(self.sockets.add(s))
            }
            Proto::Udp => match self.nets.get(&sock).and_then(|n| n.handle) {
                Some(h) => Some(h),
                None => {
                    let mut s = udp_socket();
                    if s.bind(IpListenEndpoint {
                        addr: Some(to_smol(laddr)),
                        port: lport,
                    })
                    .is_err()
                    {
                        self.remove_rules(vec![rule]);
                        undo_port(self);
                        return Err(Error::Invalid);
                    }
                    Some(self.sockets.add(s))
                }
            },
        };
        let cb = self.table.get_mut(owner, sock)?;
        cb.ctx = Some(ctx.clone());
        cb.protection = Some(prot);
        cb.local_port = Some(lport);
        cb.remote = Some(remote);
        cb.rule.get_or_insert_with(Vec::new).push(rule);
        cb.state = match proto {
            Proto::Tcp => SockState::Connecting,
            Proto::Udp => SockState::Connected,
        };
        if let Some(net) = self.nets.get_mut(&sock) {
            net.handle = handle;
            net.local_addr = Some(laddr);
            if proto == Proto::Udp {
                let idx = self
                    .table
                    .get(owner, sock)
                    .ok()
                    .and_then(|c| c.rule.as_ref())
                    .map_or(0, |r| r.len() - 1);
                net.flows.insert((raddr, rport), idx);
            }
        }
        match proto {
            Proto::Tcp => {
                // The SYN goes out now; completion is reported later.
                self.poll(now.instant);
                self.connect_progress(owner, sock)
            }
            Proto::Udp => Ok(Response::Connected {
                local: Endpoint::new(laddr, lport),
                protection: prot,
            }),
        }
    }

    /// A retried `Connect` on a socket whose connection is under way.
    fn connect_progress(&mut self, owner: Owner, sock: SocketId) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        let prot = cb.protection.ok_or(Error::Invalid)?;
        let port = cb.local_port.ok_or(Error::Invalid)?;
        let h = self
            .nets
            .get(&sock)
            .and_then(|n| n.handle)
            .ok_or(Error::Invalid)?;
        let laddr = self
            .nets
            .get(&sock)
            .and_then(|n| n.local_addr)
            .ok_or(Error::Invalid)?;
        if cb.proto == Proto::Udp {
            return Ok(Response::Connected {
                local: Endpoint::new(laddr, port),
                protection: prot,
            });
        }
        let state = self.sockets.get::<tcp::Socket>(h).state();
        match state {
            tcp::State::SynSent | tcp::State::SynReceived => Err(Error::WouldBlock),
            tcp::State::Closed | tcp::State::TimeWait => {
                // Refused or reset: the socket goes back to Created, its
                // rule and port are released.
                self.teardown_connection(owner, sock);
                Err(Error::ConnectionRefused)
            }
            _ => {
                self.table.get_mut(owner, sock)?.state = SockState::Connected;
                Ok(Response::Connected {
                    local: Endpoint::new(laddr, port),
                    protection: prot,
                })
            }
        }
    }

    fn teardown_connection(&mut self, owner: Owner, sock: SocketId) {
        let Ok(cb) = self.table.get_mut(owner, sock) else {
            return;
        };
        let rules = cb.rule.take().unwrap_or_default();
        let port = cb.local_port.take();
        let proto = cb.proto;
        cb.state = SockState::Created;
        cb.protection = None;
        cb.remote = None;
        self.remove_rules(rules);
        if let Some(p) = port {
            self.ports(proto).release(p, owner);
        }
        if let Some(net) = self.nets.get_mut(&sock) {
            if let Some(h) = net.handle.take() {
                self.sockets.remove(h);
            }
            *net = Net::default();
        }
    }

    fn tcp_handle(&self, owner: Owner, sock: SocketId) -> Result<SocketHandle, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.proto != Proto::Tcp {
            return Err(Error::NotSupported);
        }
        if cb.state != SockState::Connected && cb.state != SockState::Connecting {
            return Err(Error::NotConnected);
        }
        self.nets
            .get(&sock)
            .and_then(|n| n.handle)
            .ok_or(Error::NotConnected)
    }

    fn send(&mut self, owner: Owner, sock: SocketId, data: &[u8]) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.proto == Proto::Udp {
            let remote = cb.remote.ok_or(Error::NotConnected)?;
            let (a, p) = concrete(&remote)?;
            let h = self
                .nets
                .get(&sock)
                .and_then(|n| n.handle)
                .ok_or(Error::NotConnected)?;
            return self.udp_send(h, a, p, data);
        }
        let h = self.tcp_handle(owner, sock)?;
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        if !s.may_send() {
            return Err(if s.state() == tcp::State::SynSent {
                Error::WouldBlock
            } else {
                Error::NotConnected
            });
        }
        match s.send_slice(data) {
            Ok(0) if !data.is_empty() => Err(Error::WouldBlock),
            Ok(n) => Ok(Response::Sent(u32::try_from(n).unwrap_or(u32::MAX))),
            Err(_) => Err(Error::NotConnected),
        }
    }

    fn protection_of(&self, info: Option<InboundInfo>) -> InboundProtection {
        match info {
            Some(i) => InboundProtection {
                algorithm: Some(from_ipsec_alg(i.algorithm)),
                spi: Some(i.spi),
                peer_key: self
                    .sa_peer
                    .get(&i.sa)
                    .and_then(|p| self.peers.get(*p))
                    .map(|p| p.peer_key.clone()),
            },
            None => InboundProtection {
                algorithm: None,
                spi: None,
                peer_key: None,
            },
        }
    }

    fn recv(&mut self, owner: Owner, sock: SocketId, max_len: u32) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.proto == Proto::Udp {
            return self.recv_from(owner, sock, max_len);
        }
        // The flow rule is the last one (a bound-then-connected socket also
        // holds its per-peer bind rules).
        let rule = cb.rule.as_ref().and_then(|r| r.last().copied());
        let remote = cb.remote.unwrap_or(Endpoint::ANY);
        let h = self.tcp_handle(owner, sock)?;
        let max = usize::try_from(max_len).unwrap_or(MAX_RECV).min(MAX_RECV);
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        let data = if s.can_recv() {
            let mut buf = vec![0; max];
            let n = s.recv_slice(&mut buf).map_err(|_| Error::NotConnected)?;
            buf.truncate(n);
            buf
        } else if s.may_recv() || s.state() == tcp::State::SynSent {
            return Err(Error::WouldBlock);
        } else {
            Vec::new() // end of stream
        };
        let info = rule
            .and_then(|r| {
                self.dev
                    .engine()
                    .spd
                    .get(r.handle)
                    .and_then(|e| e.stats.last_inbound)
            })
            .or_else(|| self.nets.get(&sock).and_then(|n| n.last_inbound));
        Ok(Response::Data {
            data,
            from: remote,
            protection: self.protection_of(info),
        })
    }

    fn udp_send(
        &mut self,
        h: SocketHandle,
        addr: IpAddr,
        port: u16,
        data: &[u8],
    ) -> Result<Response, Error> {
        if data.len() > MAX_DATAGRAM {
            return Err(Error::TooLarge);
        }
        let s = self.sockets.get_mut::<udp::Socket>(h);
        match s.send_slice(data, IpEndpoint::new(to_smol(addr), port)) {
            Ok(()) => Ok(Response::Sent(
                u32::try_from(data.len()).unwrap_or(u32::MAX),
            )),
            Err(udp::SendError::BufferFull) => Err(Error::WouldBlock),
            Err(udp::SendError::Unaddressable) => Err(Error::Unreachable),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_to(
        &mut self,
        auth: &mut impl Authority,
        owner: Owner,
        sock: SocketId,
        remote: Endpoint,
        ctx: &netserver_api::SecurityContext,
        credentials: &[String],
        data: &[u8],
        now: Now,
    ) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.proto != Proto::Udp {
            return Err(Error::NotSupported);
        }
        let (raddr, rport) = concrete(&remote)?;
        if data.len() > MAX_DATAGRAM {
            return Err(Error::TooLarge);
        }
        let known = self
            .nets
            .get(&sock)
            .is_some_and(|n| n.flows.contains_key(&(raddr, rport)));
        if !known {
            // Vet this destination once; later datagrams to it use its rule.
            let bound = cb.local_port;
            let laddr = match self.nets.get(&sock).and_then(|n| n.local_addr) {
                Some(a) if same_family(a, raddr) => a,
                Some(_) => return Err(Error::Invalid),
                None => self.local_for(raddr)?,
            };
            let lport = match bound {
                Some(p) => p,
                None => self.udp_ports.allocate(owner).map_err(port_error)?,
            };
            let ask = Ask {
                pd: &self.pd(owner),
                operation: Operation::SendTo,
                protocol: Proto::Udp,
                local: Endpoint::new(laddr, lport),
                remote: Endpoint::new(raddr, rport),
                ctx,
                credentials,
                now: now.unix,
            };
            let prot = match self.vetter.vet(auth, &ask) {
                Ok(p) => p,
                Err(e) => {
                    if bound.is_none() {
                        self.udp_ports.release(lport, owner);
                    }
                    return Err(self.refuse(owner, e));
                }
            };
            let choice = match self.choose(raddr, &prot) {
                Ok(c) => c,
                Err(e) => {
                    if bound.is_none() {
                        self.udp_ports.release(lport, owner);
                    }
                    return Err(e);
                }
            };
            if bound.is_none() {
                let mut s = udp_socket();
                if s.bind(IpListenEndpoint {
                    addr: Some(to_smol(laddr)),
                    port: lport,
                })
                .is_err()
                {
                    self.udp_ports.release(lport, owner);
                    return Err(Error::Invalid);
                }
                let h = self.sockets.add(s);
                if let Some(net) = self.nets.get_mut(&sock) {
                    net.handle = Some(h);
                    net.local_addr = Some(laddr);
                }
                let cb = self.table.get_mut(owner, sock)?;
                cb.local_port = Some(lport);
                cb.state = SockState::Bound;
            }
            self.stats.allowed += 1;
            let rule = self.insert_rule(
                PRIO_FLOW,
                Self::flow_selector(Proto::Udp, (laddr, lport), (raddr, rport)),
                choice,
            );
            self.push_rule(owner, sock, rule);
            let cb = self.table.get_mut(owner, sock)?;
            if cb.protection.is_none() {
                cb.protection = Some(prot);
                cb.ctx = Some(ctx.clone());
            }
            let idx = cb.rule.as_ref().map_or(0, |r| r.len() - 1);
            if let Some(net) = self.nets.get_mut(&sock) {
                net.flows.insert((raddr, rport), idx);
            }
        }
        let h = self
            .nets
            .get(&sock)
            .and_then(|n| n.handle)
            .ok_or(Error::Invalid)?;
        self.udp_send(h, raddr, rport, data)
    }

    fn recv_from(&mut self, owner: Owner, sock: SocketId, max_len: u32) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        if cb.proto != Proto::Udp {
            return Err(Error::NotSupported);
        }
        let h = self
            .nets
            .get(&sock)
            .and_then(|n| n.handle)
            .ok_or(Error::NotConnected)?;
        let max = usize::try_from(max_len).unwrap_or(MAX_RECV).min(MAX_RECV);
        let s = self.sockets.get_mut::<udp::Socket>(h);
        let (data, meta) = match s.recv() {
            Ok((payload, meta)) => {
                let n = payload.len().min(max);
                (payload[..n].to_vec(), meta)
            }
            Err(_) => return Err(Error::WouldBlock),
        };
        let info = self.dev.inbound_info(meta.meta);
        if let Some(net) = self.nets.get_mut(&sock) {
            net.last_inbound = info;
        }
        Ok(Response::Data {
            data,
            from: Endpoint::new(from_smol(meta.endpoint.addr), meta.endpoint.port),
            protection: self.protection_of(info),
        })
    }

    fn close(&mut self, owner: Owner, sock: SocketId, now: Instant) -> Result<Response, Error> {
        let cb = self.table.remove(owner, sock)?;
        let net = self.nets.remove(&sock).unwrap_or_default();
        for h in net.backlog {
            self.sockets.remove(h);
        }
        let rules = cb.rule.unwrap_or_default();
        // Ports of accepted connections are the listener's: not held.
        let port = cb.local_port;
        match (cb.proto, net.handle) {
            (Proto::Tcp, Some(h)) => {
                let s = self.sockets.get_mut::<tcp::Socket>(h);
                if matches!(s.state(), tcp::State::Closed | tcp::State::Listen) {
                    self.sockets.remove(h);
                    self.release(Proto::Tcp, rules, port, owner);
                } else {
                    // Finish gracefully (FIN under the same protection), then
                    // release; bounded by LINGER.
                    s.close();
                    self.lingering.push(Linger {
                        handle: h,
                        rules,
                        port,
                        owner,
                        deadline: now + LINGER,
                    });
                }
            }
            (proto, h) => {
                if let Some(h) = h {
                    self.sockets.remove(h);
                }
                self.release(proto, rules, port, owner);
            }
        }
        self.ready.remove(&owner);
        Ok(Response::Ok)
    }

    fn release(&mut self, proto: Proto, rules: Rules, port: Option<u16>, owner: Owner) {
        self.remove_rules(rules);
        if let Some(p) = port {
            self.ports(proto).release(p, owner);
        }
    }

    fn reap_lingering(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.lingering.len() {
            let l = &self.lingering[i];
            let s = self.sockets.get_mut::<tcp::Socket>(l.handle);
            let done = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
            if done || now >= l.deadline {
                if !done {
                    s.abort();
                }
                let l = self.lingering.swap_remove(i);
                self.sockets.remove(l.handle);
                self.release(Proto::Tcp, l.rules, l.port, l.owner);
            } else {
                i += 1;
            }
        }
    }

    fn readiness(&self, sock: SocketId, net: &Net, proto: Proto) -> u8 {
        let _ = sock;
        let mut bits = 0u8;
        if let Some(h) = net.handle {
            match proto {
                Proto::Tcp => {
                    let s = self.sockets.get::<tcp::Socket>(h);
                    bits |= u8::from(s.can_recv());
                    bits |= u8::from(s.can_send()) << 1;
                    bits |= u8::from(s.may_recv()) << 2;
                    bits |= u8::from(s.state() == tcp::State::Established) << 3;
                    bits |= u8::from(s.state() == tcp::State::Closed) << 4;
                }
                Proto::Udp => {
                    let s = self.sockets.get::<udp::Socket>(h);
                    bits |= u8::from(s.can_recv());
                    bits |= u8::from(s.can_send()) << 1;
                }
            }
        }
        for h in &net.backlog {
            let s = self.sockets.get::<tcp::Socket>(*h);
            if matches!(s.state(), tcp::State::Established | tcp::State::CloseWait) {
                bits |= 1 << 5;
            }
        }
        bits
    }

    fn update_readiness(&mut self) {
        let mut changed = Vec::new();
        for (id, net) in &self.nets {
            // Owners are looked up without knowing them: scan the table.
            let bits = self.readiness_of(*id, net);
            if let Some((bits, owner)) = bits {
                if bits != net.readiness {
                    changed.push((*id, bits, owner));
                }
            }
        }
        for (id, bits, owner) in changed {
            if let Some(n) = self.nets.get_mut(&id) {
                n.readiness = bits;
            }
            self.ready.insert(owner);
        }
    }

    fn readiness_of(&self, id: SocketId, net: &Net) -> Option<(u8, Owner)> {
        let (owner, proto) = self.table.owner_of(id)?;
        Some((self.readiness(id, net, proto), owner))
    }

    fn get_opt(&self, owner: Owner, sock: SocketId, opt: SockOpt) -> Result<Response, Error> {
        let cb = self.table.get(owner, sock)?;
        Ok(Response::Opt(match opt {
            SockOpt::Protection => {
                let p = match cb.protection {
                    Some(p) => p,
                    // Not vetted yet: what the socket would get by default.
                    None => {
                        let floor = self.floor(owner).ok_or(Error::Refused)?;
                        netserver_api::ProtectionRequest::default()
                            .resolve(&floor)
                            .map_err(|_| Error::BelowFloor)?
                    }
                };
                SockOptValue::Protection(p)
            }
            SockOpt::RecvTimeout => SockOptValue::RecvTimeout(cb.recv_timeout_ms),
            SockOpt::NonBlocking => SockOptValue::NonBlocking(cb.nonblocking),
        }))
    }

    fn set_opt(
        &mut self,
        owner: Owner,
        sock: SocketId,
        value: SockOptValue,
    ) -> Result<Response, Error> {
        let floor = self.floor(owner).ok_or(Error::Refused)?;
        let cb = self.table.get(owner, sock)?;
        match value {
            SockOptValue::RecvTimeout(ms) => {
                self.table.get_mut(owner, sock)?.recv_timeout_ms = ms;
            }
            SockOptValue::NonBlocking(b) => {
                self.table.get_mut(owner, sock)?.nonblocking = b;
            }
            SockOptValue::Protection(_) => return Err(Error::Invalid),
            SockOptValue::RaiseProtection(req) => {
                // Raise only: against the admin floor, and against what the
                // socket has already (a socket never loses protection).
                let current = match cb.protection {
                    Some(p) => Floor {
                        service: p.service,
                        level: p.level,
                        algorithms: p.algorithms,
                    },
                    None => floor,
                };
                let p = match req.resolve(&floor).and_then(|_| req.resolve(&current)) {
                    Ok(p) => p,
                    Err(v) => {
                        self.stats.refused += 1;
                        self.refusals.insert(owner, Refusal::BelowFloor(v));
                        return Err(Error::BelowFloor);
                    }
                };
                if p.level == Level::Unique {
                    return Err(Error::NotSupported);
                }
                // Re-point the socket's rules at SAs fitting the new
                // protection.
                let rules = cb.rule.clone().unwrap_or_default();
                let mut updated = Vec::new();
                for r in &rules {
                    let Some(entry) = self.dev.engine().spd.get(r.handle) else {
                        continue;
                    };
                    let remote = match entry.selector.remote {
                        AddrSelector::Range(a, b) if a == b => Some(from_smol(a)),
                        _ => None,
                    };
                    let choice = match remote {
                        Some(a) => self.choose(a, &p)?,
                        None => Choice::Bypass,
                    };
                    updated.push((*r, entry.priority, entry.selector, choice));
                }
                let mut new_rules = Vec::new();
                for (old, prio, sel, choice) in updated {
                    new_rules.push(self.insert_rule(prio, sel, choice));
                    self.remove_rules(vec![old]);
                }
                let cb = self.table.get_mut(owner, sock)?;
                if !new_rules.is_empty() {
                    cb.rule = Some(new_rules);
                }
                cb.protection = Some(p);
                return Ok(Response::Opt(SockOptValue::Protection(p)));
            }
        }
        Ok(Response::Ok)
    }

    /// The last protected packet from `remote` on one of the socket's rules.
    fn peer_inbound(&self, owner: Owner, sock: SocketId, remote: IpAddr) -> Option<InboundInfo> {
        let cb = self.table.get(owner, sock).ok()?;
        cb.rule.as_ref()?.iter().find_map(|r| {
            let e = self.dev.engine().spd.get(r.handle)?;
            let info = e.stats.last_inbound?;
            (from_smol(info.peer) == remote).then_some(info)
        })
    }

    /// The peer (index into `peers`) a socket talks to.
    fn peer_of(&self, owner: Owner, sock: SocketId) -> Result<usize, Error> {
        let cb = self.table.get(owner, sock)?;
        let from_inbound = self
            .nets
            .get(&sock)
            .and_then(|n| n.last_inbound)
            .and_then(|i| self.sa_peer.get(&i.sa).copied());
        if let Some(p) = from_inbound {
            return Ok(p);
        }
        if cb.state != SockState::Connected {
            return Err(Error::NotConnected);
        }
        // A connected socket: the SA of its flow rule.
        cb.rule
            .as_ref()
            .and_then(|r| r.iter().rev().find_map(|r| r.sas))
            .and_then(|(_, inb)| self.sa_peer.get(&inb).copied())
            .ok_or(Error::Invalid)
    }
}
