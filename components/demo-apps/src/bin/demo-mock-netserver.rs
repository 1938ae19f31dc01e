//! `demo-mock-netserver`: a stand-in for the network server, so that the
//! demo applications can be booted and checked without a network
//! (system/sel4/demo-mock.system, on seL4 and on the host backend).
//!
//! It answers `netserver_api` requests on the applications' channels
//! (10 `client`, 11 `intruder`, 12 `lowball`, 13 `echo`, as node A's and
//! node B's netserver would number them) and relays the client's TCP and
//! UDP data to the echo application inside the node, so both demo
//! applications run their real code paths: the client's connect, send,
//! receive, options, peer key and credentials, its receive timeout (the
//! first datagram is dropped on purpose, so the client's `recvfrom` must
//! time out and send again), and the echo's bind, listen, accept and
//! notification-driven waits. `intruder` is refused (policy) and `lowball`
//! is refused below its floor.
//!
//! What it checks, as the real network server would: every security context
//! is stamped (no template), issued within 60 s of the server's clock
//! (`microkit::sel4::unix_time()` on seL4: the same source as `secsock`),
//! and carries a nonce never seen before from any application. When the
//! client closes its UDP socket it prints what the applications did
//! (`mock-netserver: ok intruder refused by policy`, `.. lowball refused
//! below its floor`, `.. client's TCP data echoed back in full`, `.. client
//! sent its datagram again after a receive timeout`, `.. echo answered the
//! datagram and the client received it`) and `mock-netserver: N contexts
//! from M PDs, all fresh and distinct`; any violation is a line
//! `mock-netserver: FAILED ...`. It runs above the applications' priority,
//! so on the seL4 debug console (one character per system call) its lines
//! are never interleaved with theirs.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use demo_apps::{ECHO, ECHO_CRED, ECHO_PORT};
use ipc::rpc::Server;
use microkit::{
    debug_println, Channel, ChannelSet, Handler, Infallible, MemoryRegion, MessageInfo,
};
use netserver_api::{
    AlgSet, Algorithm, Endpoint, Error, InboundProtection, IpAddr, Level, Protection, Proto,
    Refusal, Request, Response, SecurityContext, Service, SockOpt, SockOptValue, SocketId,
    MAX_MESSAGE,
};

microkit::memory_region_symbol!(buf_10, size = 0x20000);
microkit::memory_region_symbol!(buf_11, size = 0x20000);
microkit::memory_region_symbol!(buf_12, size = 0x20000);
microkit::memory_region_symbol!(buf_13, size = 0x20000);

const CLIENT: usize = 10;
const INTRUDER: usize = 11;
const LOWBALL: usize = 12;
const ECHO_APP: usize = 13;

/// The client's address as the echo application sees it.
const CLIENT_EP: Endpoint = Endpoint::new(IpAddr::V4([192, 0, 2, 1]), 49152);
const ECHO_KEY: &str = include_str!("../../../../policies/demo/keys/echo.key");

fn floor() -> Protection {
    Protection {
        service: Service::AuthCon,
        level: Level::Require,
        algorithms: AlgSet::of(&[Algorithm::AesGcm256, Algorithm::AesGcm128]),
    }
}

fn inbound() -> InboundProtection {
    InboundProtection {
        algorithm: Some(Algorithm::AesGcm256),
        spi: Some(0x2001),
        peer_key: Some(ECHO_KEY.trim().to_string()),
    }
}

/// Seconds since the Unix epoch, the network server's clock.
fn now_unix() -> u64 {
    #[cfg(target_os = "none")]
    {
        microkit::sel4::unix_time()
    }
    #[cfg(not(target_os = "none"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// The client's TCP socket, connected to the echo.
    ClientTcp,
    ClientUdp,
    EchoListen,
    /// The echo's side of the client's connection.
    EchoConn,
    EchoUdp,
    /// Anything else (refused apps' sockets).
    Other,
}

struct Sock {
    owner: usize,
    proto: Proto,
    kind: Kind,
}

#[derive(Default)]
struct Mock {
    servers: BTreeMap<usize, Server<MAX_MESSAGE>>,
    socks: BTreeMap<SocketId, Sock>,
    next: SocketId,
    nonces: BTreeSet<[u8; 16]>,
    ctx_pds: BTreeSet<usize>,
    contexts: usize,
    failures: usize,
    /// A connection the echo has not accepted yet.
    pending_accept: Option<SocketId>,
    client_closed: bool,
    to_echo: Vec<u8>,
    to_client: Vec<u8>,
    udp_to_echo: VecDeque<Vec<u8>>,
    udp_to_client: VecDeque<Vec<u8>>,
    dropped_first: bool,
    last_refusal: BTreeMap<usize, Refusal>,
    /// What happened, for the verdict (printed by this PD, which runs above
    /// the applications' priority, so its lines are never interleaved with
    /// theirs on the seL4 debug console).
    seen: Seen,
}

#[derive(Default)]
struct Seen {
    intruder_refused: bool,
    lowball_refused: bool,
    client_sent: Vec<u8>,
    client_received: Vec<u8>,
    client_datagrams: usize,
    echo_datagrams: usize,
    client_got_datagram: bool,
}

impl Mock {
    fn fail(&mut self, what: &str) {
        self.failures += 1;
        debug_println!("mock-netserver: FAILED {what}");
    }

    fn check_ctx(&mut self, ch: usize, ctx: &SecurityContext) {
        self.contexts += 1;
        self.ctx_pds.insert(ch);
        let now = now_unix();
        if ctx.issued == 0 || ctx.nonce == [0; 16] {
            self.fail("a template context was sent unstamped");
        }
        if ctx.issued.abs_diff(now) > 60 {
            self.fail(&alloc::format!(
                "context issued at {} but the server's time is {now}",
                ctx.issued
            ));
        }
        if !self.nonces.insert(ctx.nonce) {
            self.fail(&alloc::format!("nonce {:02x?} seen before", ctx.nonce));
        }
    }

    /// Checks what the applications did, once the client is done.
    fn verdict(&mut self) {
        let s = &self.seen;
        let checks = [
            (s.intruder_refused, "intruder refused by policy"),
            (s.lowball_refused, "lowball refused below its floor"),
            (
                !s.client_sent.is_empty() && s.client_received == s.client_sent,
                "client's TCP data echoed back in full",
            ),
            (
                s.client_datagrams >= 2,
                "client sent its datagram again after a receive timeout",
            ),
            (
                s.echo_datagrams >= 1 && s.client_got_datagram,
                "echo answered the datagram and the client received it",
            ),
        ];
        for (ok, what) in checks {
            if ok {
                debug_println!("mock-netserver: ok {what}");
            } else {
                self.fail(what);
            }
        }
    }

    fn sock(&self, ch: usize, s: SocketId) -> Result<Kind, Error> {
        match self.socks.get(&s) {
            Some(k) if k.owner == ch => Ok(k.kind),
            _ => Err(Error::BadSocket),
        }
    }

    fn new_sock(&mut self, owner: usize, proto: Proto, kind: Kind) -> SocketId {
        self.next += 1;
        self.socks.insert(self.next, Sock { owner, proto, kind });
        self.next
    }

    fn data(data: Vec<u8>, from: Endpoint) -> Response {
        Response::Data {
            data,
            from,
            protection: inbound(),
        }
    }

    fn refuse(&mut self, ch: usize, why: Refusal, e: Error) -> Result<Response, Error> {
        match (ch, e) {
            (INTRUDER, Error::Refused) => self.seen.intruder_refused = true,
            (LOWBALL, Error::BelowFloor) => self.seen.lowball_refused = true,
            _ => {}
        }
        self.last_refusal.insert(ch, why);
        Err(e)
    }

    fn handle(&mut self, ch: usize, req: Request) -> Result<Response, Error> {
        match req {
            Request::Socket { proto } => {
                Ok(Response::Socket(self.new_sock(ch, proto, Kind::Other)))
            }
            Request::Connect {
                sock, ctx, remote, ..
            } => {
                self.sock(ch, sock)?;
                self.check_ctx(ch, &ctx);
                match ch {
                    CLIENT if remote == ECHO => {
                        let e = self.new_sock(ECHO_APP, Proto::Tcp, Kind::EchoConn);
                        if let Some(s) = self.socks.get_mut(&sock) {
                            s.kind = Kind::ClientTcp;
                        }
                        self.pending_accept = Some(e);
                        Channel::new(ECHO_APP).notify();
                        Ok(Response::Connected {
                            local: CLIENT_EP,
                            protection: floor(),
                        })
                    }
                    LOWBALL if ctx.protection.level < Some(Level::Require) => self.refuse(
                        ch,
                        Refusal::Policy {
                            value: "DENY".into(),
                            reasons: vec!["mock: level below the floor".into()],
                        },
                        Error::BelowFloor,
                    ),
                    _ => self.refuse(
                        ch,
                        Refusal::Policy {
                            value: "DENY".into(),
                            reasons: vec!["mock: not licensed".into()],
                        },
                        Error::Refused,
                    ),
                }
            }
            Request::Bind { sock, ctx, .. } => {
                self.sock(ch, sock)?;
                self.check_ctx(ch, &ctx);
                let proto = self.socks.get(&sock).map(|s| s.proto);
                if let Some(s) = self.socks.get_mut(&sock) {
                    s.kind = match proto {
                        Some(Proto::Udp) => Kind::EchoUdp,
                        _ => Kind::EchoListen,
                    };
                }
                Ok(Response::Bound(Endpoint::new(
                    IpAddr::V4([192, 0, 2, 2]),
                    ECHO_PORT,
                )))
            }
            Request::Listen { sock, .. } => self.sock(ch, sock).map(|_| Response::Ok),
            Request::Accept { sock } => {
                if self.sock(ch, sock)? != Kind::EchoListen {
                    return Err(Error::Invalid);
                }
                match self.pending_accept.take() {
                    Some(e) => Ok(Response::Accepted {
                        sock: e,
                        peer: CLIENT_EP,
                    }),
                    None => Err(Error::WouldBlock),
                }
            }
            Request::Send { sock, data } => {
                let n = data.len() as u32;
                match self.sock(ch, sock)? {
                    Kind::ClientTcp => {
                        self.seen.client_sent.extend_from_slice(&data);
                        self.to_echo.extend_from_slice(&data);
                        Channel::new(ECHO_APP).notify();
                    }
                    Kind::EchoConn => {
                        self.to_client.extend_from_slice(&data);
                        Channel::new(CLIENT).notify();
                    }
                    _ => return Err(Error::NotConnected),
                }
                Ok(Response::Sent(n))
            }
            Request::Recv { sock, max_len } => {
                let (queue, from) = match self.sock(ch, sock)? {
                    Kind::ClientTcp => (&mut self.to_client, ECHO),
                    Kind::EchoConn => (&mut self.to_echo, CLIENT_EP),
                    _ => return Err(Error::NotConnected),
                };
                if queue.is_empty() {
                    if ch == ECHO_APP && self.client_closed {
                        return Ok(Self::data(Vec::new(), from));
                    }
                    return Err(Error::WouldBlock);
                }
                let n = queue.len().min(max_len as usize);
                let data: Vec<u8> = queue.drain(..n).collect();
                if ch == CLIENT {
                    self.seen.client_received.extend_from_slice(&data);
                }
                Ok(Self::data(data, from))
            }
            Request::SendTo {
                sock, ctx, data, ..
            } => {
                self.sock(ch, sock)?;
                self.check_ctx(ch, &ctx);
                let n = data.len() as u32;
                if ch == CLIENT {
                    self.seen.client_datagrams += 1;
                    if let Some(s) = self.socks.get_mut(&sock) {
                        s.kind = Kind::ClientUdp;
                    }
                    if !self.dropped_first {
                        // Lost on the way: the client's recvfrom must time out.
                        self.dropped_first = true;
                        debug_println!("mock-netserver: dropping the first datagram");
                    } else {
                        self.udp_to_echo.push_back(data);
                        Channel::new(ECHO_APP).notify();
                    }
                } else {
                    self.seen.echo_datagrams += 1;
                    self.udp_to_client.push_back(data);
                    Channel::new(CLIENT).notify();
                }
                Ok(Response::Sent(n))
            }
            Request::RecvFrom { sock, .. } => {
                let (queue, from) = match self.sock(ch, sock)? {
                    Kind::EchoUdp => (&mut self.udp_to_echo, CLIENT_EP),
                    _ if ch == CLIENT => (&mut self.udp_to_client, ECHO),
                    _ => return Err(Error::Invalid),
                };
                match queue.pop_front() {
                    Some(d) => {
                        if ch == CLIENT {
                            self.seen.client_got_datagram = true;
                        }
                        Ok(Self::data(d, from))
                    }
                    None => Err(Error::WouldBlock),
                }
            }
            Request::Close { sock } => {
                let kind = self.sock(ch, sock)?;
                self.socks.remove(&sock);
                if kind == Kind::ClientTcp {
                    self.client_closed = true;
                    Channel::new(ECHO_APP).notify();
                }
                if kind == Kind::ClientUdp {
                    self.verdict();
                    if self.failures == 0 {
                        debug_println!(
                            "mock-netserver: {} contexts from {} PDs, all fresh and distinct",
                            self.contexts,
                            self.ctx_pds.len()
                        );
                    } else {
                        debug_println!("mock-netserver: {} check(s) FAILED", self.failures);
                    }
                }
                Ok(Response::Ok)
            }
            Request::GetSockOpt { sock, opt } => {
                self.sock(ch, sock)?;
                match opt {
                    SockOpt::Protection => Ok(Response::Opt(SockOptValue::Protection(floor()))),
                    _ => Err(Error::Invalid),
                }
            }
            Request::SetSockOpt { sock, .. } => self.sock(ch, sock).map(|_| Response::Ok),
            Request::GetRemoteCredentials { sock } => self
                .sock(ch, sock)
                .map(|_| Response::Credentials(vec![ECHO_CRED.to_string()])),
            Request::GetRemoteKey { sock } => self
                .sock(ch, sock)
                .map(|_| Response::Key(ECHO_KEY.trim().to_string())),
            Request::LastRefusal => Ok(Response::Refusal(self.last_refusal.remove(&ch))),
        }
    }
}

impl Handler for Mock {
    type Error = Infallible;

    fn protected(&mut self, channel: Channel, msg: MessageInfo) -> Result<MessageInfo, Infallible> {
        let ch = channel.index();
        let Some(server) = self.servers.remove(&ch) else {
            return Ok(MessageInfo::new(ipc::rpc::ServerError::Buffer.label(), 0));
        };
        let reply = server.handle(msg, |req: Request| -> Result<Response, Error> {
            self.handle(ch, req)
        });
        self.servers.insert(ch, server);
        Ok(reply)
    }

    fn notified(&mut self, _channels: ChannelSet) -> Result<(), Infallible> {
        Ok(())
    }
}

fn init() -> Mock {
    let mut m = Mock::default();
    for ch in [CLIENT, INTRUDER, LOWBALL, ECHO_APP] {
        if let Ok(b) = MemoryRegion::by_name(&alloc::format!("buf_{ch}")) {
            m.servers.insert(ch, Server::new(b));
        }
    }
    debug_println!("mock-netserver: serving {} application(s)", m.servers.len());
    m
}

microkit::protection_domain!(
    init,
    stack_size = demo_apps::STACK_SIZE,
    heap_size = demo_apps::HEAP_SIZE
);
