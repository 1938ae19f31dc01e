//! Bare-metal smoke test of the virtio-net driver against QEMU's real virtio-net device.
//!
//! Built for `aarch64-unknown-none` with `examples/virtio_smoke.ld` and booted with
//! `qemu-system-aarch64 -M virt -kernel` by `ci/drivers.sh` (no seL4 needed): it finds the
//! network card among the virtio-mmio slots, sends an ARP request to QEMU's user-mode
//! gateway (10.0.2.2) and waits for the reply, then runs a smoltcp TCP echo server on
//! port 7 that the script talks to through a `hostfwd`. It prints its progress on the
//! PL011 and powers the machine off through PSCI. MMU and caches stay off (QEMU does not
//! model caches), so virtual addresses are physical ones.
//!
//! On the host this example is an empty program.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    println!("virtio_smoke runs bare-metal in QEMU; see ci/drivers.sh");
}

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod bare {
    use board_qemu_virt_aarch64::facts;
    use board_qemu_virt_aarch64::hal::{Mmio, RawDma, RegisterBlock};
    use board_qemu_virt_aarch64::virtio_net::{self, probe, VirtioNet, MAX_FRAME};
    use core::fmt::Write;
    use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
    use smoltcp::socket::tcp;
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

    core::arch::global_asm!(
        ".section .text.boot, \"ax\"",
        ".global _start",
        "_start:",
        // Let EL1 use the FP/SIMD registers (the compiler does).
        "mov x0, #(3 << 20)",
        "msr cpacr_el1, x0",
        "isb",
        "ldr x0, =__stack_top",
        "mov sp, x0",
        "ldr x1, =__bss_start",
        "ldr x2, =__bss_end",
        "1: cmp x1, x2",
        "b.hs 2f",
        "str xzr, [x1], #8",
        "b 1b",
        "2: bl smoke_main",
        "3: wfe",
        "b 3b",
    );

    struct Uart;

    impl Write for Uart {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            // SAFETY: QEMU's PL011 is mapped at this physical address and the MMU is off.
            let mut u = unsafe { Mmio::new(facts::UART.base as usize, 0x1000) };
            for b in s.bytes() {
                while u.read32(0x18) & (1 << 5) != 0 {}
                u.write32(0, u32::from(b));
            }
            Ok(())
        }
    }

    macro_rules! say {
        ($($t:tt)*) => {{ let _ = writeln!(Uart, $($t)*); }};
    }

    #[repr(C, align(4096))]
    struct DmaArea([u8; virtio_net::DMA_SIZE]);
    static mut DMA: DmaArea = DmaArea([0; virtio_net::DMA_SIZE]);

    /// A bump allocator: smoltcp's `alloc` feature (enabled by the crate's tests) links
    /// the `alloc` crate; nothing here frees.
    struct Bump;
    static mut HEAP: [u8; 65536] = [0; 65536];
    static mut NEXT: usize = 0;
    unsafe impl core::alloc::GlobalAlloc for Bump {
        unsafe fn alloc(&self, l: core::alloc::Layout) -> *mut u8 {
            // SAFETY: single core, no interrupts: nothing runs concurrently.
            unsafe {
                let start = (NEXT + l.align() - 1) & !(l.align() - 1);
                if start + l.size() > 65536 {
                    return core::ptr::null_mut();
                }
                NEXT = start + l.size();
                core::ptr::addr_of_mut!(HEAP).cast::<u8>().add(start)
            }
        }
        unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
    }
    #[global_allocator]
    static ALLOC: Bump = Bump;

    fn now() -> Instant {
        let (cnt, frq): (u64, u64);
        // SAFETY: reading the generic timer's counter and frequency has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, cntpct_el0", out(reg) cnt);
            core::arch::asm!("mrs {}, cntfrq_el0", out(reg) frq);
        }
        Instant::from_micros((cnt as u128 * 1_000_000 / frq.max(1) as u128) as i64)
    }

    fn power_off() -> ! {
        // SAFETY: PSCI SYSTEM_OFF through the hypervisor call QEMU's virt implements.
        unsafe { core::arch::asm!("hvc #0", in("x0") 0x8400_0008u64, options(noreturn)) }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        say!("SMOKE FAIL: panic: {info}");
        power_off()
    }

    fn fail(msg: &str) -> ! {
        say!("SMOKE FAIL: {msg}");
        power_off()
    }

    const IP: [u8; 4] = [10, 0, 2, 15];
    const GATEWAY: [u8; 4] = [10, 0, 2, 2];

    #[no_mangle]
    extern "C" fn smoke_main() -> ! {
        say!(
            "virtio_smoke: scanning {} virtio-mmio slots",
            facts::VIRTIO_MMIO_SLOTS
        );
        let mut found = None;
        for s in facts::virtio_slots() {
            // SAFETY: the slot is QEMU's virtio-mmio window, MMU off.
            let regs = unsafe { Mmio::new(s.region.base as usize, s.region.size as usize) };
            if let Ok(t) = probe(&regs) {
                say!(
                    "slot {} ({:#x}, irq {}): network card, {:?}",
                    s.index,
                    s.region.base,
                    s.irq,
                    t
                );
                found = Some((s, regs));
            }
        }
        let Some((_slot, regs)) = found else {
            fail("no virtio network card")
        };
        let base = core::ptr::addr_of_mut!(DMA) as usize;
        // SAFETY: DMA is a static, page-aligned area used by nothing else; with the MMU
        // off its address is the physical address the device uses.
        let dma = unsafe { RawDma::new(base, virtio_net::DMA_SIZE, base as u64) };
        let mut nic = match VirtioNet::new(regs, dma) {
            Ok(n) => n,
            Err(e) => fail(&alloc_free_fmt(e)),
        };
        let mac = nic.mac_address();
        say!(
            "transport {:?}, MAC {:02x?}, queues {:?}",
            nic.transport(),
            mac,
            nic.queue_sizes()
        );

        // 1. ARP who-has 10.0.2.2, raw through the driver.
        let mut arp = [0u8; 42];
        arp[0..6].copy_from_slice(&[0xff; 6]);
        arp[6..12].copy_from_slice(&mac);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        arp[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        arp[22..28].copy_from_slice(&mac);
        arp[28..32].copy_from_slice(&IP);
        arp[38..42].copy_from_slice(&GATEWAY);
        if let Err(e) = nic.send(&arp) {
            fail(&alloc_free_fmt(e));
        }
        let start = now();
        let mut buf = [0u8; MAX_FRAME];
        loop {
            match nic.receive_into(&mut buf) {
                Ok(Some(n))
                    if n >= 42
                        && buf[12..14] == [8, 6]
                        && buf[21] == 2
                        && buf[28..32] == GATEWAY =>
                {
                    say!("ARP OK: 10.0.2.2 is at {:02x?}", &buf[22..28]);
                    break;
                }
                Ok(_) => {}
                Err(e) => fail(&alloc_free_fmt(e)),
            }
            if (now() - start).total_millis() > 5000 {
                fail("no ARP reply");
            }
        }
        let _ = nic.handle_interrupt();

        // 2. smoltcp TCP echo server on port 7.
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        cfg.random_seed = now().total_micros() as u64;
        let mut iface = Interface::new(cfg, &mut nic, now());
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::v4(IP[0], IP[1], IP[2], IP[3]), 24));
        });
        let mut rx = [0u8; 16384];
        let mut tx = [0u8; 16384];
        let mut storage: [SocketStorage; 1] = Default::default();
        let mut sockets = SocketSet::new(&mut storage[..]);
        let h = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        ));
        if sockets.get_mut::<tcp::Socket>(h).listen(7).is_err() {
            fail("listen");
        }
        say!("LISTENING on 10.0.2.15:7");
        let (mut echoed, mut connected) = (0usize, false);
        let start = now();
        let mut last_report = start;
        loop {
            iface.poll(now(), &mut nic, &mut sockets);
            if (now() - last_report).total_millis() > 1000 {
                last_report = now();
                let st = nic.stats();
                say!(
                    "  state {:?}, rx {} tx {} frames, {} echoed, last error {:?}",
                    sockets.get::<tcp::Socket>(h).state(),
                    st.rx_frames,
                    st.tx_frames,
                    echoed,
                    st.last_error
                );
            }
            let s = sockets.get_mut::<tcp::Socket>(h);
            if s.is_active() {
                connected = true;
            }
            while s.can_recv() && s.can_send() {
                // Take no more than the send buffer has room for, so nothing is lost.
                let mut chunk = [0u8; 2048];
                let room = (s.send_capacity() - s.send_queue()).min(chunk.len());
                let n = s.recv_slice(&mut chunk[..room]).unwrap_or(0);
                if n == 0 {
                    break;
                }
                match s.send_slice(&chunk[..n]) {
                    Ok(m) if m == n => echoed += n,
                    _ => fail("send buffer refused echoed bytes"),
                }
            }
            // The peer closed its side and everything is echoed: close ours.
            if s.state() == tcp::State::CloseWait && s.send_queue() == 0 {
                s.close();
            }
            if connected && matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait) {
                break;
            }
            if (now() - start).total_millis() > 60_000 {
                fail("echo timed out");
            }
        }
        let st = nic.stats();
        say!(
            "ECHO OK: {} bytes; rx {} tx {} frames, device errors {}",
            echoed,
            st.rx_frames,
            st.tx_frames,
            st.device_errors
        );
        if st.device_errors != 0 {
            fail("device errors");
        }
        // Give QEMU's user-mode stack time to hand the last bytes to the host socket.
        let linger = now();
        while (now() - linger).total_millis() < 2000 {
            iface.poll(now(), &mut nic, &mut sockets);
        }
        say!("SMOKE PASS");
        power_off()
    }

    fn alloc_free_fmt(e: virtio_net::Error) -> heapless_str::S {
        let mut s = heapless_str::S::default();
        let _ = write!(s, "{e:?}");
        s
    }

    mod heapless_str {
        /// A fixed-capacity string for error messages.
        pub struct S {
            buf: [u8; 96],
            len: usize,
        }
        impl Default for S {
            fn default() -> Self {
                Self {
                    buf: [0; 96],
                    len: 0,
                }
            }
        }
        impl core::fmt::Write for S {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                let n = s.len().min(self.buf.len() - self.len);
                self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
                self.len += n;
                Ok(())
            }
        }
        impl core::ops::Deref for S {
            type Target = str;
            fn deref(&self) -> &str {
                core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
            }
        }
    }
}
