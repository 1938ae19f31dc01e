//! The trust PD (binary `trust`), thin: it serves the network server's
//! [`trust_api::Request`]s on channel 0 (`buf_0`) with the [`trust::Trust`]
//! core, and fetches the policy from the policy repository on channel 1
//! (`buf_1`) with `policyrepo_api::Request::GetPolicy`, lazily (first query,
//! `Reload`, or after the repository notified it of an update on channel 1).
//! Passive.
//!
//! Every reply is a postcard `Result<trust_api::Response, trust_api::Error>`
//! through `ipc::rpc`. A call on any other channel is answered with
//! [`trust_api::Error::NotPermitted`] (or an `ipc` buffer error if the
//! channel has no buffer). If the repository cannot be called, answers with
//! an error, or sends a policy that does not compile, every query gets
//! [`trust_api::Error::PolicyUnavailable`]: fail closed.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use ipc::rpc::{Client, Server, ServerError};
use microkit::{
    debug_println, Channel, ChannelSet, Handler, Infallible, MemoryRegion, MessageInfo,
};
use netserver_api::MAX_MESSAGE;
use trust::{PolicySource, PolicyText, Trust, Unavailable};

/// The network server's channel (it calls us).
pub const NETSERVER: Channel = Channel::new(0);
/// The policy repository's channel (we call it; it notifies us of updates).
pub const POLICYREPO: Channel = Channel::new(1);

/// The PD's stack on seL4 (`protection_domain!(.., stack_size)`; the host
/// uses the process's own). See the README, "On seL4".
pub const STACK_SIZE: usize = 0x10_0000;
/// The PD's heap on seL4 (`protection_domain!(.., heap_size)`). See the
/// README, "On seL4".
pub const HEAP_SIZE: usize = 0x100_0000;

/// The policy repository, over channel 1.
pub struct Repo {
    client: Option<Client<MAX_MESSAGE>>,
}

impl PolicySource for Repo {
    fn fetch(&mut self) -> Result<PolicyText, Unavailable> {
        let client = self.client.as_ref().ok_or(Unavailable)?;
        type Reply = Result<policyrepo_api::Response, policyrepo_api::Error>;
        match client.call::<_, Reply>(&policyrepo_api::Request::GetPolicy) {
            Ok(Ok(policyrepo_api::Response::Policy {
                version,
                assertions,
            })) => Ok(PolicyText {
                version,
                assertions,
            }),
            Ok(Ok(_)) => {
                debug_println!("policy repository: unexpected reply to GetPolicy");
                Err(Unavailable)
            }
            Ok(Err(e)) => {
                debug_println!("policy repository: {e}");
                Err(Unavailable)
            }
            Err(e) => {
                debug_println!("policy repository unreachable: {e}");
                Err(Unavailable)
            }
        }
    }
}

/// The PD's state.
pub struct TrustPd {
    core: Trust,
    server: Option<Server<MAX_MESSAGE>>,
    repo: Repo,
}

impl Handler for TrustPd {
    type Error = Infallible;

    fn protected(
        &mut self,
        channel: Channel,
        msg_info: MessageInfo,
    ) -> Result<MessageInfo, Infallible> {
        let Some(server) = self.server.as_ref() else {
            return Ok(MessageInfo::new(ServerError::Buffer.label(), 0));
        };
        if channel != NETSERVER {
            // Only the network server's channel has a buffer here: refuse
            // without touching memory the caller does not share with us.
            return Ok(MessageInfo::new(ServerError::Buffer.label(), 0));
        }
        let core = &mut self.core;
        let repo = &mut self.repo;
        Ok(server.handle(msg_info, |req: trust_api::Request| core.handle(req, repo)))
    }

    fn notified(&mut self, channels: ChannelSet) -> Result<(), Infallible> {
        if channels.contains(POLICYREPO) {
            self.core.mark_stale();
        }
        Ok(())
    }
}

/// The PD's entry (`microkit::protection_domain!(trust_pd::init)`).
pub fn init() -> TrustPd {
    let server = MemoryRegion::by_name("buf_0").ok().map(Server::new);
    let client = MemoryRegion::by_name("buf_1")
        .ok()
        .map(|b| Client::new(POLICYREPO, b));
    if server.is_none() {
        debug_println!("no buf_0 region: cannot answer the network server");
    }
    if client.is_none() {
        debug_println!("no buf_1 region: no policy, every query is refused");
    }
    TrustPd {
        core: Trust::new(),
        server,
        repo: Repo { client },
    }
}
