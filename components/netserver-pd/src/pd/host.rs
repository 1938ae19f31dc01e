//! The netserver's platform on the host backend: the NIC named by
//! `VETTED_NIC` (raised on channel 3 when readable) and a 10 ms tick on
//! channel 4 (`microkit::host` event sources), the OS clocks.

use super::{NIC, TIMER};
use microkit::{debug_println, ChannelSet};
use netserver::stack::{NetConfig, NetServer, Now};
use netserver_pd::nic::HostNic;
use smoltcp::time::Instant as SmolInstant;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The NIC type.
pub type Nic = HostNic;

const TICK: Duration = Duration::from_millis(10);

/// Clocks (and, on seL4, devices) of the PD.
pub struct Platform {
    start: Instant,
}

impl Platform {
    /// Start-up before the configuration is known.
    pub fn new() -> Platform {
        Platform {
            start: Instant::now(),
        }
    }

    /// The server's clock.
    pub fn now(&self) -> Now {
        Now {
            instant: SmolInstant::from_micros(
                i64::try_from(self.start.elapsed().as_micros()).unwrap_or(i64::MAX),
            ),
            unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// The NIC of `VETTED_NIC` (no network when unset or unusable), with its
    /// event source and the tick started.
    pub fn take_nic(&mut self, _mac: [u8; 6]) -> Option<Nic> {
        let nic = match HostNic::open(std::env::var("VETTED_NIC").ok().as_deref()) {
            Ok(n) => n,
            Err(e) => {
                debug_println!("netserver: {e}: no network");
                HostNic::open(None).ok()?
            }
        };
        if let Some(fd) = nic.fd() {
            if let Err(e) = microkit::host::irq_on_readable(NIC, fd) {
                debug_println!("netserver: NIC events: {e}");
            }
        }
        if let Err(e) = microkit::host::irq_every(TIMER, TICK) {
            debug_println!("netserver: timer: {e}");
        }
        Some(nic)
    }

    /// Host limits: the core's defaults.
    pub fn limits(&self, _cfg: &mut NetConfig) {}

    /// Before polling, for the event sources in `channels`.
    pub fn events(&mut self, _server: Option<&mut NetServer<Nic>>, _channels: ChannelSet) {}

    /// After polling: the tick is periodic, nothing to arm.
    pub fn after_poll(&mut self, _server: Option<&mut NetServer<Nic>>, _now: Now) {}

    /// Acknowledges the event sources in `channels` (the NIC's is
    /// level-triggered: raised again only after the ack).
    pub fn ack(&mut self, channels: ChannelSet) {
        if channels.contains(NIC) {
            let _ = NIC.irq_ack();
        }
    }
}
