//! Property test: every system the validator accepts satisfies the
//! Microkit rules, checked here independently of the parser on the model.
//! Systems come from a grammar-based generator (`gen/`) that produces
//! mostly valid descriptions with occasional bad values.

mod gen;

use sdf::*;
use std::collections::HashSet;

pub struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn check_invariants(sd: &SystemDescription, cfg: &Config, text: &str) {
    let pds = &sd.protection_domains;
    let ctx = || format!("accepted:\n{text}");
    assert!(!pds.is_empty() && pds.len() <= MAX_PDS, "{}", ctx());
    let names: HashSet<&str> = pds.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), pds.len(), "PD names unique: {}", ctx());
    assert!(!names.contains(MONITOR_PD_NAME), "{}", ctx());
    let mr_names: HashSet<&str> = sd.memory_regions.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(mr_names.len(), sd.memory_regions.len(), "{}", ctx());

    let mut irq_numbers = HashSet::new();
    let mut ids: Vec<HashSet<u8>> = vec![HashSet::new(); pds.len()];
    let mut symbols: Vec<HashSet<String>> = vec![HashSet::new(); pds.len()];
    let mut add_symbol = |pd: usize, s: &Option<String>| {
        if let Some(s) = s {
            assert!(symbols[pd].insert(s.clone()), "symbol {s} twice: {}", ctx());
        }
    };
    for (i, pd) in pds.iter().enumerate() {
        assert!(u64::from(pd.priority) <= PD_MAX_PRIORITY, "{}", ctx());
        assert!(pd.budget <= pd.period, "{}", ctx());
        assert!(
            (PD_MIN_STACK_SIZE..=PD_MAX_STACK_SIZE).contains(&pd.stack_size),
            "{}",
            ctx()
        );
        assert_eq!(pd.stack_size % 0x1000, 0, "{}", ctx());
        assert!(pd.cpu < cfg.num_cores, "{}", ctx());
        assert!(!pd.program_image.is_empty(), "{}", ctx());
        assert_eq!(pd.parent.is_some(), pd.child_id.is_some(), "{}", ctx());
        if let Some(p) = pd.parent {
            assert!(p < i, "parents come first: {}", ctx());
            assert!(u64::from(pd.child_id.unwrap()) <= PD_MAX_ID, "{}", ctx());
            add_symbol(p, &pd.setvar_id);
        }
        let child_ids: Vec<u8> = sd.children(i).map(|c| pds[c].child_id.unwrap()).collect();
        let uniq: HashSet<u8> = child_ids.iter().copied().collect();
        assert_eq!(uniq.len(), child_ids.len(), "child ids unique: {}", ctx());
        for irq in &pd.irqs {
            assert!(u64::from(irq.id) <= PD_MAX_ID, "{}", ctx());
            assert!(ids[i].insert(irq.id), "irq id unique in PD: {}", ctx());
            assert!(irq_numbers.insert(irq.irq), "irq number unique: {}", ctx());
            add_symbol(i, &irq.setvar_id);
        }
        for m in &pd.maps {
            add_symbol(i, &m.setvar_vaddr);
            add_symbol(i, &m.setvar_size);
            add_symbol(i, &m.setvar_prefill_size);
        }
        for sv in &pd.setvars {
            add_symbol(i, &Some(sv.symbol.clone()));
        }
        // Mappings: region exists, aligned, inside the space, disjoint.
        let max = cfg.pd_map_max_vaddr(pd.stack_size);
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for m in &pd.maps {
            let mr = sd
                .memory_region(&m.mr)
                .unwrap_or_else(|| panic!("map of a missing region: {}", ctx()));
            assert_eq!(m.vaddr % mr.page_size.bytes(), 0, "aligned: {}", ctx());
            let end = m.vaddr.checked_add(mr.size).expect("no overflow");
            assert!(end <= max, "inside the address space: {}", ctx());
            assert!(
                m.perms
                    != Perms {
                        read: false,
                        write: true,
                        execute: false
                    },
                "{}",
                ctx()
            );
            for &(s, e) in &ranges {
                assert!(end <= s || e <= m.vaddr, "maps disjoint: {}", ctx());
            }
            ranges.push((m.vaddr, end));
        }
    }
    for ch in &sd.channels {
        let (a, b) = (&ch.end_a, &ch.end_b);
        assert!(a.pd < pds.len() && b.pd < pds.len(), "{}", ctx());
        assert!(
            u64::from(a.id) <= PD_MAX_ID && u64::from(b.id) <= PD_MAX_ID,
            "{}",
            ctx()
        );
        assert!(!(a.pp && b.pp), "{}", ctx());
        if a.pp {
            assert!(
                pds[a.pd].priority < pds[b.pd].priority,
                "PPC upwards: {}",
                ctx()
            );
        }
        if b.pp {
            assert!(
                pds[b.pd].priority < pds[a.pd].priority,
                "PPC upwards: {}",
                ctx()
            );
        }
        if a.pd == b.pd && a.id == b.id {
            // Microkit 2.3.0's loop-back quirk: one id for both ends.
            assert!(ids[a.pd].insert(a.id), "{}", ctx());
        } else {
            assert!(ids[a.pd].insert(a.id), "channel id unique in PD: {}", ctx());
            assert!(ids[b.pd].insert(b.id), "channel id unique in PD: {}", ctx());
        }
        add_symbol(a.pd, &a.setvar_id);
        add_symbol(b.pd, &b.setvar_id);
    }
    let mut fixed: Vec<(u64, u64)> = Vec::new();
    for mr in &sd.memory_regions {
        assert_eq!(mr.size % mr.page_size.bytes(), 0, "{}", ctx());
        if let Some(p) = mr.phys_addr {
            assert_eq!(p % mr.page_size.bytes(), 0, "{}", ctx());
            if let Some(end) = p.checked_add(mr.size) {
                for &(s, e) in &fixed {
                    assert!(end <= s || e <= p, "fixed regions disjoint: {}", ctx());
                }
                fixed.push((p, end));
            }
        }
    }
}

#[test]
fn accepted_systems_satisfy_the_rules() {
    let cfgs = [Config::default(), Config::default().smp(4)];
    let mut rng = Rng(0xdead_beef_1234_5678);
    let (mut accepted, mut rejected) = (0, 0);
    for i in 0..6_000 {
        let text = gen::system(&mut rng);
        let cfg = &cfgs[i % cfgs.len()];
        match parse(&text, "g.system", cfg) {
            Ok(sd) => {
                accepted += 1;
                check_invariants(&sd, cfg, &text);
            }
            Err(e) => {
                rejected += 1;
                assert!(e.line() >= 1, "{e}");
            }
        }
    }
    // The generator must exercise the accept path, not only errors.
    assert!(
        accepted >= 50,
        "only {accepted} accepted of {}",
        accepted + rejected
    );
    eprintln!("generated: {accepted} accepted, {rejected} rejected");
}
