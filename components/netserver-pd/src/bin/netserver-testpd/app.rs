//! The application side of the test PDs, on both platforms: typed calls to
//! the netserver over `buf_0`/channel 0, retries while a call would block,
//! fresh security contexts. The platform module gives the clocks.

use crate::platform::{unix_now, uptime};
use alloc::vec;
use core::time::Duration;
use microkit::{Channel, ChannelSet, MemoryRegion};
use netserver_api::{
    Endpoint, Error, ProtectionRequest, Request, Response, SecurityContext, MAX_MESSAGE,
};

/// Size of a request or reply in `buf_0`.
pub(crate) const RPC_MAX: usize = MAX_MESSAGE + 1024;

pub(crate) struct App {
    rpc: ipc::rpc::Client<RPC_MAX>,
    nonce: u128,
    /// How long `wait_call` retries.
    wait_limit: Duration,
}

impl App {
    /// The app on `buf_0` (None: not mapped), its nonces counting up from
    /// `nonce_base`.
    pub(crate) fn open(nonce_base: u128, wait_limit: Duration) -> Option<App> {
        let buf = MemoryRegion::by_name("buf_0").ok()?;
        Some(App {
            rpc: ipc::rpc::Client::new(Channel::new(0), buf),
            nonce: nonce_base,
            wait_limit,
        })
    }

    pub(crate) fn call(&self, req: &Request) -> Result<Response, Error> {
        self.rpc
            .call::<_, Result<Response, Error>>(req)
            .unwrap_or(Err(Error::Protocol))
    }

    /// Retries while the call would block, waiting for the netserver's
    /// notification in between (at most `wait_limit`).
    pub(crate) fn wait_call(&self, req: &Request) -> Result<Response, Error> {
        let start = uptime();
        loop {
            match self.call(req) {
                Err(Error::WouldBlock) if uptime() - start < self.wait_limit => {
                    microkit::wait_notified(ChannelSet::from_bits(1));
                }
                r => return r,
            }
        }
    }

    pub(crate) fn ctx(&mut self, remote: Endpoint) -> SecurityContext {
        self.nonce += 1;
        SecurityContext {
            local: Endpoint::ANY,
            remote,
            issued: unix_now(),
            nonce: self.nonce.to_le_bytes(),
            protection: ProtectionRequest::default(),
            signature: vec![],
        }
    }
}
