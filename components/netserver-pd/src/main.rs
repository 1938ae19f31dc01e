//! The network server PD: thin wiring of the `netserver` core.
//!
//! - init: asks the policy repository (channel 2, `buf_2`) for the node's
//!   network configuration, the application profiles and the hand-keyed
//!   SAs; then opens the NIC (channel 3: its events) and the timer (channel
//!   4). Host (`src/pd/host.rs`): the NIC of `VETTED_NIC`, a 10 ms tick.
//!   seL4 (`src/pd/sel4.rs`): QEMU virt's virtio-net card and the ARM
//!   generic timer, armed for smoltcp's next deadline; the random source
//!   seeded from the device tree (no seed, no network). Raspberry Pi 4
//!   (`src/pd/rpi4b.rs`, when built with `VETTED_SEL4_BOARD=rpi4b_*`): the
//!   GENET, the BCM2711 system timer, the seed from the RNG200 as read by
//!   the `hwprobe` child PD.
//! - applications call on channels 10..=61 (`buf_<id>`), through
//!   `ipc::rpc`, with `netserver_api::Request`; the answer is
//!   `Result<Response, Error>`. The channel names the application.
//! - vetting asks the trust PD on channel 1 (`buf_1`) with a deadline: a
//!   dead, hung or erring trust PD or policy repository means refusal.
//! - after every event the applications whose sockets changed are notified
//!   on their channel.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

extern crate alloc;

#[cfg_attr(
    all(target_os = "none", not(vetted_board = "rpi4b")),
    path = "pd/sel4.rs"
)]
#[cfg_attr(all(target_os = "none", vetted_board = "rpi4b"), path = "pd/rpi4b.rs")]
#[cfg_attr(not(target_os = "none"), path = "pd/host.rs")]
mod platform;
#[cfg(target_os = "none")]
#[path = "pd/sel4_common.rs"]
mod sel4_common;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use microkit::{debug_println, Channel, ChannelSet, Handler, MemoryRegion, MessageInfo};
use netserver::stack::{NetConfig, NetServer};
use netserver::vet::{Authority, Unreachable};
use netserver_api::{Error, Request, Response, MAX_MESSAGE};
use netserver_pd::rpc::Client;
use platform::{Nic, Platform};
use policyrepo_api::AppProfile;
use trust_api::{Action, Decision};

const TRUST: Channel = Channel::new(1);
const REPO: Channel = Channel::new(2);
const NIC: Channel = Channel::new(3);
const TIMER: Channel = Channel::new(4);
const FIRST_APP: usize = 10;
/// How long the trust PD and the repository may take to answer (host; seL4
/// has no call timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// An rpc buffer holds a request or a reply of at most this many bytes.
const RPC_MAX: usize = MAX_MESSAGE + 1024;

/// Profiles (read at start) and the trust PD (asked per action).
struct Remote {
    apps: Vec<AppProfile>,
    trust: Option<Client>,
}

impl Authority for Remote {
    fn profile(&mut self, pd: &str) -> Result<AppProfile, Unreachable> {
        self.apps
            .iter()
            .find(|a| a.pd == pd)
            .cloned()
            .ok_or(Unreachable)
    }

    fn decide(
        &mut self,
        requester: &str,
        action: &Action,
        credentials: &[String],
    ) -> Result<Decision, Unreachable> {
        let trust = self.trust.as_ref().ok_or(Unreachable)?;
        let req = trust_api::Request::Query {
            requester: requester.into(),
            action: action.clone(),
            credentials: credentials.to_vec(),
        };
        match trust.call::<_, Result<trust_api::Response, trust_api::Error>>(&req) {
            Ok(Ok(trust_api::Response::Decision(d))) => Ok(d),
            Ok(other) => {
                debug_println!("netserver: trust refused the query: {other:?}");
                Err(Unreachable)
            }
            Err(e) => {
                debug_println!("netserver: trust PD unreachable: {e} (denied)");
                Err(Unreachable)
            }
        }
    }
}

struct Pd {
    server: Option<NetServer<Nic>>,
    remote: Remote,
    platform: Platform,
}

impl Pd {
    fn poll_and_notify(&mut self) {
        let now = self.platform.now();
        if let Some(server) = self.server.as_mut() {
            server.poll(now.instant);
            for owner in server.take_ready() {
                if let Ok(id) = usize::try_from(owner) {
                    if (FIRST_APP..=61).contains(&id) {
                        Channel::new(id).notify();
                    }
                }
            }
        }
        self.platform.after_poll(self.server.as_mut(), now);
    }
}

impl Handler for Pd {
    type Error = core::convert::Infallible;

    /// Raspberry Pi 4: the hardware probe child faulted (a device the
    /// machine lacks, e.g. under QEMU raspi4b); it stays stopped.
    #[cfg(all(target_os = "none", vetted_board = "rpi4b"))]
    fn fault(
        &mut self,
        child: microkit::Child,
        msg_info: MessageInfo,
    ) -> Result<Option<MessageInfo>, Self::Error> {
        self.platform.child_fault(child, msg_info);
        Ok(None)
    }

    fn notified(&mut self, channels: ChannelSet) -> Result<(), Self::Error> {
        self.platform.events(self.server.as_mut(), channels);
        self.poll_and_notify();
        self.platform.ack(channels);
        Ok(())
    }

    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> Result<MessageInfo, Self::Error> {
        let id = ch.index();
        let Ok(buf) = MemoryRegion::by_name(&format!("buf_{id}")) else {
            return Ok(MessageInfo::new(ipc::rpc::ServerError::Buffer.label(), 0));
        };
        let now = self.platform.now();
        let owner = u32::try_from(id).unwrap_or(u32::MAX);
        let rpc = ipc::rpc::Server::<RPC_MAX>::new(buf);
        let server = &mut self.server;
        let remote = &mut self.remote;
        let reply = rpc.handle(msg, |req: Request| -> Result<Response, Error> {
            match server.as_mut() {
                Some(s) if id >= FIRST_APP => s.handle(remote, owner, req, now),
                // Not started (no configuration) or not an app channel.
                _ => Err(Error::Unreachable),
            }
        });
        self.poll_and_notify();
        Ok(reply)
    }
}

fn region(name: &str) -> Option<MemoryRegion> {
    MemoryRegion::by_name(name).ok()
}

fn init() -> Pd {
    let platform = Platform::new();
    let trust = region("buf_1").map(|b| Client::new(TRUST, b, CALL_TIMEOUT));
    let mut pd = Pd {
        server: None,
        remote: Remote {
            apps: Vec::new(),
            trust,
        },
        platform,
    };
    let Some(repo) = region("buf_2").map(|b| Client::new(REPO, b, CALL_TIMEOUT)) else {
        debug_println!("netserver: no buf_2 to reach the policy repository: serving nothing");
        return pd;
    };
    use policyrepo_api::{Request as R, Response as P};
    type Answer = Result<P, policyrepo_api::Error>;
    let network = match repo.call::<_, Answer>(&R::GetNetwork) {
        Ok(Ok(P::Network(n))) => n,
        other => {
            debug_println!("netserver: no network configuration ({other:?}): serving nothing");
            return pd;
        }
    };
    let mut apps = match repo.call::<_, Answer>(&R::GetApps) {
        Ok(Ok(P::Apps(a))) => a,
        other => {
            debug_println!("netserver: no application profiles ({other:?}): serving nothing");
            return pd;
        }
    };
    // Only applications whose channel is wired to this PD (its buffer is
    // mapped) are served; a profile naming another channel is ignored, so
    // a bundle/system mismatch can never make the netserver notify a
    // channel it does not have.
    apps.retain(|a| {
        let wired = usize::from(a.channel) >= FIRST_APP
            && usize::from(a.channel) <= 61
            && region(&format!("buf_{}", a.channel)).is_some();
        if !wired {
            debug_println!(
                "netserver: application {} names channel {} which is not wired here: ignored",
                a.pd,
                a.channel
            );
        }
        wired
    });
    let sas = match repo.call::<_, Answer>(&R::GetSas) {
        Ok(Ok(P::Sas(s))) => s,
        other => {
            debug_println!("netserver: no SAs ({other:?}): serving nothing");
            return pd;
        }
    };
    let Some(nic) = pd.platform.take_nic(network.mac) else {
        debug_println!("netserver: no NIC: serving nothing");
        return pd;
    };
    // The interface's random seed (TCP initial sequence numbers): without a
    // random source there is no network (fail closed).
    let seed = match netserver_pd::entropy::stack_seed() {
        Ok(s) => s,
        Err(e) => {
            debug_println!("netserver: no random source ({e}): no network");
            return pd;
        }
    };
    // The node's name (the `node` action attribute) comes from the bundle.
    let node = network.node.clone();
    let n_apps = apps.len();
    let n_sas = sas.len();
    pd.remote.apps = apps.clone();
    let mut cfg = NetConfig::new(&node, network, apps, sas);
    pd.platform.limits(&mut cfg);
    cfg.random_seed = seed;
    let now = pd.platform.now();
    match NetServer::new(nic, cfg, now.instant) {
        Ok(s) => {
            debug_println!("netserver: up ({n_apps} applications, {n_sas} SAs)");
            pd.server = Some(s);
        }
        Err(e) => debug_println!("netserver: configuration refused: {e:?}: serving nothing"),
    }
    pd.poll_and_notify();
    pd
}

// seL4: the stack holds an RPC request and reply buffer (2 x 65 KiB) plus
// ring and smoltcp frames; the heap holds the sockets (128 KiB of buffers
// per TCP or UDP socket, up to 16 listening backlog sockets per Listen),
// the nonce memory and the configuration: see `Platform::limits`.
microkit::protection_domain!(init, stack_size = 0x80000, heap_size = 0x200_0000);
