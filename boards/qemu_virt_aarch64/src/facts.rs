//! Facts of QEMU's `virt` machine (aarch64), as data.
//!
//! Source: the device tree QEMU 10.0 generates for the machine, dumped with
//! `qemu-system-aarch64 -M virt,dumpdtb=virt.dtb -cpu cortex-a53` (and `gic-version=3`)
//! and decoded with `dtc -I dtb -O dts`; the memory map is QEMU's `hw/arm/virt.c`
//! (`base_memmap`, `a15irqmap`). Interrupt numbers here are GIC interrupt ids (INTID) as
//! seL4 and Microkit's `<irq irq="..."/>` use them: SPI `n` is INTID `n + 32`.

/// A device's register window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Physical base address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

/// GIC interrupt id of shared peripheral interrupt `n`.
pub const fn spi(n: u32) -> u32 {
    n + 32
}

/// GIC interrupt id of private peripheral interrupt `n`.
pub const fn ppi(n: u32) -> u32 {
    n + 16
}

/// The Microkit SDK's name for this board (`MICROKIT_BOARD`).
pub const MICROKIT_BOARD: &str = "qemu_virt_aarch64";

/// Start of RAM (`memory@40000000`).
pub const RAM_BASE: u64 = 0x4000_0000;
/// RAM size when QEMU is started without `-m` (128 MiB).
pub const RAM_SIZE_QEMU_DEFAULT: u64 = 128 << 20;
/// RAM size our images are built and booted for (`-m 2G`, Microkit's `qemu_virt_aarch64`
/// board configuration).
pub const RAM_SIZE: u64 = 2 << 30;

/// GICv2 distributor (default `gic-version=2`, `arm,cortex-a15-gic`).
pub const GICV2_DISTRIBUTOR: Region = Region {
    base: 0x0800_0000,
    size: 0x1_0000,
};
/// GICv2 CPU interface.
pub const GICV2_CPU_INTERFACE: Region = Region {
    base: 0x0801_0000,
    size: 0x1_0000,
};
/// GICv2m MSI frame.
pub const GICV2M: Region = Region {
    base: 0x0802_0000,
    size: 0x1000,
};
/// GICv3 distributor (`-M virt,gic-version=3`).
pub const GICV3_DISTRIBUTOR: Region = Region {
    base: 0x0800_0000,
    size: 0x1_0000,
};
/// GICv3 redistributors (two 64 KiB frames per CPU).
pub const GICV3_REDISTRIBUTORS: Region = Region {
    base: 0x080a_0000,
    size: 0xf6_0000,
};

/// PL011 UART (`pl011@9000000`, the console, `stdout-path`).
pub const UART: Region = Region {
    base: 0x0900_0000,
    size: 0x1000,
};
/// PL011 UART interrupt (SPI 1, level high).
pub const UART_IRQ: u32 = spi(1);
/// PL011 reference clock (`apb-pclk`, 24 MHz).
pub const UART_CLOCK_HZ: u32 = 24_000_000;

/// PL031 real-time clock (`pl031@9010000`).
pub const RTC: Region = Region {
    base: 0x0901_0000,
    size: 0x1000,
};
/// PL031 interrupt (SPI 2, level high).
pub const RTC_IRQ: u32 = spi(2);

/// QEMU fw_cfg interface (`fw-cfg@9020000`).
pub const FW_CFG: Region = Region {
    base: 0x0902_0000,
    size: 0x18,
};

/// PL061 GPIO (`pl061@9030000`), used for the power button.
pub const GPIO: Region = Region {
    base: 0x0903_0000,
    size: 0x1000,
};
/// PL061 interrupt (SPI 7).
pub const GPIO_IRQ: u32 = spi(7);

/// Start of the virtio-mmio transport window (`virtio_mmio@a000000`).
pub const VIRTIO_MMIO_BASE: u64 = 0x0a00_0000;
/// Size of one virtio-mmio slot.
pub const VIRTIO_MMIO_SLOT_SIZE: u64 = 0x200;
/// Number of virtio-mmio slots.
pub const VIRTIO_MMIO_SLOTS: u32 = 32;
/// The whole window (four 4 KiB pages: map this as one Microkit memory region).
pub const VIRTIO_MMIO_WINDOW: Region = Region {
    base: VIRTIO_MMIO_BASE,
    size: VIRTIO_MMIO_SLOT_SIZE * VIRTIO_MMIO_SLOTS as u64,
};
/// SPI of slot 0; slot `i` uses SPI `16 + i`.
pub const VIRTIO_MMIO_FIRST_SPI: u32 = 16;
/// virtio-mmio interrupts are edge-triggered (`interrupts = <0 n 1>`): Microkit
/// `<irq ... trigger="edge"/>`. The UART and RTC interrupts are level-triggered.
pub const VIRTIO_MMIO_IRQ_EDGE: bool = true;

/// One virtio-mmio slot: its registers and interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioSlot {
    /// Slot number, 0..32.
    pub index: u32,
    /// Register window.
    pub region: Region,
    /// GIC interrupt id.
    pub irq: u32,
}

/// Slot `index` of the virtio-mmio window, if it exists.
///
/// QEMU fills the slots from the top: the first `-device virtio-net-device` lands in
/// slot 31 (`0x0a00_3e00`, INTID 79), the next in slot 30, and so on.
pub const fn virtio_slot(index: u32) -> Option<VirtioSlot> {
    if index >= VIRTIO_MMIO_SLOTS {
        return None;
    }
    Some(VirtioSlot {
        index,
        region: Region {
            base: VIRTIO_MMIO_BASE + index as u64 * VIRTIO_MMIO_SLOT_SIZE,
            size: VIRTIO_MMIO_SLOT_SIZE,
        },
        irq: spi(VIRTIO_MMIO_FIRST_SPI + index),
    })
}

/// All slots, slot 0 first.
pub fn virtio_slots() -> impl Iterator<Item = VirtioSlot> {
    (0..VIRTIO_MMIO_SLOTS).filter_map(virtio_slot)
}

/// The slot the first `-device virtio-net-device` gets when it is the only virtio-mmio
/// device on the command line.
pub const FIRST_VIRTIO_DEVICE_SLOT: u32 = 31;

/// Generic timer interrupts (PPIs 13, 14, 11, 10: secure, non-secure physical, virtual,
/// hypervisor).
pub const TIMER_IRQS: [u32; 4] = [ppi(13), ppi(14), ppi(11), ppi(10)];

/// QEMU's `virt` has no hardware random number generator unless one is added
/// (`-device virtio-rng-device`); its device tree carries 32 random bytes in
/// `/chosen/rng-seed` (and `kaslr-seed`), freshly drawn at every start.
pub const DTB_HAS_RNG_SEED: bool = true;

/// QEMU 10's `virtio-mmio` devices speak the legacy transport (register version 1)
/// unless `-global virtio-mmio.force-legacy=false` is given (`info qtree` shows
/// `force-legacy = true`). The driver handles both.
pub const VIRTIO_MMIO_FORCE_LEGACY_DEFAULT: bool = true;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtio_slots_match_the_device_tree() {
        let first = virtio_slot(0).unwrap();
        assert_eq!(first.region.base, 0x0a00_0000);
        assert_eq!(first.irq, 48); // interrupts = <0 0x10 1>
        let last = virtio_slot(31).unwrap();
        assert_eq!(last.region.base, 0x0a00_3e00);
        assert_eq!(last.irq, 79); // interrupts = <0 0x2f 1>
        assert_eq!(virtio_slot(32), None);
        assert_eq!(virtio_slots().count(), 32);
        assert_eq!(VIRTIO_MMIO_WINDOW.size, 0x4000);
        assert_eq!(UART_IRQ, 33);
        assert_eq!(RTC_IRQ, 34);
    }
}
