//! A one-shot timer for PDs: the ARM generic timer's **EL1 physical timer**
//! (`CNTP_CVAL_EL0` / `CNTP_CTL_EL0`), programmed from EL0.
//!
//! Why this timer is free for a PD (facts of Microkit 2.3.0's kernels, read
//! from seL4's `armv_init_user_access` and checked by booting, see
//! `components/netserver-pd`):
//! - Microkit builds seL4 with `KernelArmExportPTMRUser` on every config, so
//!   the kernel sets `CNTKCTL_EL1.EL0PTEN` (and, in hypervisor mode,
//!   `CNTHCTL_EL2.EL1PCEN`): EL0 may read and write the EL1 physical timer.
//! - On `qemu_virt_aarch64` and `rpi4b_*` the kernel runs at EL2 and uses
//!   the EL2 (hypervisor) physical timer, PPI 10 = INTID 26
//!   (`KERNEL_TIMER_IRQ`), so the EL1 physical timer's interrupt, PPI 14 =
//!   **INTID 30** (level-triggered), is unused by the kernel and may be
//!   given to one PD: `<irq irq="30" id=".." trigger="level"/>`.
//!
//! The interrupt is level-triggered and stays asserted while the deadline
//! has passed and the timer is enabled: re-arm ([`set_deadline`],
//! [`set_timeout`]) or [`cancel`] **before** acknowledging the IRQ, or it
//! fires again at once. There is one such timer per core, so only one PD of
//! a (single-core) system may use it.
//!
//! Boot-tested on `qemu_virt_aarch64` (the network server's timer,
//! `components/netserver-pd`); on `rpi4b_*` the same kernel facts hold
//! (`KERNEL_TIMER_IRQ` 26, EL0PTEN), untested there.
#![allow(unsafe_code)]

use core::arch::asm;
use core::time::Duration;

/// `CNTP_CTL_EL0.ENABLE`.
const ENABLE: u64 = 1;

/// Arms the timer for the absolute counter value `deadline` (compared with
/// `CNTPCT_EL0`, see [`crate::sel4::counter`]): the interrupt is raised when
/// the counter reaches it (at once if it already has).
pub fn set_deadline(deadline: u64) {
    // SAFETY: CNTP_CVAL_EL0 and CNTP_CTL_EL0 are accessible at EL0 on every
    // Microkit config (EL0PTEN, see the module documentation); writing them
    // only programs this core's EL1 physical timer, no memory is touched.
    unsafe {
        asm!(
            "msr cntp_cval_el0, {d}",
            "msr cntp_ctl_el0, {c}",
            "isb",
            d = in(reg) deadline,
            c = in(reg) ENABLE,
            options(nostack, nomem),
        );
    }
}

/// Arms the timer `after` from now (saturating; a zero duration fires at
/// once).
pub fn set_timeout(after: Duration) {
    let (now, freq) = super::counter();
    let ticks = u128::from(freq) * after.as_nanos() / 1_000_000_000;
    let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
    set_deadline(now.saturating_add(ticks));
}

/// Disables the timer (its interrupt line drops).
pub fn cancel() {
    // SAFETY: as in `set_deadline`.
    unsafe {
        asm!("msr cntp_ctl_el0, xzr", "isb", options(nostack, nomem));
    }
}

/// Whether the timer is enabled and its deadline has passed
/// (`CNTP_CTL_EL0.ISTATUS`).
pub fn expired() -> bool {
    let ctl: u64;
    // SAFETY: reading CNTP_CTL_EL0 (EL0-accessible, see above) has no side
    // effect.
    unsafe {
        asm!("mrs {c}, cntp_ctl_el0", c = out(reg) ctl, options(nostack, nomem));
    }
    ctl & 0b101 == 0b101
}
