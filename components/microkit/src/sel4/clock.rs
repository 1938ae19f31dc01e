//! Time on seL4: a monotonic clock from the ARM physical counter and a wall
//! clock.
//!
//! The wall clock (seconds since the Unix epoch) has two sources, checked
//! once, at the first reading:
//! - a PL031 real-time clock (QEMU `virt` has one at 0x0901_0000, set from
//!   the host's clock) mapped read-only into the PD as `vetted_rtc`
//!   (`<map mr="rtc" ... perms="r" cached="false" setvar_vaddr="vetted_rtc" />`):
//!   its data register is read once, then the counter keeps time;
//! - otherwise the build time of the runtime (`SOURCE_DATE_EPOCH` when set,
//!   else the time `microkit` was compiled) plus the time since boot: a floor
//!   that never goes backwards, like a board without a battery-backed clock
//!   (the Raspberry Pi 4) has to live with.
//!
//! Every PD of one image reads the same counter and the same RTC (or was
//! built with the same runtime), so PDs agree on the time.

use core::sync::atomic::{AtomicU64, Ordering};

// The PL031 page, when the system maps it (read-only, uncached).
crate::memory_region_symbol!(vetted_rtc, size = 0x1000, perms = r);

/// PL031 data register: seconds (RTCDR, offset 0).
const RTCDR: usize = 0x000;
/// PL031 peripheral id 0..3 (offsets 0xfe0..0xfec): 0x31, 0x10, 0x14, 0x00.
const PERIPH_ID: usize = 0xfe0;

/// Seconds since the Unix epoch when this runtime was built.
const BUILD_EPOCH: u64 = {
    match u64::from_str_radix(env!("VETTED_BUILD_EPOCH"), 10) {
        Ok(v) => v,
        Err(_) => 0,
    }
};

/// Wall-clock seconds at counter value `BASE_COUNT` (0 = not read yet).
static BASE_UNIX: AtomicU64 = AtomicU64::new(0);
static BASE_COUNT: AtomicU64 = AtomicU64::new(0);

/// Time since boot (the counter starts at reset).
pub(crate) fn uptime() -> core::time::Duration {
    let (count, freq) = super::counter();
    ticks_to_duration(count, freq)
}

fn ticks_to_duration(ticks: u64, freq: u64) -> core::time::Duration {
    if freq == 0 {
        return core::time::Duration::ZERO;
    }
    let secs = ticks / freq;
    let rem = ticks % freq;
    // rem < freq <= u64::MAX, and rem * 1e9 fits in u128.
    let nanos = (u128::from(rem) * 1_000_000_000 / u128::from(freq)) as u32;
    core::time::Duration::new(secs, nanos)
}

/// Reads the PL031 of `vetted_rtc`, if mapped and really a PL031.
fn read_rtc() -> Option<u64> {
    let region = crate::MemoryRegion::by_name("vetted_rtc").ok()?;
    let base = region.as_ptr();
    let word = |off: usize| -> u32 {
        // SAFETY: `off` + 4 is within the mapped 4 KiB page (checked by the
        // region's size) and 4-aligned; a device read without side effects.
        #[allow(unsafe_code)]
        unsafe {
            core::ptr::read_volatile(base.add(off).cast::<u32>())
        }
    };
    if region.size() < 0x1000 {
        return None;
    }
    let id = [0, 4, 8, 12].map(|o| word(PERIPH_ID + o) & 0xff);
    if id != [0x31, 0x10, 0x14, 0x00] {
        crate::debug_println!(
            "{}: vetted_rtc is not a PL031 (id {id:x?}): ignored",
            super::pd_name()
        );
        return None;
    }
    Some(u64::from(word(RTCDR)))
}

/// Seconds since the Unix epoch (see the module documentation).
pub(crate) fn unix_time() -> u64 {
    let (count, freq) = super::counter();
    let freq = freq.max(1);
    if BASE_UNIX.load(Ordering::Acquire) == 0 {
        let (unix, at) = match read_rtc() {
            Some(s) => (s, count),
            // The build time stands at boot (counter 0).
            None => (BUILD_EPOCH.max(1), 0),
        };
        BASE_COUNT.store(at, Ordering::Relaxed);
        BASE_UNIX.store(unix, Ordering::Release);
    }
    let base = BASE_UNIX.load(Ordering::Acquire);
    let at = BASE_COUNT.load(Ordering::Relaxed);
    base + count.saturating_sub(at) / freq
}
