//! The netserver's platform on seL4 (QEMU `virt`, `system/sel4/node-a-virt.system`):
//!
//! - NIC: the virtio-net card of slot 31 in this PD ([`netserver_pd::virt`]),
//!   its interrupt (INTID 79, edge) on channel 3;
//! - timer: the EL1 physical timer (`microkit::sel4::timer`), its interrupt
//!   (INTID 30, level) on channel 4, armed one-shot for smoltcp's next
//!   deadline (`NetServer::poll_delay`, between 1 ms and 1 s) after every
//!   poll, i.e. re-armed before the ack;
//! - clocks: `microkit::sel4::uptime()` (smoltcp's instant) and
//!   `microkit::sel4::unix_time()` (the PL031 mapped as `vetted_rtc`, the
//!   same clock the applications date their security contexts with);
//! - entropy: QEMU's device tree (mapped read-only as `dtb`) gives
//!   `/chosen/rng-seed`, from which [`netserver_pd::entropy::pd_seed`] derives
//!   this PD's seed for `microkit::add_entropy`. Without it the random source
//!   stays closed and the PD starts no network.

use super::{NIC, TIMER};
use crate::sel4_common::{self, Mac};
use alloc::vec;
use core::time::Duration;
use microkit::{debug_println, ChannelSet, MemoryRegion};
use netserver::stack::{NetConfig, NetServer, Now};
use netserver_pd::{entropy, virt};

/// The NIC type.
pub type Nic = virt::Nic;

// The mappings of the system description (see the module documentation).
microkit::memory_region_symbol!(virtio_mmio, size = virt::MMIO_PAGE);
microkit::memory_region_symbol!(net_dma, size = virt::DMA_SIZE);
microkit::memory_region_symbol!(dtb, size = 0x10_0000, perms = r);
microkit::setvar_symbol!(net_dma_paddr);

/// Shortest and longest timer period.
const MIN_DELAY: Duration = Duration::from_millis(1);
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Timer period while there is no server (only the start-up self-check).
const CHECK_DELAY: Duration = Duration::from_millis(10);

/// Devices and clocks of the PD.
pub struct Platform {
    /// The NIC until the server takes it.
    nic: Option<Nic>,
    /// Whether the random source was seeded.
    seeded: bool,
    /// Timer interrupts taken.
    ticks: u64,
    /// When (uptime) the start-up check armed the timer.
    check_armed_at: Duration,
    /// NIC interrupts taken.
    nic_irqs: u64,
    /// Whether a device reset request or an ack error was reported already.
    reported_reset: bool,
    reported_ack: bool,
}

fn seed_from_device_tree() -> Result<(), alloc::string::String> {
    use alloc::string::ToString;
    let dtb = MemoryRegion::by_name("dtb").map_err(|e| alloc::format!("dtb region: {e}"))?;
    let mut head = [0u8; 8];
    dtb.read(0, &mut head).map_err(|e| e.to_string())?;
    let size = microkit::fdt::total_size(&head).map_err(|e| e.to_string())?;
    if size > dtb.size() {
        return Err(alloc::format!(
            "device tree of {size} bytes exceeds its {} byte mapping",
            dtb.size()
        ));
    }
    let mut blob = vec![0u8; size];
    dtb.read(0, &mut blob).map_err(|e| e.to_string())?;
    let mut seed = entropy::pd_seed(&blob, microkit::pd_name()).map_err(|e| e.to_string())?;
    microkit::add_entropy(&seed);
    seed.fill(0);
    Ok(())
}

impl Platform {
    /// Start-up: seeds the random source, opens the NIC, starts the timer
    /// (a first 10 ms tick checks that its interrupt arrives).
    pub fn new() -> Platform {
        let seeded = match seed_from_device_tree() {
            Ok(()) => true,
            Err(e) => {
                debug_println!("netserver: no seed from the device tree ({e}): no network");
                false
            }
        };
        let nic = match virt::open(
            MemoryRegion::by_name("virtio_mmio").ok(),
            MemoryRegion::by_name("net_dma").ok(),
            net_dma_paddr.get(),
        ) {
            Ok(n) => {
                let (rx, tx) = n.queue_sizes();
                debug_println!(
                    "netserver: virtio-net in slot {} ({:?} transport), MAC {}, queues {rx}/{tx}",
                    virt::SLOT,
                    n.transport(),
                    Mac(n.mac_address())
                );
                Some(n)
            }
            Err(e) => {
                debug_println!("netserver: no NIC: {e}");
                None
            }
        };
        let p = Platform {
            nic,
            seeded,
            ticks: 0,
            check_armed_at: microkit::sel4::uptime(),
            nic_irqs: 0,
            reported_reset: false,
            reported_ack: false,
        };
        microkit::sel4::timer::set_timeout(CHECK_DELAY);
        p
    }

    /// The server's clock.
    pub fn now(&self) -> Now {
        sel4_common::now()
    }

    /// The NIC for the server (none without a seed: fail closed). The
    /// bundle's MAC (`mac`) is the node's address; the card's own is only
    /// reported when it differs (QEMU's virtio-net accepts every
    /// destination, so the bundle's works either way).
    pub fn take_nic(&mut self, mac: [u8; 6]) -> Option<Nic> {
        if !self.seeded {
            return None;
        }
        let nic = self.nic.take()?;
        if nic.mac_address() != mac {
            debug_println!(
                "netserver: the card's MAC {} differs from the bundle's {}: the bundle's is used",
                Mac(nic.mac_address()),
                Mac(mac)
            );
        }
        Some(nic)
    }

    /// seL4 limits, so that the heap (`protection_domain!` below) holds the
    /// worst case: 16 sockets (4 per application), 4096 remembered nonces.
    pub fn limits(&self, cfg: &mut NetConfig) {
        sel4_common::limits(cfg);
    }

    /// Before polling, for the interrupts in `channels`.
    pub fn events(&mut self, server: Option<&mut NetServer<Nic>>, channels: ChannelSet) {
        if channels.contains(NIC) {
            self.nic_irqs += 1;
            let nic = match server {
                Some(s) => Some(s.device_mut().inner_mut()),
                None => self.nic.as_mut(),
            };
            if let Some(nic) = nic {
                let cause = nic.handle_interrupt();
                if cause.config_change && nic.check_device().is_err() && !self.reported_reset {
                    self.reported_reset = true;
                    debug_println!(
                        "netserver: the virtio-net device asks for a reset (not done: no network)"
                    );
                }
            }
        }
        if channels.contains(TIMER) {
            self.ticks += 1;
            if self.ticks == 1 {
                // (Later than the check's period when init took longer.)
                let after = microkit::sel4::uptime().saturating_sub(self.check_armed_at);
                debug_println!(
                    "netserver: timer interrupt (INTID 30) {} us after arming it for {} us",
                    after.as_micros(),
                    CHECK_DELAY.as_micros()
                );
            }
        }
    }

    /// After polling: arms the timer for the server's next deadline (none
    /// without a server once the start-up check is done).
    pub fn after_poll(&mut self, server: Option<&mut NetServer<Nic>>, now: Now) {
        match server {
            Some(s) => {
                let d = s
                    .poll_delay(now.instant)
                    .map_or(MAX_DELAY, |d| Duration::from_micros(d.total_micros()));
                microkit::sel4::timer::set_timeout(d.clamp(MIN_DELAY, MAX_DELAY));
            }
            None if self.ticks == 0 => {}
            None => microkit::sel4::timer::cancel(),
        }
    }

    /// Acknowledges the interrupts in `channels` (the timer was re-armed or
    /// cancelled by `after_poll`, so its level interrupt has dropped).
    pub fn ack(&mut self, channels: ChannelSet) {
        sel4_common::ack(&[NIC, TIMER], channels, &mut self.reported_ack);
    }
}
