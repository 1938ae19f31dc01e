//! Whole-system checks, run once every element is parsed, in the order the
//! Microkit 2.3.0 tool runs them.

use super::*;

/// One mapping as the overlap check sees it.
struct MapView<'a> {
    mr: &'a str,
    addr: u64,
    loc: Loc,
}

impl<'a, 'i> Cx<'a, 'i> {
    pub(super) fn check_system(&self, system: Node, sd: &mut SystemDescription) -> Result<()> {
        let pds = &sd.protection_domains;
        let mrs = &sd.memory_regions;

        if pds.is_empty() {
            return Err(self.err(system, ErrorKind::NoProtectionDomains));
        }
        if pds.len() > MAX_PDS {
            return Err(self.at(
                pds[MAX_PDS].loc,
                ErrorKind::TooManyProtectionDomains { count: pds.len() },
            ));
        }
        for pd in pds {
            if let Some(dup) = pds.iter().filter(|p| p.name == pd.name).nth(1) {
                return Err(self.at(dup.loc, ErrorKind::DuplicatePdName(pd.name.clone())));
            }
            if pd.name == MONITOR_PD_NAME {
                return Err(self.at(pd.loc, ErrorKind::ReservedPdName));
            }
        }
        for mr in mrs {
            if let Some(dup) = mrs.iter().filter(|m| m.name == mr.name).nth(1) {
                return Err(self.at(dup.loc, ErrorKind::DuplicateMrName(mr.name.clone())));
            }
        }

        let mut vm_names: Vec<&str> = Vec::new();
        for (i, pd) in pds.iter().enumerate() {
            if let Some(vm) = &pd.virtual_machine {
                if vm_names.contains(&vm.name.as_str()) {
                    return Err(self.at(vm.loc, ErrorKind::DuplicateVmName(vm.name.clone())));
                }
                vm_names.push(&vm.name);
                let has_children = pds.iter().any(|p| p.parent == Some(i));
                if self.cfg.arch == Arch::X86_64 && has_children {
                    return Err(self.at(
                        pd.loc,
                        ErrorKind::VmWithChildrenX86 {
                            pd: pd.name.clone(),
                        },
                    ));
                }
            }
        }

        // Interrupt numbers are unique in the whole system.
        let mut all_irqs: Vec<u64> = Vec::new();
        for pd in pds {
            for irq in &pd.irqs {
                if all_irqs.contains(&irq.irq) {
                    return Err(self.at(
                        irq.loc,
                        ErrorKind::DuplicateIrq {
                            irq: irq.irq,
                            pd: pd.name.clone(),
                        },
                    ));
                }
                all_irqs.push(irq.irq);
            }
        }

        // Channel ids (interrupts included) are unique per PD.
        let mut ids: Vec<Vec<u8>> = vec![Vec::new(); pds.len()];
        for (i, pd) in pds.iter().enumerate() {
            for irq in &pd.irqs {
                if ids[i].contains(&irq.id) {
                    return Err(self.at(
                        irq.loc,
                        ErrorKind::DuplicateChannelId {
                            id: irq.id,
                            pd: pd.name.clone(),
                        },
                    ));
                }
                ids[i].push(irq.id);
            }
        }
        for ch in &sd.channels {
            for end in [&ch.end_a, &ch.end_b] {
                if ids[end.pd].contains(&end.id) {
                    return Err(self.at(
                        end.loc,
                        ErrorKind::DuplicateChannelId {
                            id: end.id,
                            pd: pds[end.pd].name.clone(),
                        },
                    ));
                }
            }
            let (a, b) = (&pds[ch.end_a.pd], &pds[ch.end_b.pd]);
            for (end, from, to) in [(&ch.end_a, a, b), (&ch.end_b, b, a)] {
                if end.pp && from.priority >= to.priority {
                    return Err(self.at(
                        ch.loc,
                        ErrorKind::PpcPriority {
                            from: from.name.clone(),
                            from_priority: from.priority,
                            to: to.name.clone(),
                            to_priority: to.priority,
                        },
                    ));
                }
            }
            if self.cfg.arch == Arch::X86_64 {
                let to_vm = (ch.end_a.pp && b.virtual_machine.is_some())
                    || (ch.end_b.pp && a.virtual_machine.is_some());
                if to_vm {
                    let (to, from) = if ch.end_a.pp { (b, a) } else { (a, b) };
                    return Err(self.at(
                        ch.loc,
                        ErrorKind::PpcToVmX86 {
                            to: to.name.clone(),
                            from: from.name.clone(),
                        },
                    ));
                }
            }
            ids[ch.end_a.pd].push(ch.end_a.id);
            ids[ch.end_b.pd].push(ch.end_b.id);
        }

        // I/O ports: unique ids per PD, no overlapping ranges anywhere.
        for pd in pds {
            let mut seen: Vec<u8> = Vec::new();
            for port in &pd.ioports {
                if seen.contains(&port.id) {
                    return Err(self.at(
                        port.loc,
                        ErrorKind::DuplicateIoPortId {
                            id: port.id,
                            pd: pd.name.clone(),
                        },
                    ));
                }
                seen.push(port.id);
            }
        }
        let mut seen_ports: Vec<(&str, &IoPort)> = Vec::new();
        for pd in pds {
            for port in &pd.ioports {
                let (start, end) = (port.addr, port.addr.wrapping_add(port.size));
                for (other_pd, other) in &seen_ports {
                    let (os, oe) = (other.addr, other.addr.wrapping_add(other.size));
                    if !(end <= os || oe <= start) {
                        return Err(self.at(
                            port.loc,
                            ErrorKind::IoPortOverlap {
                                id: port.id,
                                start,
                                end,
                                pd: pd.name.clone(),
                                other_id: other.id,
                                other_start: os,
                                other_end: oe,
                                other_pd: other_pd.to_string(),
                                other_loc: other.loc,
                            },
                        ));
                    }
                }
                seen_ports.push((&pd.name, port));
            }
        }

        // Mappings: the region exists, the address is aligned, the range fits
        // and does not overlap another mapping of the same address space.
        for pd in pds {
            let views = pd.maps.iter().map(|m| MapView {
                mr: &m.mr,
                addr: m.vaddr,
                loc: m.loc,
            });
            self.check_maps(
                mrs,
                views,
                &format!("protection domain '{}'", pd.name),
                self.cfg.pd_map_max_vaddr(pd.stack_size),
                false,
            )?;
            if let Some(vm) = &pd.virtual_machine {
                let views = vm.maps.iter().map(|m| MapView {
                    mr: &m.mr,
                    addr: m.vaddr,
                    loc: m.loc,
                });
                self.check_maps(
                    mrs,
                    views,
                    &format!("virtual machine '{}'", vm.name),
                    self.cfg.vm_map_max_vaddr(),
                    false,
                )?;
            }
        }

        // IOMMU mappings, one address space per device.
        if let Some(m) = sd.io_maps.iter().find(|m| {
            mrs.iter()
                .any(|mr| mr.page_size == PageSize::Large && mr.name == m.mr)
        }) {
            return Err(self.at(m.loc, ErrorKind::IommuLargePage));
        }
        let mut devices: Vec<PciDevice> = Vec::new();
        for m in &sd.io_maps {
            if !devices.contains(&m.pci) {
                devices.push(m.pci);
            }
        }
        for dev in devices {
            let views = sd.io_maps.iter().filter(|m| m.pci == dev).map(|m| MapView {
                mr: &m.mr,
                addr: m.iovaddr,
                loc: m.loc,
            });
            self.check_maps(mrs, views, &format!("PCI device {dev}"), MAX_IOVA + 1, true)?;
        }

        // At most one capability per user slot.
        for pd in pds {
            for (k, cap) in pd.cap_maps.iter().enumerate() {
                if let Some(dup) = pd.cap_maps[k + 1..].iter().find(|c| c.slot == cap.slot) {
                    return Err(self.at(
                        dup.loc,
                        ErrorKind::OverlappingCaps {
                            slot: cap.slot,
                            pd: pd.name.clone(),
                        },
                    ));
                }
            }
        }

        // Regions at fixed physical addresses do not overlap. (The released
        // tool computes the end with wrapping arithmetic; so do we.)
        let mut fixed: Vec<(&str, u64, u64)> = Vec::new();
        for mr in mrs {
            if let Some(start) = mr.phys_addr {
                let end = start.wrapping_add(mr.size);
                for (name, s, e) in &fixed {
                    if !(start >= *e || end <= *s) {
                        return Err(self.at(
                            mr.loc,
                            ErrorKind::PhysOverlap {
                                mr: mr.name.clone(),
                                start,
                                end,
                                other_mr: name.to_string(),
                                other_start: *s,
                                other_end: *e,
                            },
                        ));
                    }
                }
                fixed.push((&mr.name, start, end));
            }
        }

        // Warnings: unused regions, over-long names.
        let mut warnings = Vec::new();
        for mr in mrs {
            let used = pds.iter().any(|pd| {
                pd.maps.iter().any(|m| m.mr == mr.name)
                    || pd
                        .virtual_machine
                        .as_ref()
                        .is_some_and(|vm| vm.maps.iter().any(|m| m.mr == mr.name))
            });
            if !used {
                warnings.push(Warning::UnusedMemoryRegion {
                    name: mr.name.clone(),
                    loc: mr.loc,
                });
            }
        }
        for pd in pds {
            if pd.name.len() > PD_MAX_NAME_LENGTH {
                warnings.push(Warning::LongPdName {
                    name: pd.name.clone(),
                    loc: pd.loc,
                });
            }
        }

        // `setvar_prefill_size` needs a prefilled region.
        for pd in pds {
            for map in &pd.maps {
                if map.setvar_prefill_size.is_some() {
                    if let Some(mr) = mrs
                        .iter()
                        .find(|mr| mr.name == map.mr && mr.prefill.is_none())
                    {
                        return Err(self.at(
                            mr.loc,
                            ErrorKind::PrefillSizeWithoutPrefill {
                                mr: mr.name.clone(),
                            },
                        ));
                    }
                }
            }
        }

        // Page size: when not given, the largest page size that divides the
        // size and every address the region is mapped (or placed) at.
        let optimised: Vec<PageSize> = mrs
            .iter()
            .map(|mr| self.optimal_page_size(mr, sd))
            .collect();

        // Regions named by `<setvar region_paddr>` without `phys_addr` get a
        // physical address from the tool (not possible on x86-64).
        let mut paddr_targets: Vec<&str> = Vec::new();
        for pd in pds {
            for sv in &pd.setvars {
                paddr_targets.push(&sv.region_paddr);
            }
        }
        let mut tool_allocated = vec![false; mrs.len()];
        for (k, mr) in mrs.iter().enumerate() {
            if mr.phys_addr.is_none() && paddr_targets.contains(&mr.name.as_str()) {
                if self.cfg.arch == Arch::X86_64 {
                    return Err(self.at(
                        mr.loc,
                        ErrorKind::RegionPaddrUnsupported {
                            mr: mr.name.clone(),
                        },
                    ));
                }
                tool_allocated[k] = true;
            }
        }

        for (k, mr) in sd.memory_regions.iter_mut().enumerate() {
            mr.page_size = optimised[k];
            mr.paddr_tool_allocated = tool_allocated[k];
        }
        sd.warnings = warnings;
        Ok(())
    }

    fn check_maps<'m>(
        &self,
        mrs: &[MemoryRegion],
        maps: impl Iterator<Item = MapView<'m>>,
        space: &str,
        max_end: u64,
        io: bool,
    ) -> Result<()> {
        let (element, addr_name, range_name) = if io {
            ("iomap", "iovaddr", "io address range")
        } else {
            ("map", "vaddr", "virtual address range")
        };
        let mut checked: Vec<(&str, u64, u64)> = Vec::new();
        for map in maps {
            let Some(mr) = mrs.iter().find(|mr| mr.name == map.mr) else {
                return Err(self.at(
                    map.loc,
                    ErrorKind::UnknownMemoryRegion {
                        mr: map.mr.to_string(),
                        element,
                    },
                ));
            };
            let page = mr.page_size.bytes();
            if map.addr % page != 0 {
                return Err(self.at(
                    map.loc,
                    ErrorKind::MapUnaligned {
                        addr_name,
                        element,
                        addr: map.addr,
                        page_size: page,
                    },
                ));
            }
            let start = map.addr;
            let Some(end) = start.checked_add(mr.size) else {
                return Err(self.at(
                    map.loc,
                    ErrorKind::MapOverflow {
                        mr: map.mr.to_string(),
                        element,
                    },
                ));
            };
            if end > max_end {
                return Err(self.at(
                    map.loc,
                    ErrorKind::MapOutOfRange {
                        mr: map.mr.to_string(),
                        element,
                        start,
                        end,
                        max: max_end,
                    },
                ));
            }
            for (name, s, e) in &checked {
                if !(start >= *e || end <= *s) {
                    return Err(self.at(
                        map.loc,
                        ErrorKind::MapOverlap {
                            mr: map.mr.to_string(),
                            start,
                            end,
                            other_mr: name.to_string(),
                            other_start: *s,
                            other_end: *e,
                            space: space.to_string(),
                            range_name,
                        },
                    ));
                }
            }
            checked.push((map.mr, start, end));
        }
        Ok(())
    }

    fn optimal_page_size(&self, mr: &MemoryRegion, sd: &SystemDescription) -> PageSize {
        if mr.page_size_specified || sd.io_maps.iter().any(|m| m.mr == mr.name) {
            return mr.page_size;
        }
        let sizes = self.cfg.page_sizes();
        let Some(&largest_fit) = sizes.iter().rev().find(|&&p| mr.size.is_multiple_of(p)) else {
            return mr.page_size;
        };
        if largest_fit == mr.page_size.bytes() {
            return mr.page_size;
        }
        let mut addrs: Vec<u64> = Vec::new();
        for pd in &sd.protection_domains {
            addrs.extend(pd.maps.iter().filter(|m| m.mr == mr.name).map(|m| m.vaddr));
            if let Some(vm) = &pd.virtual_machine {
                addrs.extend(vm.maps.iter().filter(|m| m.mr == mr.name).map(|m| m.vaddr));
            }
        }
        if let Some(p) = mr.phys_addr {
            addrs.push(p);
        }
        let mut best = mr.page_size;
        for &p in sizes.iter().rev().filter(|&&p| p > mr.page_size.bytes()) {
            if addrs.iter().all(|a| a % p == 0) {
                best = page_size_of(p);
            }
        }
        best
    }
}
