//! The netserver's platform on seL4 on the Raspberry Pi 4
//! (`system/sel4/node-a-rpi4b.system`; chosen by build.rs when
//! `VETTED_SEL4_BOARD` is an `rpi4b_*` board):
//!
//! - hardware probe: the child PD `hwprobe` (id 5, `rpi4b-hwprobe.elf`) runs
//!   first and reports in the shared page `hwprobe` whether the RNG200 and
//!   the GENET answer ([`netserver_pd::hwprobe`]); this PD touches neither
//!   before that, so QEMU `raspi4b` (which has neither) costs the child a
//!   fault, not this PD;
//! - entropy: the probe's 64 RNG200 bytes, made this PD's seed by
//!   [`netserver_pd::entropy::pd_seed_from`] for `microkit::add_entropy`; no
//!   RNG200, no seed, no network (fail closed);
//! - NIC: the GENET ([`netserver_pd::genet`]), opened when the bundle's MAC
//!   is known (`take_nic`), which it is programmed with; its INTRL2_0
//!   interrupt (INTID 189, level) on channel 3. The PHY auto-negotiates in
//!   the background: the link is polled on every timer tick until it is up
//!   (frames sent before are dropped and retransmitted by TCP);
//! - timer: compare channel 1 of the BCM2711 system timer, its interrupt
//!   (INTID 97, level) on channel 4, armed one-shot for smoltcp's next
//!   deadline (between 1 ms and 1 s; 200 ms while the link is down);
//! - clocks: `microkit::sel4::uptime()`; `unix_time()` is the build time
//!   plus uptime: the Pi has no real-time clock.

use super::{NIC, TIMER};
use crate::sel4_common::{self, Mac};
use board_rpi4b::genet::{Delay, Link};
use core::time::Duration;
use microkit::{debug_println, ChannelSet, Child, MemoryRegion, MessageInfo};
use netserver::stack::{NetConfig, NetServer, Now};
use netserver_pd::entropy;
use netserver_pd::genet::{self, Timer, UptimeDelay};
use netserver_pd::hwprobe::{self, Report, RngStatus};

/// The NIC type.
pub type Nic = genet::Nic;

// The mappings of the system description (see the module documentation).
microkit::memory_region_symbol!(genet, size = genet::GENET_SIZE);
microkit::memory_region_symbol!(net_dma, size = genet::DMA_SIZE);
microkit::memory_region_symbol!(systimer, size = 0x1000);
microkit::memory_region_symbol!(hwprobe, size = 0x1000);
microkit::setvar_symbol!(net_dma_paddr);

/// Shortest and longest timer period.
const MIN_DELAY: Duration = Duration::from_millis(1);
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Timer period while the link is down (its poll).
const LINK_POLL: Duration = Duration::from_millis(200);
/// Timer period of the start-up check (its interrupt arrives).
const CHECK_DELAY: Duration = Duration::from_millis(10);
/// How long the start-up check polls the timer's compare match.
const POLL_CHECK: Duration = Duration::from_millis(50);
/// How long to wait for the probe PD (it normally finished before this PD
/// started: it has the higher priority).
const PROBE_WAIT: Duration = Duration::from_millis(100);
/// The hwprobe child's id.
const PROBE_CHILD: usize = 5;

/// What the probe said about the GENET.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GenetState {
    /// Answered as a v5: may be opened.
    Present,
    /// Absent, or not probed: never touched.
    Absent,
}

/// Devices and clocks of the PD.
pub struct Platform {
    genet: GenetState,
    timer: Option<Timer>,
    /// Whether the random source was seeded.
    seeded: bool,
    /// Timer interrupts taken.
    ticks: u64,
    /// When (uptime) the start-up check armed the timer.
    check_armed_at: Duration,
    /// The link as last polled (None: no NIC).
    link: Option<Link>,
    reported_ack: bool,
    reported_link_error: bool,
    /// The GENET interrupted with no server to take it.
    nic_orphaned: bool,
}

/// Reads the probe's page, waiting up to [`PROBE_WAIT`] for it to finish;
/// zeroes the random bytes in it.
fn read_probe() -> Result<Report, hwprobe::ProbeError> {
    let page = MemoryRegion::by_name("hwprobe").map_err(|_| hwprobe::ProbeError::NoPage)?;
    let deadline = microkit::sel4::uptime() + PROBE_WAIT;
    loop {
        let mut local = [0u8; hwprobe::PAGE_USED];
        page.read(0, &mut local)
            .map_err(|_| hwprobe::ProbeError::NoPage)?;
        let r = Report::parse(&local);
        local.fill(0);
        match r {
            Err(hwprobe::ProbeError::NotRun | hwprobe::ProbeError::Faulted(_))
                if microkit::sel4::uptime() < deadline =>
            {
                UptimeDelay.delay_us(1000);
            }
            r => {
                let zero = [0u8; hwprobe::RNG_BYTES];
                let _ = page.write(hwprobe::RNG_OFFSET, &zero);
                return r;
            }
        }
    }
}

impl Platform {
    /// Start-up: reads the probe, seeds the random source, starts the timer
    /// (a first 10 ms tick checks that its interrupt arrives). The GENET is
    /// opened by [`Platform::take_nic`].
    pub fn new() -> Platform {
        let (seeded, genet) = match read_probe() {
            Ok(mut r) => {
                let seeded = match r.rng {
                    RngStatus::Ok => match entropy::pd_seed_from(&r.rng_bytes, microkit::pd_name())
                    {
                        Ok(mut seed) => {
                            microkit::add_entropy(&seed);
                            seed.fill(0);
                            true
                        }
                        Err(e) => {
                            debug_println!("netserver: RNG200 output unusable ({e}): no network");
                            false
                        }
                    },
                    other => {
                        debug_println!(
                            "netserver: RNG200 gave no random bytes ({other:?}): no network"
                        );
                        false
                    }
                };
                r.rng_bytes.fill(0);
                let genet = if r.genet_is_v5() {
                    GenetState::Present
                } else {
                    debug_println!(
                        "netserver: no GENET v5 (revision register {:#010x}): no network",
                        r.genet_rev
                    );
                    GenetState::Absent
                };
                (seeded, genet)
            }
            Err(e) => {
                debug_println!("netserver: hardware probe: {e}: no network");
                (false, GenetState::Absent)
            }
        };
        debug_println!(
            "netserver: no real-time clock on the Pi 4: Unix time is the build time plus uptime ({} now)",
            microkit::sel4::unix_time()
        );
        let timer = match genet::open_timer(MemoryRegion::by_name("systimer").ok()) {
            Ok(mut t) => {
                // The compare logic itself, by polling its match bit (the
                // interrupt's arrival is reported by the first tick).
                let armed = microkit::sel4::uptime();
                let _ = t.arm_after(1000);
                let mut matched = None;
                while microkit::sel4::uptime() < armed + POLL_CHECK {
                    if t.matched() {
                        matched = Some(microkit::sel4::uptime().saturating_sub(armed));
                        break;
                    }
                }
                t.acknowledge();
                match matched {
                    Some(d) => debug_println!(
                        "netserver: system timer C{} compare matched {} us after arming it for 1000 us (polled)",
                        genet::TIMER_CHANNEL,
                        d.as_micros()
                    ),
                    None => debug_println!(
                        "netserver: system timer C{} compare did NOT match within {} ms (polled)",
                        genet::TIMER_CHANNEL,
                        POLL_CHECK.as_millis()
                    ),
                }
                if let Err(e) = t.arm_after(CHECK_DELAY.as_micros() as u64) {
                    debug_println!("netserver: system timer: {e}");
                }
                Some(t)
            }
            Err(e) => {
                debug_println!("netserver: no timer ({e}): no retransmissions");
                None
            }
        };
        Platform {
            genet,
            timer,
            seeded,
            ticks: 0,
            check_armed_at: microkit::sel4::uptime(),
            link: None,
            reported_ack: false,
            reported_link_error: false,
            nic_orphaned: false,
        }
    }

    /// The server's clock (the Pi has no RTC: `unix` is the build time plus
    /// uptime).
    pub fn now(&self) -> Now {
        sel4_common::now()
    }

    /// The NIC for the server: the GENET programmed with the bundle's `mac`
    /// (none without a seed or without a GENET: fail closed).
    pub fn take_nic(&mut self, mac: [u8; 6]) -> Option<Nic> {
        if !self.seeded || self.genet != GenetState::Present {
            return None;
        }
        self.genet = GenetState::Absent;
        match genet::open(
            MemoryRegion::by_name("genet").ok(),
            MemoryRegion::by_name("net_dma").ok(),
            net_dma_paddr.get(),
            mac,
        ) {
            Ok((nic, phy)) => {
                debug_println!(
                    "netserver: GENET v5, PHY id {phy:#010x}, MAC {} (the bundle's), link negotiating",
                    Mac(mac)
                );
                self.link = Some(Link::Down);
                Some(nic)
            }
            Err(e) => {
                debug_println!("netserver: no NIC: {e}");
                None
            }
        }
    }

    /// seL4 limits, so that the heap holds the worst case: 16 sockets (4 per
    /// application), 4096 remembered nonces.
    pub fn limits(&self, cfg: &mut NetConfig) {
        sel4_common::limits(cfg);
    }

    /// Before polling, for the interrupts in `channels`.
    pub fn events(&mut self, server: Option<&mut NetServer<Nic>>, channels: ChannelSet) {
        let mut nic = server.map(|s| s.device_mut().inner_mut());
        if channels.contains(NIC) {
            match nic.as_deref_mut() {
                Some(nic) => {
                    let _ = nic.handle_interrupt();
                }
                // A GENET opened but given up (the server refused its
                // configuration) keeps its level interrupt raised: leave it
                // unacknowledged (masked) rather than take it forever.
                None => self.nic_orphaned = true,
            }
        }
        if channels.contains(TIMER) {
            if let Some(t) = self.timer.as_mut() {
                t.acknowledge();
            }
            self.ticks += 1;
            if self.ticks == 1 {
                let after = microkit::sel4::uptime().saturating_sub(self.check_armed_at);
                debug_println!(
                    "netserver: timer interrupt (system timer C{}, INTID {}) {} us after arming it for {} us",
                    genet::TIMER_CHANNEL,
                    genet::TIMER_INTID,
                    after.as_micros(),
                    CHECK_DELAY.as_micros()
                );
            }
            if let (Some(nic), Some(link)) = (nic, self.link) {
                match nic.poll_link() {
                    Ok(l) if l != link => {
                        debug_println!("netserver: link {l:?}");
                        self.link = Some(l);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if !self.reported_link_error {
                            self.reported_link_error = true;
                            debug_println!("netserver: PHY: {e:?}");
                        }
                    }
                }
            }
        }
    }

    /// After polling: arms the timer for the server's next deadline (the
    /// link poll's while the link is down; none without a server once the
    /// start-up check is done).
    pub fn after_poll(&mut self, server: Option<&mut NetServer<Nic>>, now: Now) {
        let Some(t) = self.timer.as_mut() else {
            return;
        };
        let d = match server {
            Some(s) => {
                let d = s
                    .poll_delay(now.instant)
                    .map_or(MAX_DELAY, |d| Duration::from_micros(d.total_micros()));
                let d = d.clamp(MIN_DELAY, MAX_DELAY);
                if matches!(self.link, Some(Link::Down)) {
                    d.min(LINK_POLL)
                } else {
                    d
                }
            }
            // the start-up check's tick is still to come; afterwards the
            // timer stays quiet (its match was cleared in `events`)
            None => return,
        };
        // A compare register holds 32 bits of microseconds; d <= 1 s fits.
        let _ = t.arm_after(d.as_micros() as u64);
    }

    /// Acknowledges the interrupts in `channels` (the timer's match was
    /// cleared in `events`, the GENET's status by its driver).
    pub fn ack(&mut self, channels: ChannelSet) {
        let irqs: &[_] = if self.nic_orphaned {
            &[TIMER]
        } else {
            &[NIC, TIMER]
        };
        sel4_common::ack(irqs, channels, &mut self.reported_ack);
    }

    /// A child PD faulted: the hardware probe touched a device the machine
    /// lacks (its page says which; `Platform::new` reported it). It stays
    /// stopped.
    pub fn child_fault(&mut self, child: Child, msg: MessageInfo) {
        if child.index() == PROBE_CHILD {
            debug_println!(
                "netserver: the hardware probe faulted (seL4 fault label {}) and stays stopped",
                msg.label()
            );
        } else {
            debug_println!(
                "netserver: fault from unknown child {} (label {})",
                child.index(),
                msg.label()
            );
        }
    }
}
