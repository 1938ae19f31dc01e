//! Interface of the network server PD: what the `secsock` client library
//! sends, what it gets back, and the security vocabulary both sides share.
//!
//! Messages are postcard-encoded (see [`encode`] and [`decode`]). The network
//! server treats every request as untrusted: decoding never panics, and every
//! socket handle, length and enum value is checked on the server side.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

pub mod protection;

pub use protection::{
    AlgSet, Algorithm, Floor, FloorViolation, Level, Protection, ProtectionRequest, Service,
};

/// An IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IpAddr {
    /// IPv4.
    V4([u8; 4]),
    /// IPv6.
    V6([u8; 16]),
}

impl fmt::Display for IpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpAddr::V4(a) => write!(f, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]),
            IpAddr::V6(a) => {
                for (i, pair) in a.chunks_exact(2).enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{:x}", u16::from_be_bytes([pair[0], pair[1]]))?;
                }
                Ok(())
            }
        }
    }
}

/// One side of a connection as the security context names it: each part may
/// be ANY (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Endpoint {
    /// Address, or ANY.
    pub addr: Option<IpAddr>,
    /// Port, or ANY.
    pub port: Option<u16>,
}

impl Endpoint {
    /// ANY address, ANY port.
    pub const ANY: Endpoint = Endpoint {
        addr: None,
        port: None,
    };

    /// A fully specified endpoint.
    pub const fn new(addr: IpAddr, port: u16) -> Self {
        Endpoint {
            addr: Some(addr),
            port: Some(port),
        }
    }

    /// Whether a concrete address and port fall under this endpoint.
    pub fn matches(&self, addr: IpAddr, port: u16) -> bool {
        self.addr.is_none_or(|a| a == addr) && self.port.is_none_or(|p| p == port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Some(IpAddr::V6(_)) => write!(f, "[{}]", self.addr.unwrap_or(IpAddr::V6([0; 16])))?,
            Some(a) => write!(f, "{a}")?,
            None => f.write_str("ANY")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => f.write_str(":ANY"),
        }
    }
}

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Proto {
    /// TCP (stream).
    Tcp,
    /// UDP (datagram).
    Udp,
}

impl Proto {
    /// The name used in policies (`protocol` attribute).
    pub const fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// The security context an application attaches to `Sec_connect`,
/// `Sec_bind` and `Sec_sendto` (the paper's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityContext {
    /// Local address and port (each may be ANY).
    pub local: Endpoint,
    /// Remote address and port (each may be ANY).
    pub remote: Endpoint,
    /// When the context was issued, in seconds since the Unix epoch.
    pub issued: u64,
    /// A fresh random value; a context is accepted once.
    pub nonce: [u8; 16],
    /// The protection asked for.
    pub protection: ProtectionRequest,
    /// Signature over [`SecurityContext::signed_bytes`], for contexts that
    /// cross nodes. Inside a node the channel a request arrives on identifies
    /// the application, and this may be empty.
    pub signature: Vec<u8>,
}

impl SecurityContext {
    /// The bytes a signature covers: the postcard encoding of every field but
    /// the signature, prefixed by a domain-separation tag.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let unsigned = (
            "vetted-security-context-v1",
            &self.local,
            &self.remote,
            self.issued,
            &self.nonce,
            &self.protection,
        );
        // Encoding plain data into a Vec cannot fail.
        postcard::to_allocvec(&unsigned).unwrap_or_default()
    }
}

/// A socket handle, valid only for the application that created it.
pub type SocketId = u32;

/// Socket options (`Sec_getsockopt` / `Sec_setsockopt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SockOpt {
    /// The protection in force (get), or a request to raise it (set).
    Protection,
    /// Receive timeout in milliseconds (0 = block forever).
    RecvTimeout,
    /// Non-blocking mode.
    NonBlocking,
}

/// The value of a socket option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SockOptValue {
    /// The protection in force.
    Protection(Protection),
    /// Raise the protection; lowering is refused with [`Error::BelowFloor`].
    RaiseProtection(ProtectionRequest),
    /// Receive timeout in milliseconds (0 = block forever).
    RecvTimeout(u32),
    /// Non-blocking mode.
    NonBlocking(bool),
}

/// How a received datagram or the data of a connection was protected, and by
/// whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundProtection {
    /// The ESP transform, or `None` for unprotected traffic.
    pub algorithm: Option<Algorithm>,
    /// The SPI of the inbound SA.
    pub spi: Option<u32>,
    /// The peer's key (its KeyNote principal), when an SA binds one.
    pub peer_key: Option<String>,
}

/// Why a request was refused; the application asks for it with
/// [`Request::LastRefusal`] after [`Error::Refused`] or [`Error::BelowFloor`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The trust server denied the action.
    Policy {
        /// The compliance value reached.
        value: String,
        /// Which assertions did not contribute, and why (one line each).
        reasons: Vec<String>,
    },
    /// The application asked for less than its floor.
    BelowFloor(FloorViolation),
    /// The security context was replayed (its nonce was seen before).
    Replayed,
    /// The security context was issued too long ago or in the future.
    Stale {
        /// Issued time of the context.
        issued: u64,
        /// The server's time.
        now: u64,
    },
    /// The trust server or the policy repository could not be asked; the
    /// connection is denied (fail closed).
    TrustUnavailable,
    /// Too many fresh security contexts are remembered for replay detection;
    /// the request is refused rather than a live nonce forgotten. Retry later.
    ReplayWindowFull,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Policy { value, reasons } => {
                write!(f, "denied by policy (compliance value {value})")?;
                for r in reasons {
                    write!(f, "; {r}")?;
                }
                Ok(())
            }
            Refusal::BelowFloor(v) => write!(f, "{v}"),
            Refusal::Replayed => f.write_str("security context replayed"),
            Refusal::Stale { issued, now } => {
                write!(f, "security context is stale (issued {issued}, now {now})")
            }
            Refusal::TrustUnavailable => {
                f.write_str("trust server unavailable: denied (fail closed)")
            }
            Refusal::ReplayWindowFull => f.write_str(
                "too many fresh security contexts in the replay window: try again shortly",
            ),
        }
    }
}

/// A request from an application to the network server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Create a socket.
    Socket {
        /// TCP or UDP.
        proto: Proto,
    },
    /// `Sec_bind`: vet and bind a local endpoint.
    Bind {
        /// Socket.
        sock: SocketId,
        /// Local endpoint (ANY port takes one from the pool).
        local: Endpoint,
        /// Security context.
        ctx: SecurityContext,
        /// KeyNote credentials supporting the request.
        credentials: Vec<String>,
    },
    /// Listen on a bound TCP socket.
    Listen {
        /// Socket.
        sock: SocketId,
        /// Backlog.
        backlog: u16,
    },
    /// Accept a connection on a listening socket.
    Accept {
        /// Socket.
        sock: SocketId,
    },
    /// `Sec_connect`: vet and open a connection.
    Connect {
        /// Socket.
        sock: SocketId,
        /// Remote endpoint.
        remote: Endpoint,
        /// Security context.
        ctx: SecurityContext,
        /// KeyNote credentials supporting the request.
        credentials: Vec<String>,
    },
    /// Send on a connected socket.
    Send {
        /// Socket.
        sock: SocketId,
        /// Data.
        data: Vec<u8>,
    },
    /// Receive on a connected socket.
    Recv {
        /// Socket.
        sock: SocketId,
        /// Most bytes wanted.
        max_len: u32,
    },
    /// `Sec_sendto`: vet the destination and send a datagram.
    SendTo {
        /// Socket.
        sock: SocketId,
        /// Destination.
        remote: Endpoint,
        /// Security context.
        ctx: SecurityContext,
        /// KeyNote credentials supporting the request.
        credentials: Vec<String>,
        /// Data.
        data: Vec<u8>,
    },
    /// `Sec_recvfrom`: receive a datagram with its sender and protection.
    RecvFrom {
        /// Socket.
        sock: SocketId,
        /// Most bytes wanted.
        max_len: u32,
    },
    /// `Sec_close`.
    Close {
        /// Socket.
        sock: SocketId,
    },
    /// `Sec_getsockopt`.
    GetSockOpt {
        /// Socket.
        sock: SocketId,
        /// Option.
        opt: SockOpt,
    },
    /// `Sec_setsockopt`.
    SetSockOpt {
        /// Socket.
        sock: SocketId,
        /// Option and value.
        value: SockOptValue,
    },
    /// `Sec_getremoteCredentials`.
    GetRemoteCredentials {
        /// Socket.
        sock: SocketId,
    },
    /// `Sec_getremoteKey`: the peer's public key (never a secret).
    GetRemoteKey {
        /// Socket.
        sock: SocketId,
    },
    /// Why the last refused request of this application was refused.
    LastRefusal,
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Done, nothing to return.
    Ok,
    /// A new socket.
    Socket(SocketId),
    /// The local endpoint bound.
    Bound(Endpoint),
    /// The connection is established.
    Connected {
        /// Local endpoint.
        local: Endpoint,
        /// The protection in force.
        protection: Protection,
    },
    /// An accepted connection.
    Accepted {
        /// New socket.
        sock: SocketId,
        /// Peer address and port.
        peer: Endpoint,
    },
    /// Bytes accepted for sending.
    Sent(u32),
    /// Received data.
    Data {
        /// The bytes (empty at end of stream).
        data: Vec<u8>,
        /// Sender (for datagrams) or peer.
        from: Endpoint,
        /// How it was protected.
        protection: InboundProtection,
    },
    /// An option's value.
    Opt(SockOptValue),
    /// The peer's credentials.
    Credentials(Vec<String>),
    /// The peer's public key.
    Key(String),
    /// Why the last request was refused (`None`: nothing was refused).
    Refusal(Option<Refusal>),
}

/// Errors, each with an errno-style code for the C API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The socket handle is not one of this application's sockets (`EBADF`).
    BadSocket,
    /// The policy denied the request; ask [`Request::LastRefusal`] why (`EACCES`).
    Refused,
    /// The request asked for less than the administrator's floor (`EPERM`).
    BelowFloor,
    /// The local address is in use, or the port belongs to another application (`EADDRINUSE`).
    AddressInUse,
    /// No local port is free in the pool (`EADDRNOTAVAIL`).
    NoPorts,
    /// The peer refused or reset the connection (`ECONNREFUSED`).
    ConnectionRefused,
    /// The socket is not connected (`ENOTCONN`).
    NotConnected,
    /// The operation would block (`EAGAIN`).
    WouldBlock,
    /// The operation timed out (`ETIMEDOUT`).
    TimedOut,
    /// An argument is invalid for this socket or state (`EINVAL`).
    Invalid,
    /// The message is too large (`EMSGSIZE`).
    TooLarge,
    /// The server is out of sockets or buffers (`ENOBUFS`).
    NoBuffers,
    /// The operation is not supported by this socket type (`EOPNOTSUPP`).
    NotSupported,
    /// A message could not be decoded: the peer misbehaved (`EPROTO`).
    Protocol,
    /// The server is not reachable (`EHOSTUNREACH`).
    Unreachable,
}

impl Error {
    /// The Linux errno value of this error (positive).
    pub const fn errno(self) -> i32 {
        match self {
            Error::BadSocket => 9,           // EBADF
            Error::Refused => 13,            // EACCES
            Error::BelowFloor => 1,          // EPERM
            Error::AddressInUse => 98,       // EADDRINUSE
            Error::NoPorts => 99,            // EADDRNOTAVAIL
            Error::ConnectionRefused => 111, // ECONNREFUSED
            Error::NotConnected => 107,      // ENOTCONN
            Error::WouldBlock => 11,         // EAGAIN
            Error::TimedOut => 110,          // ETIMEDOUT
            Error::Invalid => 22,            // EINVAL
            Error::TooLarge => 90,           // EMSGSIZE
            Error::NoBuffers => 105,         // ENOBUFS
            Error::NotSupported => 95,       // EOPNOTSUPP
            Error::Protocol => 71,           // EPROTO
            Error::Unreachable => 113,       // EHOSTUNREACH
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::BadSocket => "not a socket of this application",
            Error::Refused => "refused by policy",
            Error::BelowFloor => "below the administrator's floor",
            Error::AddressInUse => "address in use",
            Error::NoPorts => "no free local port",
            Error::ConnectionRefused => "connection refused",
            Error::NotConnected => "not connected",
            Error::WouldBlock => "operation would block",
            Error::TimedOut => "timed out",
            Error::Invalid => "invalid argument",
            Error::TooLarge => "message too large",
            Error::NoBuffers => "no buffer space",
            Error::NotSupported => "operation not supported",
            Error::Protocol => "protocol error (malformed message)",
            Error::Unreachable => "network server unreachable",
        })
    }
}

/// The largest encoded message either side accepts.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Encodes a message.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, Error> {
    let bytes = postcard::to_allocvec(msg).map_err(|_| Error::TooLarge)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(Error::TooLarge);
    }
    Ok(bytes)
}

/// Decodes a message from untrusted bytes: any malformation is
/// [`Error::Protocol`], trailing bytes included.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    if bytes.len() > MAX_MESSAGE {
        return Err(Error::TooLarge);
    }
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Ok(v),
        _ => Err(Error::Protocol),
    }
}

#[cfg(test)]
mod tests;
