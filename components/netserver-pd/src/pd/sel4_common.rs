//! What the netserver's seL4 platforms share (QEMU virt, `pd/sel4.rs`;
//! Raspberry Pi 4, `pd/rpi4b.rs`): the RPC buffer symbols, the server's
//! clock and seL4 limits, the IRQ acknowledgement and MAC printing.

use microkit::{debug_println, Channel, ChannelSet};
use netserver::stack::{NetConfig, Now};
use smoltcp::time::Instant as SmolInstant;

/// Size of every RPC buffer (`buf_<channel>`) in the system descriptions.
const BUF: usize = 0x20000;

/// The RPC buffers by channel: trust (1), repository (2), applications
/// (10..=61); the PD serves the applications whose buffer is mapped.
macro_rules! buffers {
    ($($name:ident)*) => { $(microkit::memory_region_symbol!($name, size = BUF);)* };
}
buffers!(buf_1 buf_2
    buf_10 buf_11 buf_12 buf_13 buf_14 buf_15 buf_16 buf_17 buf_18 buf_19
    buf_20 buf_21 buf_22 buf_23 buf_24 buf_25 buf_26 buf_27 buf_28 buf_29
    buf_30 buf_31 buf_32 buf_33 buf_34 buf_35 buf_36 buf_37 buf_38 buf_39
    buf_40 buf_41 buf_42 buf_43 buf_44 buf_45 buf_46 buf_47 buf_48 buf_49
    buf_50 buf_51 buf_52 buf_53 buf_54 buf_55 buf_56 buf_57 buf_58 buf_59
    buf_60 buf_61);

/// The server's clock: smoltcp's instant from `microkit::sel4::uptime()`,
/// Unix seconds from `microkit::sel4::unix_time()` (an RTC if mapped as
/// `vetted_rtc`, else the build time plus uptime).
pub fn now() -> Now {
    Now {
        instant: SmolInstant::from_micros(
            i64::try_from(microkit::sel4::uptime().as_micros()).unwrap_or(i64::MAX),
        ),
        unix: microkit::sel4::unix_time(),
    }
}

/// seL4 limits, so that the heap (`protection_domain!` in main.rs) holds
/// the worst case: 16 sockets (4 per application), 4096 remembered nonces.
pub fn limits(cfg: &mut NetConfig) {
    cfg.max_sockets = 16;
    cfg.max_sockets_per_app = 4;
    cfg.nonce_capacity = 4096;
}

/// Acknowledges the IRQs of `irqs` that are in `channels`; the first
/// failure is reported once (`reported`).
pub fn ack(irqs: &[Channel], channels: ChannelSet, reported: &mut bool) {
    for &ch in irqs {
        if channels.contains(ch) {
            if let Err(e) = ch.irq_ack() {
                if !*reported {
                    *reported = true;
                    debug_println!("netserver: IRQ ack on channel {}: {e}", ch.index());
                }
            }
        }
    }
}

/// A MAC address as `02:00:00:00:00:01`.
pub struct Mac(pub [u8; 6]);

impl core::fmt::Display for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}
