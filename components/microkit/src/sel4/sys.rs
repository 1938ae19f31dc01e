//! seL4 16 system calls on AArch64 (MCS kernel) by inline `svc`.
//!
//! Register convention (libsel4 `sel4_arch/syscalls.h`, kernel `traps.S`):
//! x7 = system call number, x0 = capability in / badge out, x1 =
//! `seL4_MessageInfo` in/out, x2..x5 = message registers 0..3 in/out, x6 = MCS
//! reply object (Recv, ReplyRecv, NBSendRecv), x8 = destination of
//! NBSendRecv. Message registers 4.. travel only in the IPC buffer. The
//! kernel preserves every other register. Numbers: the generated
//! `sel4/syscall.h` of the SDK (identical in the debug, release and benchmark
//! configs; the debug calls exist only in debug kernels).
#![allow(unsafe_code)]

use core::arch::asm;

const SYS_CALL: i64 = -1;
const SYS_REPLY_RECV: i64 = -2;
const SYS_NB_SEND_RECV: i64 = -3;
const SYS_SEND: i64 = -5;
const SYS_RECV: i64 = -7;
#[cfg(sel4_config_debug)]
const SYS_DEBUG_PUT_CHAR: i64 = -12;

/// Message registers 0..3, passed in x2..x5.
pub(crate) type Regs = [u64; 4];

/// seL4_Send with an empty message (seL4_Signal on a notification).
pub(crate) fn signal(cap: u64) {
    // SAFETY: a Send system call only reads x0/x1/x7 and does not touch our
    // memory; the kernel validates the capability (an invalid one is an
    // error, not a fault, for Send on a notification).
    unsafe {
        asm!("svc #0",
            in("x7") SYS_SEND,
            inout("x0") cap => _,
            inout("x1") 0u64 => _,
            options(nostack),
        );
    }
}

/// seL4_Send with MR0..3 (e.g. on an MCS reply object: a reply on its own).
pub(crate) fn send(cap: u64, info: u64, mrs: Regs) {
    // SAFETY: Send reads registers and, for MR4.., our IPC buffer.
    unsafe {
        asm!("svc #0",
            in("x7") SYS_SEND,
            inout("x0") cap => _,
            inout("x1") info => _,
            inout("x2") mrs[0] => _,
            inout("x3") mrs[1] => _,
            inout("x4") mrs[2] => _,
            inout("x5") mrs[3] => _,
            options(nostack),
        );
    }
}

/// seL4_Call: returns (info, MR0..3).
pub(crate) fn call(cap: u64, info: u64, mrs: Regs) -> (u64, Regs) {
    let (out_info, m0, m1, m2, m3);
    // SAFETY: Call blocks until the reply; the kernel writes the reply's
    // registers beyond MR3 into our IPC buffer (registered with our TCB),
    // hence the implicit memory clobber (no `nomem`).
    unsafe {
        asm!("svc #0",
            in("x7") SYS_CALL,
            inout("x0") cap => _,
            inout("x1") info => out_info,
            inout("x2") mrs[0] => m0,
            inout("x3") mrs[1] => m1,
            inout("x4") mrs[2] => m2,
            inout("x5") mrs[3] => m3,
            inout("x6") 0u64 => _,
            options(nostack),
        );
    }
    (out_info, [m0, m1, m2, m3])
}

/// seL4_Recv(src, reply): returns (badge, info, MR0..3).
pub(crate) fn recv(src: u64, reply: u64) -> (u64, u64, Regs) {
    let (badge, info, m0, m1, m2, m3);
    // SAFETY: as for `call`: the kernel may write the IPC buffer.
    unsafe {
        asm!("svc #0",
            in("x7") SYS_RECV,
            inout("x0") src => badge,
            out("x1") info,
            out("x2") m0,
            out("x3") m1,
            out("x4") m2,
            out("x5") m3,
            inout("x6") reply => _,
            options(nostack),
        );
    }
    (badge, info, [m0, m1, m2, m3])
}

/// seL4_ReplyRecv(src, info, reply): replies with `info`/`mrs` through the
/// reply object, then receives; returns (badge, info, MR0..3).
pub(crate) fn reply_recv(src: u64, info: u64, mrs: Regs, reply: u64) -> (u64, u64, Regs) {
    let (badge, out_info, m0, m1, m2, m3);
    // SAFETY: as for `call`.
    unsafe {
        asm!("svc #0",
            in("x7") SYS_REPLY_RECV,
            inout("x0") src => badge,
            inout("x1") info => out_info,
            inout("x2") mrs[0] => m0,
            inout("x3") mrs[1] => m1,
            inout("x4") mrs[2] => m2,
            inout("x5") mrs[3] => m3,
            inout("x6") reply => _,
            options(nostack),
        );
    }
    (badge, out_info, [m0, m1, m2, m3])
}

/// seL4_NBSendRecv(dest, info, src, reply): a non-blocking send to `dest`
/// fused with a receive on `src`; returns (badge, info, MR0..3).
pub(crate) fn nb_send_recv(
    dest: u64,
    info: u64,
    mrs: Regs,
    src: u64,
    reply: u64,
) -> (u64, u64, Regs) {
    let (badge, out_info, m0, m1, m2, m3);
    // SAFETY: as for `call`.
    unsafe {
        asm!("svc #0",
            in("x7") SYS_NB_SEND_RECV,
            in("x8") dest,
            inout("x0") src => badge,
            inout("x1") info => out_info,
            inout("x2") mrs[0] => m0,
            inout("x3") mrs[1] => m1,
            inout("x4") mrs[2] => m2,
            inout("x5") mrs[3] => m3,
            inout("x6") reply => _,
            options(nostack),
        );
    }
    (badge, out_info, [m0, m1, m2, m3])
}

/// seL4_DebugPutChar: only in debug kernels (elsewhere this system call
/// number is unknown and the PD would fault), so only compiled for them.
#[cfg(sel4_config_debug)]
pub(crate) fn debug_put_char(c: u8) {
    // SAFETY: the kernel prints x0's low byte; libsel4 declares x1..x5
    // clobbered for this call.
    unsafe {
        asm!("svc #0",
            in("x7") SYS_DEBUG_PUT_CHAR,
            inout("x0") u64::from(c) => _,
            out("x1") _,
            out("x2") _,
            out("x3") _,
            out("x4") _,
            out("x5") _,
            options(nostack, nomem),
        );
    }
}

/// The physical counter (`CNTPCT_EL0`; seL4 exports it to user level in
/// every config, `CNTVCT_EL0` traps) and its frequency in Hz.
pub(crate) fn counter() -> (u64, u64) {
    let (count, freq): (u64, u64);
    // SAFETY: reading EL0-accessible system registers has no side effect.
    unsafe {
        asm!("isb", "mrs {c}, cntpct_el0", "mrs {f}, cntfrq_el0",
            c = out(reg) count, f = out(reg) freq, options(nostack, nomem));
    }
    (count, freq)
}
