//! Any text: `sdf::parse` returns a system or an error naming a line of the
//! text, and never panics, under every preset configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdf::{parse, Config};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let cfg = match selector % 4 {
        0 => Config::qemu_virt_aarch64(),
        1 => Config::x86_64(),
        2 => Config::aarch64_el1(),
        _ => Config::rpi4b().smp(4),
    };
    match parse(&text, "fuzz.system", &cfg) {
        Ok(sd) => {
            // Everything the runtimes index by must be in range.
            let n = sd.protection_domains.len();
            assert!(n >= 1 && n <= sdf::MAX_PDS);
            for ch in &sd.channels {
                assert!(ch.end_a.pd < n && ch.end_b.pd < n);
                assert!(u64::from(ch.end_a.id) <= sdf::PD_MAX_ID);
                assert!(u64::from(ch.end_b.id) <= sdf::PD_MAX_ID);
            }
            for pd in &sd.protection_domains {
                assert!(pd.parent.is_none_or(|p| p < n));
                assert!(u64::from(pd.priority) <= sdf::PD_MAX_PRIORITY);
                assert!(pd.budget <= pd.period);
                for m in &pd.maps {
                    assert!(sd.memory_regions.iter().any(|mr| mr.name == m.mr));
                }
            }
        }
        Err(e) => {
            let lines = text.split('\n').count() as u32;
            let loc = e.loc.expect("errors from text carry a location");
            assert!(loc.line >= 1 && loc.line <= lines.max(1), "{e}");
            assert!(e.to_string().starts_with("fuzz.system:"));
        }
    }
});
