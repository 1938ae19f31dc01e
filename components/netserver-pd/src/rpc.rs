//! Calls to the trust PD and the policy repository with a deadline: the
//! `ipc::rpc` wire format (postcard in the channel's buffer, length in
//! message register 0, label 0 = ok), over `Channel::pp_call_timeout`, so a
//! dead or hung callee is an error, never a hang. Both services answer
//! `Result<Response, Error>`.

use alloc::vec;
use core::time::Duration;
use microkit::{Channel, MemoryRegion, MessageInfo};
use serde::{de::DeserializeOwned, Serialize};

/// Why a call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// The request does not fit the buffer.
    Encode,
    /// The callee did not answer in time, or has not answered an earlier call.
    NoAnswer(microkit::CallError),
    /// The callee refused the request (`ipc::rpc::ServerError` label).
    Server(u64),
    /// The reply broke the protocol (bad length, does not decode).
    Peer,
    /// The shared buffer is not accessible.
    Buffer,
}

impl core::fmt::Display for RpcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Encode => f.write_str("request too large"),
            Self::NoAnswer(e) => write!(f, "{e}"),
            Self::Server(l) => write!(f, "server refused the request (label {l})"),
            Self::Peer => f.write_str("malformed reply"),
            Self::Buffer => f.write_str("shared buffer not accessible"),
        }
    }
}

/// A client of one channel with a deadline per call.
pub struct Client {
    channel: Channel,
    buf: MemoryRegion,
    timeout: Duration,
}

impl Client {
    /// A client calling over `channel` with `buf`, waiting at most `timeout`.
    pub fn new(channel: Channel, buf: MemoryRegion, timeout: Duration) -> Self {
        Client {
            channel,
            buf,
            timeout,
        }
    }

    /// One call.
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        req: &Req,
    ) -> Result<Resp, RpcError> {
        let bytes = postcard::to_allocvec(req).map_err(|_| RpcError::Encode)?;
        if bytes.len() > self.buf.size() {
            return Err(RpcError::Encode);
        }
        self.buf.write(0, &bytes).map_err(|_| RpcError::Buffer)?;
        microkit::set_mr(0, bytes.len() as u64);
        let reply = self
            .channel
            .pp_call_timeout(MessageInfo::new(0, 1), self.timeout)
            .map_err(RpcError::NoAnswer)?;
        if reply.label() != 0 {
            return Err(RpcError::Server(reply.label()));
        }
        if reply.count() < 1 {
            return Err(RpcError::Peer);
        }
        let len = usize::try_from(microkit::get_mr(0)).map_err(|_| RpcError::Peer)?;
        if len > self.buf.size() {
            return Err(RpcError::Peer);
        }
        let mut out = vec![0u8; len];
        self.buf.read(0, &mut out).map_err(|_| RpcError::Buffer)?;
        postcard::from_bytes(&out).map_err(|_| RpcError::Peer)
    }
}
