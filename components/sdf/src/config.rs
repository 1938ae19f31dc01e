//! The facts about the target kernel that change what a system description
//! may contain. The Microkit tool reads them from the SDK's kernel
//! configuration for the chosen board; we carry the few that validation
//! needs, with presets for the boards this project runs on.

use std::path::PathBuf;

/// The CPU architecture of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// 64-bit ARM.
    Aarch64,
    /// 64-bit RISC-V.
    Riscv64,
    /// x86-64.
    X86_64,
}

impl core::fmt::Display for Arch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Arch::Aarch64 => "AArch64",
            Arch::Riscv64 => "RISC-V (64-bit)",
            Arch::X86_64 => "x86-64",
        })
    }
}

/// Kernel configuration that affects validation (Microkit's `sel4::Config`,
/// reduced to what the system description checks use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Architecture: decides which interrupt kinds, `<ioport>`, `smc` and
    /// virtual-machine attributes are allowed.
    pub arch: Arch,
    /// Kernel built as a hypervisor (`KernelArmHypervisorSupport`): allows
    /// `<virtual_machine>`.
    pub hypervisor: bool,
    /// Kernel built with IOMMU support: allows `<io_address_space>`.
    pub iommu: bool,
    /// Number of CPU cores (`KernelMaxNumNodes`): bound for `cpu`; the domain
    /// scheduler needs exactly one.
    pub num_cores: u8,
    /// ARM SMC forwarding: `Some(true)` allowed, `Some(false)` not enabled,
    /// `None` not an ARM target.
    pub arm_smc: Option<bool>,
    /// `seL4_UserVSpaceTop`: the last user virtual address (inclusive). The
    /// IPC buffer and the stack sit just below it, so PD mappings must end
    /// below the stack.
    pub vspace_user_top: u64,
    /// `KernelNumDomains`.
    pub num_domains: u8,
    /// `KernelNumDomainSchedules`.
    pub num_domain_schedules: u64,
    /// Directories searched for `prefill_path` files, in order (Microkit's
    /// `--search-path`). Empty means prefill files are never found.
    pub search_paths: Vec<PathBuf>,
}

/// Smallest page size (4 KiB).
pub const SMALL_PAGE: u64 = 0x1000;
/// Large page size (2 MiB).
pub const LARGE_PAGE: u64 = 0x20_0000;

impl Config {
    /// QEMU `virt` with a Cortex-A53, as Microkit 2.3.0 builds
    /// `qemu_virt_aarch64` (non-SMP): hypervisor mode, 40-bit physical
    /// addresses, SMC forwarding allowed, 16 domains, 100 schedule entries.
    pub fn qemu_virt_aarch64() -> Config {
        Config {
            arch: Arch::Aarch64,
            hypervisor: true,
            iommu: false,
            num_cores: 1,
            arm_smc: Some(true),
            vspace_user_top: 0xff_ffff_ffff,
            num_domains: 16,
            num_domain_schedules: 100,
            search_paths: vec![PathBuf::from(".")],
        }
    }

    /// Raspberry Pi 4 B (Cortex-A72, 44-bit physical addresses), as Microkit
    /// 2.3.0 builds `rpi4b_*` (non-SMP).
    pub fn rpi4b() -> Config {
        Config {
            vspace_user_top: 0xfff_ffff_ffff,
            ..Config::qemu_virt_aarch64()
        }
    }

    /// An aarch64 kernel running in EL1 (`qemu_virt_aarch64_el1`): no
    /// virtual machines, 48-bit user address space.
    pub fn aarch64_el1() -> Config {
        Config {
            hypervisor: false,
            vspace_user_top: 0x7fff_ffff_ffff,
            ..Config::qemu_virt_aarch64()
        }
    }

    /// The SMP flavour of a configuration: `cores` cores and a single
    /// scheduling domain (Microkit's `smp-*` configurations).
    pub fn smp(self, cores: u8) -> Config {
        Config {
            num_cores: cores,
            num_domains: 1,
            ..self
        }
    }

    /// x86-64 (`x86_64_generic`): IOMMU, hypervisor, no SMC.
    pub fn x86_64() -> Config {
        Config {
            arch: Arch::X86_64,
            hypervisor: true,
            iommu: true,
            num_cores: 1,
            arm_smc: None,
            vspace_user_top: 0x7fff_ffff_efff,
            num_domains: 16,
            num_domain_schedules: 100,
            search_paths: vec![PathBuf::from(".")],
        }
    }

    /// The configuration for a Microkit 2.3.0 board name (`qemu_virt_aarch64`,
    /// `qemu_virt_aarch64_el1`, `rpi4b`, `rpi4b_1gb`, `rpi4b_2gb`,
    /// `rpi4b_4gb`, `rpi4b_8gb`, `x86_64_generic`), non-SMP. `None` for any
    /// other name.
    pub fn for_board(board: &str) -> Option<Config> {
        Some(match board {
            "qemu_virt_aarch64" => Config::qemu_virt_aarch64(),
            "qemu_virt_aarch64_el1" => Config::aarch64_el1(),
            "rpi4b" | "rpi4b_1gb" | "rpi4b_2gb" | "rpi4b_4gb" | "rpi4b_8gb" => Config::rpi4b(),
            "x86_64_generic" => Config::x86_64(),
            _ => return None,
        })
    }

    /// The page sizes the architecture supports, smallest first.
    pub fn page_sizes(&self) -> [u64; 2] {
        [SMALL_PAGE, LARGE_PAGE]
    }

    /// First virtual address a PD with this stack size may not map at: the
    /// bottom of its stack (IPC buffer at the top page, a guard page, then
    /// the stack).
    pub fn pd_map_max_vaddr(&self, stack_size: u64) -> u64 {
        let ipc_buffer = self.vspace_user_top & !(SMALL_PAGE - 1);
        ipc_buffer
            .saturating_sub(SMALL_PAGE)
            .saturating_sub(stack_size)
    }

    /// First guest address a virtual machine may not map at.
    pub fn vm_map_max_vaddr(&self) -> u64 {
        self.vspace_user_top.saturating_add(1)
    }
}

impl Default for Config {
    /// [`Config::qemu_virt_aarch64`].
    fn default() -> Config {
        Config::qemu_virt_aarch64()
    }
}
