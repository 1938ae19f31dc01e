//! Typed protected calls: the request and the response are postcard-encoded
//! into a memory region shared by the two ends of one channel; the call
//! carries the length in message register 0.
//!
//! Reply label 0 means the response is in the buffer. Any other label is a
//! [`ServerError`]: the server could not decode the request or encode the
//! response. Application errors belong in the response type itself (e.g.
//! `Result<T, MyError>`), so they stay typed end to end.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! # use microkit::{Channel, MemoryRegion};
//! #[derive(Serialize, Deserialize)]
//! enum Req { Add(u32, u32) }
//! // client PD
//! let client = ipc::rpc::Client::<256>::new(Channel::new(0), MemoryRegion::by_name("rpc").unwrap());
//! let sum: u32 = client.call(&Req::Add(2, 3)).unwrap();
//! // server PD, in Handler::protected:
//! # let msg_info = microkit::MessageInfo::new(0, 1);
//! let server = ipc::rpc::Server::<256>::new(MemoryRegion::by_name("rpc").unwrap());
//! let reply = server.handle(msg_info, |req: Req| match req { Req::Add(a, b) => a.wrapping_add(b) });
//! ```

use core::fmt;

use microkit::{AccessError, Channel, MemoryRegion, MessageInfo};
use serde::{de::DeserializeOwned, Serialize};

use crate::PeerMisbehaviour;

/// Label of a successful reply (and of every request).
pub const LABEL_OK: u64 = 0;

/// Why the server refused a call (the reply label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerError {
    /// The request's label was not [`LABEL_OK`].
    BadRequestLabel = 1,
    /// The request had no length register, or a length beyond the buffer.
    BadRequestLength = 2,
    /// The request did not decode as the server's request type.
    BadRequest = 3,
    /// The response did not fit in the buffer.
    ResponseTooLarge = 4,
    /// The shared buffer could not be accessed (mapping permissions).
    Buffer = 5,
}

impl ServerError {
    /// The reply label for this error.
    pub fn label(self) -> u64 {
        self as u64
    }

    /// The error a reply label names, if any.
    pub fn from_label(label: u64) -> Option<Self> {
        Some(match label {
            1 => Self::BadRequestLabel,
            2 => Self::BadRequestLength,
            3 => Self::BadRequest,
            4 => Self::ResponseTooLarge,
            5 => Self::Buffer,
            _ => return None,
        })
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadRequestLabel => "server: bad request label",
            Self::BadRequestLength => "server: bad request length",
            Self::BadRequest => "server: request does not decode",
            Self::ResponseTooLarge => "server: response too large for the buffer",
            Self::Buffer => "server: shared buffer not accessible",
        })
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The request does not encode into the buffer (too large).
    Encode,
    /// The shared buffer could not be accessed.
    Buffer(AccessError),
    /// The server refused the request.
    Server(ServerError),
    /// The server's reply broke the protocol.
    Peer(PeerMisbehaviour),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Encode => f.write_str("request does not fit in the buffer"),
            Self::Buffer(e) => write!(f, "shared buffer: {e}"),
            Self::Server(e) => e.fmt(f),
            Self::Peer(e) => e.fmt(f),
        }
    }
}

/// Checks the length register of a message against the buffer.
fn length(msg_info: &MessageInfo, limit: usize) -> Result<usize, PeerMisbehaviour> {
    if msg_info.count() < 1 {
        return Err(PeerMisbehaviour::BadCount {
            count: msg_info.count(),
        });
    }
    let len = microkit::get_mr(0);
    match usize::try_from(len) {
        Ok(l) if l <= limit => Ok(l),
        _ => Err(PeerMisbehaviour::BadLength { len }),
    }
}

/// The calling end. `N` is the largest message, in bytes (a stack buffer of
/// that size is used to encode and decode).
pub struct Client<const N: usize> {
    channel: Channel,
    buf: MemoryRegion,
}

impl<const N: usize> Client<N> {
    /// A client calling over `channel`, with `buf` shared with the server.
    pub fn new(channel: Channel, buf: MemoryRegion) -> Self {
        Self { channel, buf }
    }

    /// Sends `req` and waits for the typed response.
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        req: &Req,
    ) -> Result<Resp, CallError> {
        let mut scratch = [0u8; N];
        let limit = N.min(self.buf.size());
        let used = postcard::to_slice(req, &mut scratch[..limit]).map_err(|_| CallError::Encode)?;
        let len = used.len();
        self.buf
            .write(0, &scratch[..len])
            .map_err(CallError::Buffer)?;
        microkit::set_mr(0, len as u64);
        let reply = self.channel.pp_call(MessageInfo::new(LABEL_OK, 1));
        if reply.label() != LABEL_OK {
            return Err(match ServerError::from_label(reply.label()) {
                Some(e) => CallError::Server(e),
                None => CallError::Peer(PeerMisbehaviour::BadLabel {
                    label: reply.label(),
                }),
            });
        }
        let len = length(&reply, limit).map_err(CallError::Peer)?;
        self.buf
            .read(0, &mut scratch[..len])
            .map_err(CallError::Buffer)?;
        postcard::from_bytes(&scratch[..len]).map_err(|_| CallError::Peer(PeerMisbehaviour::Decode))
    }
}

/// The serving end; use it in `Handler::protected`.
pub struct Server<const N: usize> {
    buf: MemoryRegion,
}

impl<const N: usize> Server<N> {
    /// A server answering over `buf`, shared with the client.
    pub fn new(buf: MemoryRegion) -> Self {
        Self { buf }
    }

    /// Decodes the request of the call `msg_info`, answers it with `f` and
    /// returns the reply to give back from `protected`. A request that does
    /// not decode never reaches `f`: the client gets a [`ServerError`].
    pub fn handle<Req: DeserializeOwned, Resp: Serialize>(
        &self,
        msg_info: MessageInfo,
        f: impl FnOnce(Req) -> Resp,
    ) -> MessageInfo {
        match self.try_handle(msg_info, f) {
            Ok(len) => {
                microkit::set_mr(0, len as u64);
                MessageInfo::new(LABEL_OK, 1)
            }
            Err(e) => MessageInfo::new(e.label(), 0),
        }
    }

    fn try_handle<Req: DeserializeOwned, Resp: Serialize>(
        &self,
        msg_info: MessageInfo,
        f: impl FnOnce(Req) -> Resp,
    ) -> Result<usize, ServerError> {
        if msg_info.label() != LABEL_OK {
            return Err(ServerError::BadRequestLabel);
        }
        let mut scratch = [0u8; N];
        let limit = N.min(self.buf.size());
        let len = length(&msg_info, limit).map_err(|_| ServerError::BadRequestLength)?;
        self.buf
            .read(0, &mut scratch[..len])
            .map_err(|_| ServerError::Buffer)?;
        let req: Req =
            postcard::from_bytes(&scratch[..len]).map_err(|_| ServerError::BadRequest)?;
        let resp = f(req);
        let used = postcard::to_slice(&resp, &mut scratch[..limit])
            .map_err(|_| ServerError::ResponseTooLarge)?;
        let len = used.len();
        self.buf
            .write(0, &scratch[..len])
            .map_err(|_| ServerError::Buffer)?;
        Ok(len)
    }
}

/// Largest encoded message carried in message registers by [`call_regs`]:
/// the registers after the length register.
pub const REGS_MAX_BYTES: usize = (microkit::MSG_MAX_LENGTH - 1) * 8;

/// Encodes `val` into the message registers: register 0 the byte length,
/// then the bytes, little-endian, 8 per register. Returns the count.
fn put_regs<T: Serialize>(val: &T) -> Option<usize> {
    let mut scratch = [0u8; REGS_MAX_BYTES];
    let len = postcard::to_slice(val, &mut scratch).ok()?.len();
    let words = len.div_ceil(8);
    microkit::with_msg_regs_mut(|regs| {
        regs[0] = len as u64;
        for (reg, chunk) in regs[1..].iter_mut().zip(scratch[..words * 8].chunks(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            *reg = u64::from_le_bytes(w);
        }
    });
    Some(1 + words)
}

/// Decodes a value the peer put in the message registers, checking the
/// length register against the count.
fn get_regs<T: DeserializeOwned>(msg_info: &MessageInfo) -> Result<T, PeerMisbehaviour> {
    let count = msg_info.count();
    if count < 1 {
        return Err(PeerMisbehaviour::BadCount { count });
    }
    let mut scratch = [0u8; REGS_MAX_BYTES];
    let len = microkit::with_msg_regs(|regs| {
        let len = regs[0];
        match usize::try_from(len) {
            Ok(l) if l <= (count - 1) * 8 => {
                for (chunk, reg) in scratch.chunks_mut(8).zip(&regs[1..count]) {
                    chunk.copy_from_slice(&reg.to_le_bytes());
                }
                Ok(l)
            }
            _ => Err(PeerMisbehaviour::BadLength { len }),
        }
    })?;
    postcard::from_bytes(&scratch[..len]).map_err(|_| PeerMisbehaviour::Decode)
}

/// A typed call with the request and response in the message registers
/// (no shared buffer; at most [`REGS_MAX_BYTES`] each way): the
/// `simple-ipc` form. Labels as for [`Client::call`].
pub fn call_regs<Req: Serialize, Resp: DeserializeOwned>(
    channel: Channel,
    req: &Req,
) -> Result<Resp, CallError> {
    let count = put_regs(req).ok_or(CallError::Encode)?;
    let reply = channel.pp_call(MessageInfo::new(LABEL_OK, count));
    if reply.label() != LABEL_OK {
        return Err(match ServerError::from_label(reply.label()) {
            Some(e) => CallError::Server(e),
            None => CallError::Peer(PeerMisbehaviour::BadLabel {
                label: reply.label(),
            }),
        });
    }
    get_regs(&reply).map_err(CallError::Peer)
}

/// Serves a [`call_regs`] call in `Handler::protected`: decodes the request
/// from the message registers, answers it with `f`, returns the reply.
pub fn handle_regs<Req: DeserializeOwned, Resp: Serialize>(
    msg_info: MessageInfo,
    f: impl FnOnce(Req) -> Resp,
) -> MessageInfo {
    if msg_info.label() != LABEL_OK {
        return MessageInfo::new(ServerError::BadRequestLabel.label(), 0);
    }
    let req = match get_regs(&msg_info) {
        Ok(r) => r,
        Err(PeerMisbehaviour::Decode) => {
            return MessageInfo::new(ServerError::BadRequest.label(), 0)
        }
        Err(_) => return MessageInfo::new(ServerError::BadRequestLength.label(), 0),
    };
    match put_regs(&f(req)) {
        Some(count) => MessageInfo::new(LABEL_OK, count),
        None => MessageInfo::new(ServerError::ResponseTooLarge.label(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_unknown_is_none() {
        for e in [
            ServerError::BadRequestLabel,
            ServerError::BadRequestLength,
            ServerError::BadRequest,
            ServerError::ResponseTooLarge,
            ServerError::Buffer,
        ] {
            assert_eq!(ServerError::from_label(e.label()), Some(e));
        }
        assert_eq!(ServerError::from_label(0), None);
        assert_eq!(ServerError::from_label(99), None);
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Req {
        Add(u32, u32),
        Echo([u8; 16]),
    }

    fn put(buf: &MemoryRegion, req: &Req) -> MessageInfo {
        let mut b = [0u8; 64];
        let used = postcard::to_slice(req, &mut b).unwrap();
        buf.write(0, used).unwrap();
        microkit::set_mr(0, used.len() as u64);
        MessageInfo::new(LABEL_OK, 1)
    }

    #[test]
    fn register_transport_round_trips_and_checks_lengths() {
        let count = put_regs(&Req::Echo([7; 16])).unwrap();
        let req = MessageInfo::new(LABEL_OK, count);
        let reply = handle_regs(req, |r: Req| match r {
            Req::Echo(b) => b.iter().map(|x| u32::from(*x)).sum::<u32>(),
            Req::Add(a, b) => a + b,
        });
        assert_eq!(reply.label(), LABEL_OK);
        assert_eq!(get_regs::<u32>(&reply), Ok(112));
        // A length register beyond the registers sent.
        microkit::set_mr(0, 9);
        assert_eq!(
            get_regs::<u32>(&MessageInfo::new(0, 2)),
            Err(PeerMisbehaviour::BadLength { len: 9 })
        );
        assert_eq!(
            get_regs::<u32>(&MessageInfo::new(0, 0)),
            Err(PeerMisbehaviour::BadCount { count: 0 })
        );
        let reply = handle_regs(MessageInfo::new(0, 2), |_: Req| 0u32);
        assert_eq!(reply.label(), ServerError::BadRequestLength.label());
        // Bytes that are not a `Req`.
        microkit::set_mr(0, 1);
        microkit::set_mr(1, 0xff);
        let reply = handle_regs(MessageInfo::new(0, 2), |_: Req| 0u32);
        assert_eq!(reply.label(), ServerError::BadRequest.label());
        // Too large to encode.
        assert!(put_regs(&[[0u8; 32]; 31]).is_none());
    }

    #[test]
    fn server_answers_and_rejects_bad_requests_with_typed_labels() {
        let buf = MemoryRegion::host_anonymous(64);
        let server = Server::<64>::new(buf);
        let add = |r: Req| match r {
            Req::Add(a, b) => Ok::<u32, ()>(a.wrapping_add(b)),
            Req::Echo(_) => Err(()),
        };
        let reply = server.handle(put(&buf, &Req::Add(40, 2)), add);
        assert_eq!(reply, MessageInfo::new(LABEL_OK, 1));
        let len = microkit::get_mr(0) as usize;
        let mut out = [0u8; 64];
        buf.read(0, &mut out[..len]).unwrap();
        assert_eq!(
            postcard::from_bytes::<Result<u32, ()>>(&out[..len]).unwrap(),
            Ok(42)
        );

        // A length beyond the buffer never reaches the handler.
        let m = put(&buf, &Req::Add(1, 1));
        microkit::set_mr(0, 1 << 40);
        let reply = server.handle(m, |_: Req| -> u32 { panic!("must not be called") });
        assert_eq!(reply.label(), ServerError::BadRequestLength.label());
        // No length register at all.
        let reply = server.handle(MessageInfo::new(LABEL_OK, 0), |_: Req| 0u32);
        assert_eq!(reply.label(), ServerError::BadRequestLength.label());
        // Garbage bytes: an unknown enum variant.
        buf.write(0, &[9, 9, 9]).unwrap();
        microkit::set_mr(0, 3);
        let reply = server.handle(MessageInfo::new(LABEL_OK, 1), |_: Req| 0u32);
        assert_eq!(reply.label(), ServerError::BadRequest.label());
        // A label other than 0.
        let reply = server.handle(MessageInfo::new(7, 1), |_: Req| 0u32);
        assert_eq!(reply.label(), ServerError::BadRequestLabel.label());
        // A response larger than the buffer.
        let small = Server::<8>::new(buf);
        let reply = small.handle(put(&buf, &Req::Add(1, 2)), |_: Req| [1u8; 16]);
        assert_eq!(reply.label(), ServerError::ResponseTooLarge.label());
        let _ = Req::Echo([0; 16]);
    }
}
