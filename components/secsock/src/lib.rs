//! `secsock`: the secure-socket client library of vetted applications.
//!
//! An application never touches the network or a key. It asks the network
//! server PD, over its channel 0 (message buffer `buf_0`), for every socket
//! operation with [`netserver_api`] messages; the connection-making calls
//! (`Sec_connect`, `Sec_bind`, `Sec_sendto`) carry the application's
//! KeyNote credentials and a [`SecurityContext`], and the network server has
//! each one vetted by the trust PD before anything is opened. See
//! `docs/connection-path.md`.
//!
//! ```no_run
//! use secsock::{Endpoint, IpAddr, Proto, ProtectionRequest, SecSock};
//! let mut net = SecSock::pd().expect("buf_0 mapped");
//! let s = net.socket(Proto::Tcp)?;
//! let remote = Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7);
//! let ctx = secsock::context(Endpoint::ANY, remote, ProtectionRequest::default())?;
//! // The app's public KeyNote credential (e.g. include_str! of policies/demo/credentials/client.cred).
//! let credentials = ["KeyNote-Version: 2\n..."];
//! match net.connect(s, remote, &credentials, &ctx) {
//!     Ok(c) => println!("protected by {:?}", c.protection),
//!     Err(e) => println!("refused ({e}): {:?}", net.why()),
//! }
//! net.send_all(s, b"hello")?;
//! let echo = net.recv(s, 1024)?;
//! net.close(s)?;
//! # Ok::<(), secsock::Error>(())
//! ```
//!
//! Blocking: the server never blocks. A call that cannot complete yet is
//! answered [`Error::WouldBlock`]; the library then waits for the server's
//! notification on channel 0 ([`Transport::wait`]) and asks again, unless
//! the socket is non-blocking ([`SockOptValue::NonBlocking`]), in which case
//! the caller gets [`Error::WouldBlock`] (`EAGAIN`). A receive timeout
//! ([`SockOptValue::RecvTimeout`]) bounds the waits of `recv`, `recvfrom`
//! and `accept` ([`Error::TimedOut`]).
//!
//! Security contexts: [`context`] makes one with the issued time now and a
//! fresh nonce. The network server accepts a context once (replay guard), so
//! a context with `issued == 0` and an all-zero nonce is a *template*: the
//! library stamps a fresh copy at each call. A stamped context is sent as is
//! (sending it twice is refused as a replay).
//!
//! Nonces: 16 random bytes from the OS on the host backend (`getrandom(2)`
//! through the `getrandom` crate). On seL4 an application PD has no entropy
//! source of its own, and a nonce only has to be unique (contexts never
//! leave the node; the channel authenticates the application), so unless
//! the PD was seeded the nonce is unique by construction: the ARM counter,
//! a hash of the PD name and a per-PD sequence number ([`unique_nonce`]).
//! The issued time is `microkit::sel4::unix_time()` there, the network
//! server's own clock source.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

pub use netserver_api::{
    AlgSet, Algorithm, Endpoint, Error, FloorViolation, InboundProtection, IpAddr, Level,
    Protection, ProtectionRequest, Proto, Refusal, SecurityContext, Service, SockOpt, SockOptValue,
    SocketId,
};
use netserver_api::{Request, Response};

#[cfg(not(target_os = "none"))]
pub mod capi;
mod platform;
mod transport;

pub use platform::{fresh_nonce, now_unix, unique_nonce};
pub use transport::{PdTransport, Transport, BUFFER, CHANNEL};

/// A socket of this application (a handle the network server gave out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Socket(pub SocketId);

/// What `connect` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connected {
    /// The local endpoint the server chose.
    pub local: Endpoint,
    /// The protection in force on the connection.
    pub protection: Protection,
}

/// What `recv` and `recvfrom` return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The bytes (empty at the end of a TCP stream).
    pub data: Vec<u8>,
    /// The sender (datagrams) or the peer (streams).
    pub from: Endpoint,
    /// How the data was protected, and by which peer's key.
    pub protection: InboundProtection,
}

/// Library-side state of one socket: what decides whether to wait.
#[derive(Debug, Clone, Copy, Default)]
struct Local {
    nonblocking: bool,
    /// Milliseconds, 0 = forever.
    recv_timeout_ms: u32,
}

/// A context for the given endpoints and protection, issued now, with a
/// fresh nonce (see the crate documentation for the randomness source).
pub fn context(
    local: Endpoint,
    remote: Endpoint,
    protection: ProtectionRequest,
) -> Result<SecurityContext, Error> {
    let mut ctx = template(local, remote, protection);
    stamp(&mut ctx)?;
    Ok(ctx)
}

/// A template context (`issued == 0`, zero nonce): the library stamps a
/// fresh copy of it at each call.
pub fn template(
    local: Endpoint,
    remote: Endpoint,
    protection: ProtectionRequest,
) -> SecurityContext {
    SecurityContext {
        local,
        remote,
        issued: 0,
        nonce: [0; 16],
        protection,
        signature: Vec::new(),
    }
}

/// Gives `ctx` the issued time now and a fresh nonce.
pub fn stamp(ctx: &mut SecurityContext) -> Result<(), Error> {
    ctx.issued = now_unix()?;
    ctx.nonce = fresh_nonce()?;
    Ok(())
}

/// Whether `ctx` is a template (stamped afresh at each call).
pub fn is_template(ctx: &SecurityContext) -> bool {
    ctx.issued == 0 && ctx.nonce == [0; 16]
}

fn prepared(ctx: &SecurityContext) -> Result<SecurityContext, Error> {
    let mut c = ctx.clone();
    if is_template(&c) {
        stamp(&mut c)?;
    }
    Ok(c)
}

fn owned(credentials: &[impl AsRef<str>]) -> Vec<String> {
    credentials
        .iter()
        .map(|c| String::from(c.as_ref()))
        .collect()
}

/// The client library: one per application, over a [`Transport`] (the PD's
/// channel 0 in production, [`SecSock::pd`]).
pub struct SecSock<T: Transport> {
    t: T,
    local: BTreeMap<SocketId, Local>,
}

impl SecSock<PdTransport> {
    /// The library over this PD's channel 0 and its buffer `buf_0`.
    pub fn pd() -> Result<Self, Error> {
        Ok(SecSock::new(PdTransport::new()?))
    }
}

impl<T: Transport> SecSock<T> {
    /// The library over a transport.
    pub fn new(t: T) -> Self {
        SecSock {
            t,
            local: BTreeMap::new(),
        }
    }

    /// The transport (tests inspect it).
    pub fn transport(&mut self) -> &mut T {
        &mut self.t
    }

    fn opts(&self, s: Socket) -> Local {
        self.local.get(&s.0).copied().unwrap_or_default()
    }

    /// Sends `req` (made afresh by `make` for each attempt) until it does not
    /// answer `WouldBlock`: waits in between unless the socket is
    /// non-blocking, and gives up with `TimedOut` after `timeout_ms` (0 =
    /// never).
    fn blocking(
        &mut self,
        s: Socket,
        timeout_ms: u32,
        make: impl Fn() -> Request,
    ) -> Result<Response, Error> {
        let nonblocking = self.opts(s).nonblocking;
        let deadline = match timeout_ms {
            0 => None,
            ms => Some(platform::deadline(ms)),
        };
        loop {
            match self.t.call(&make()) {
                Err(Error::WouldBlock) if !nonblocking => {
                    if deadline.is_some_and(platform::passed) {
                        return Err(Error::TimedOut);
                    }
                    self.t.wait(deadline);
                }
                other => return other,
            }
        }
    }

    /// Creates a TCP or UDP socket.
    #[doc(alias = "Sec_socket")]
    pub fn socket(&mut self, proto: Proto) -> Result<Socket, Error> {
        match self.t.call(&Request::Socket { proto })? {
            Response::Socket(id) => {
                self.local.insert(id, Local::default());
                Ok(Socket(id))
            }
            _ => Err(Error::Protocol),
        }
    }

    /// `Sec_connect`: has the connection vetted with `credentials` and `ctx`,
    /// then opens it; blocks until it is established (TCP).
    #[doc(alias = "Sec_connect")]
    pub fn connect(
        &mut self,
        s: Socket,
        remote: Endpoint,
        credentials: &[impl AsRef<str>],
        ctx: &SecurityContext,
    ) -> Result<Connected, Error> {
        let ctx = prepared(ctx)?;
        let credentials = owned(credentials);
        // A retry finds the connection under way and is not vetted again.
        let r = self.blocking(s, 0, || Request::Connect {
            sock: s.0,
            remote,
            ctx: ctx.clone(),
            credentials: credentials.clone(),
        })?;
        match r {
            Response::Connected { local, protection } => Ok(Connected { local, protection }),
            _ => Err(Error::Protocol),
        }
    }

    /// `Sec_bind`: has the local endpoint vetted, then binds it; returns the
    /// endpoint bound (an ANY port is taken from the pool).
    #[doc(alias = "Sec_bind")]
    pub fn bind(
        &mut self,
        s: Socket,
        local: Endpoint,
        credentials: &[impl AsRef<str>],
        ctx: &SecurityContext,
    ) -> Result<Endpoint, Error> {
        let req = Request::Bind {
            sock: s.0,
            local,
            ctx: prepared(ctx)?,
            credentials: owned(credentials),
        };
        match self.t.call(&req)? {
            Response::Bound(e) => Ok(e),
            _ => Err(Error::Protocol),
        }
    }

    /// Listens on a bound TCP socket.
    #[doc(alias = "Sec_listen")]
    pub fn listen(&mut self, s: Socket, backlog: u16) -> Result<(), Error> {
        match self.t.call(&Request::Listen { sock: s.0, backlog })? {
            Response::Ok => Ok(()),
            _ => Err(Error::Protocol),
        }
    }

    /// Accepts a connection (vetted by the server before it is handed out);
    /// blocks until one arrives.
    #[doc(alias = "Sec_accept")]
    pub fn accept(&mut self, s: Socket) -> Result<(Socket, Endpoint), Error> {
        let timeout = self.opts(s).recv_timeout_ms;
        match self.blocking(s, timeout, || Request::Accept { sock: s.0 })? {
            Response::Accepted { sock, peer } => {
                self.local.insert(sock, Local::default());
                Ok((Socket(sock), peer))
            }
            _ => Err(Error::Protocol),
        }
    }

    /// Sends on a connected socket; returns how many bytes were taken
    /// (blocks until at least one is, unless non-blocking).
    #[doc(alias = "Sec_send")]
    pub fn send(&mut self, s: Socket, data: &[u8]) -> Result<usize, Error> {
        let data = &data[..data.len().min(platform::MAX_DATA)];
        match self.blocking(s, 0, || Request::Send {
            sock: s.0,
            data: data.to_vec(),
        })? {
            Response::Sent(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(data.len())),
            _ => Err(Error::Protocol),
        }
    }

    /// Sends all of `data`.
    pub fn send_all(&mut self, s: Socket, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let n = self.send(s, data)?;
            if n == 0 {
                return Err(Error::NotConnected);
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// Receives up to `max_len` bytes from a connected socket (empty data:
    /// end of stream); blocks until data arrives.
    #[doc(alias = "Sec_recv")]
    pub fn recv(&mut self, s: Socket, max_len: usize) -> Result<Received, Error> {
        let timeout = self.opts(s).recv_timeout_ms;
        let max_len = u32::try_from(max_len).unwrap_or(u32::MAX);
        received(self.blocking(s, timeout, || Request::Recv { sock: s.0, max_len })?)
    }

    /// `Sec_sendto`: sends a datagram to `remote`; the first datagram to a
    /// destination is vetted with `credentials` and `ctx`.
    #[doc(alias = "Sec_sendto")]
    pub fn sendto(
        &mut self,
        s: Socket,
        data: &[u8],
        remote: Endpoint,
        credentials: &[impl AsRef<str>],
        ctx: &SecurityContext,
    ) -> Result<usize, Error> {
        let ctx = prepared(ctx)?;
        let credentials = owned(credentials);
        match self.blocking(s, 0, || Request::SendTo {
            sock: s.0,
            remote,
            ctx: ctx.clone(),
            credentials: credentials.clone(),
            data: data.to_vec(),
        })? {
            Response::Sent(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(data.len())),
            _ => Err(Error::Protocol),
        }
    }

    /// `Sec_recvfrom`: receives a datagram with its sender and how it was
    /// protected; blocks until one arrives.
    #[doc(alias = "Sec_recvfrom")]
    pub fn recvfrom(&mut self, s: Socket, max_len: usize) -> Result<Received, Error> {
        let timeout = self.opts(s).recv_timeout_ms;
        let max_len = u32::try_from(max_len).unwrap_or(u32::MAX);
        received(self.blocking(s, timeout, || Request::RecvFrom { sock: s.0, max_len })?)
    }

    /// `Sec_close`: closes the socket; the server removes its SPD rule and
    /// gives its port back.
    #[doc(alias = "Sec_close")]
    pub fn close(&mut self, s: Socket) -> Result<(), Error> {
        let r = self.t.call(&Request::Close { sock: s.0 });
        if !matches!(r, Err(Error::BadSocket)) {
            self.local.remove(&s.0);
        }
        match r? {
            Response::Ok => Ok(()),
            _ => Err(Error::Protocol),
        }
    }

    /// `Sec_getsockopt`.
    #[doc(alias = "Sec_getsockopt")]
    pub fn getsockopt(&mut self, s: Socket, opt: SockOpt) -> Result<SockOptValue, Error> {
        match self.t.call(&Request::GetSockOpt { sock: s.0, opt })? {
            Response::Opt(v) => Ok(v),
            _ => Err(Error::Protocol),
        }
    }

    /// `Sec_setsockopt`: the protection can only be raised
    /// ([`SockOptValue::RaiseProtection`]; asking for less than the floor is
    /// [`Error::BelowFloor`]).
    #[doc(alias = "Sec_setsockopt")]
    pub fn setsockopt(&mut self, s: Socket, value: SockOptValue) -> Result<(), Error> {
        match self.t.call(&Request::SetSockOpt { sock: s.0, value })? {
            // A raise answers with the protection now in force.
            Response::Ok | Response::Opt(_) => {}
            _ => return Err(Error::Protocol),
        }
        let l = self.local.entry(s.0).or_default();
        match value {
            SockOptValue::NonBlocking(b) => l.nonblocking = b,
            SockOptValue::RecvTimeout(ms) => l.recv_timeout_ms = ms,
            _ => {}
        }
        Ok(())
    }

    /// `Sec_getremoteCredentials`: the credentials the peer is known by.
    #[doc(alias = "Sec_getremoteCredentials")]
    pub fn remote_credentials(&mut self, s: Socket) -> Result<Vec<String>, Error> {
        match self.t.call(&Request::GetRemoteCredentials { sock: s.0 })? {
            Response::Credentials(c) => Ok(c),
            _ => Err(Error::Protocol),
        }
    }

    /// `Sec_getremoteKey`: the peer's public key (its KeyNote principal).
    #[doc(alias = "Sec_getremoteKey")]
    pub fn remote_key(&mut self, s: Socket) -> Result<String, Error> {
        match self.t.call(&Request::GetRemoteKey { sock: s.0 })? {
            Response::Key(k) => Ok(k),
            _ => Err(Error::Protocol),
        }
    }

    /// Why the last refused request of this application was refused
    /// (`None`: nothing was refused).
    #[doc(alias = "Sec_why")]
    pub fn why(&mut self) -> Result<Option<Refusal>, Error> {
        match self.t.call(&Request::LastRefusal)? {
            Response::Refusal(r) => Ok(r),
            _ => Err(Error::Protocol),
        }
    }

    /// Waits for the network server's next notification (a socket of this
    /// application changed state): for event loops over non-blocking
    /// sockets.
    pub fn wait(&mut self) {
        self.t.wait(None);
    }

    /// Sends any request (test and tool use: e.g. a deliberately wrong one).
    pub fn raw(&mut self, req: &Request) -> Result<Response, Error> {
        self.t.call(req)
    }
}

fn received(r: Response) -> Result<Received, Error> {
    match r {
        Response::Data {
            data,
            from,
            protection,
        } => Ok(Received {
            data,
            from,
            protection,
        }),
        _ => Err(Error::Protocol),
    }
}

#[cfg(test)]
mod tests;
