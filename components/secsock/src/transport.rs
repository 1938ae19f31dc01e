//! How requests reach the network server: a protected call on channel 0
//! with the postcard message in `buf_0` ([`PdTransport`]), or anything else
//! implementing [`Transport`] (tests).

use crate::platform::Deadline;
use ipc::rpc::{CallError, Client};
use microkit::{Channel, MemoryRegion};
use netserver_api::{Error, Request, Response, MAX_MESSAGE};

/// The application's channel to the network server (docs/connection-path.md).
pub const CHANNEL: Channel = Channel::new(0);
/// The name of the message buffer shared with the network server.
pub const BUFFER: &str = "buf_0";

/// One request/response exchange with the network server, and the wait for
/// its notification.
pub trait Transport {
    /// Sends a request and returns the server's answer. A broken exchange
    /// (undecodable reply, server-side decoding error) is
    /// [`Error::Protocol`]; a missing buffer is [`Error::Unreachable`].
    fn call(&mut self, req: &Request) -> Result<Response, Error>;

    /// Waits until the server notifies (a socket of this application
    /// changed state) or `deadline` passes; may return early (callers
    /// retry).
    fn wait(&mut self, deadline: Option<Deadline>);
}

/// The production transport: `ipc::rpc::Client` on [`CHANNEL`] over
/// [`BUFFER`].
pub struct PdTransport {
    client: Client<MAX_MESSAGE>,
}

impl PdTransport {
    /// Looks up [`BUFFER`]; [`Error::Unreachable`] if it is not mapped.
    pub fn new() -> Result<Self, Error> {
        let buf = MemoryRegion::by_name(BUFFER).map_err(|_| Error::Unreachable)?;
        Ok(PdTransport {
            client: Client::new(CHANNEL, buf),
        })
    }
}

impl Transport for PdTransport {
    fn call(&mut self, req: &Request) -> Result<Response, Error> {
        match self.client.call::<Request, Result<Response, Error>>(req) {
            Ok(r) => r,
            Err(CallError::Encode) => Err(Error::TooLarge),
            Err(CallError::Buffer(_)) => Err(Error::Unreachable),
            Err(CallError::Server(_)) | Err(CallError::Peer(_)) => Err(Error::Protocol),
        }
    }

    fn wait(&mut self, deadline: Option<Deadline>) {
        wait_for_server(deadline);
    }
}

/// The one place the library blocks: until the network server notifies
/// channel 0, or `deadline`.
///
/// Without a deadline this is `microkit::wait_notified` on channel 0 (other
/// channels' notifications stay pending; a notification that arrived since
/// the last call is pending too, so no wake-up is lost). With a deadline the
/// runtime has no bounded wait, so the library polls: it pauses a little
/// (at most 500 µs, and never past the deadline) and the caller asks the
/// server again. The host pauses by sleeping; seL4 has no timer service for
/// applications, so there the pause is a busy wait on the ARM counter
/// (`microkit::sel4::uptime`). An application runs below the network
/// server's priority, so the server still runs whenever it has work.
fn wait_for_server(deadline: Option<Deadline>) {
    match deadline {
        None => {
            microkit::wait_notified(microkit::ChannelSet::from_bits(1 << CHANNEL.index()));
        }
        Some(d) => pause_until(d),
    }
}

/// Longest pause of a polling wait.
const POLL_PAUSE_US: u64 = 500;

#[cfg(not(target_os = "none"))]
fn pause_until(d: Deadline) {
    let pause = std::time::Duration::from_micros(POLL_PAUSE_US)
        .min(d.saturating_duration_since(std::time::Instant::now()));
    std::thread::sleep(pause);
}

#[cfg(target_os = "none")]
fn pause_until(d: Deadline) {
    let now = microkit::sel4::uptime();
    let until = d.min(now + core::time::Duration::from_micros(POLL_PAUSE_US));
    while microkit::sel4::uptime() < until {
        core::hint::spin_loop();
    }
}
