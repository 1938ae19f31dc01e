//! Garbage and mutated valid descriptions never make the parser panic, and
//! every error it returns names the file and a line inside the text.
//! (The cargo-fuzz target in `fuzz/` does the same with coverage guidance.)

use sdf::{parse, Config};

/// xorshift64*: deterministic, so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    "\"",
    "<",
    ">",
    "/>",
    "</system>",
    "<protection_domain name=\"z\">",
    "</protection_domain>",
    "<program_image path=\"p\"/>",
    "<map mr=\"m\" vaddr=\"0x1000\"/>",
    "<channel><end pd=\"a\" id=\"1\"/><end pd=\"a\" id=\"1\"/></channel>",
    "<virtual_machine name=\"v\"><vcpu id=\"0\"/></virtual_machine>",
    "<domains><domain name=\"d\"/><domain_schedule><schedule_entry domain=\"d\" duration=\"1 us\"/></domain_schedule></domains>",
    "<cspace><cap_tcb slot=\"1\" pd=\"a\"/></cspace>",
    " id=\"62\"",
    " id=\"-1\"",
    " priority=\"255\"",
    " pp=\"true\"",
    " size=\"0xffffffffffffffff\"",
    " phys_addr=\"0xfffffffffffff000\"",
    " vaddr=\"0xfffffffffffff000\"",
    " stack_size=\"0\"",
    " page_size=\"0x200000\"",
    " prefill_bootinfo=\"fdt\"",
    "0x",
    "_",
    "&amp;",
    "&#x3000;",
    "\u{3000}",
    "é",
    "\r\n",
    "<!-- c -->",
    "<![CDATA[x]]>",
];

/// The fuzz target's seeds: a configuration selector byte, then the text.
const SEEDS: [&[u8]; 2] = [
    include_bytes!("../fuzz/seeds/aarch64-full"),
    include_bytes!("../fuzz/seeds/x86-full"),
];

#[test]
fn fuzz_seeds_are_valid_systems() {
    let aarch64 = std::str::from_utf8(&SEEDS[0][1..]).unwrap();
    assert_eq!(
        parse(aarch64, "s", &Config::default())
            .unwrap()
            .protection_domains
            .len(),
        3
    );
    let x86 = std::str::from_utf8(&SEEDS[1][1..]).unwrap();
    let sd = parse(x86, "s", &Config::x86_64()).unwrap();
    assert_eq!(sd.io_maps.len(), 1);
    assert!(sd.domains.is_some());
}

fn corpus() -> Vec<String> {
    let mut v = vec![
        include_str!("fixtures/valid_full.system").to_string(),
        String::new(),
        "<system/>".into(),
        "<system></system>".into(),
    ];
    for seed in SEEDS {
        v.push(String::from_utf8_lossy(&seed[1..]).into_owned());
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../system");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(t) = std::fs::read_to_string(e.path()) {
                v.push(t);
            }
        }
    }
    v
}

fn mutate(rng: &mut Rng, seed: &str, corpus: &[String]) -> String {
    let mut b = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let end = (at + rng.below(32)).min(b.len());
                b.drain(at..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.bytes());
            }
            3 if !b.is_empty() => {
                let s = rng.below(b.len());
                let e = (s + rng.below(64)).min(b.len());
                let piece: Vec<u8> = b[s..e].to_vec();
                b.splice(at..at, piece);
            }
            4 => {
                let other = corpus[rng.below(corpus.len())].as_bytes();
                let s = rng.below(other.len() + 1);
                let e = (s + rng.below(128)).min(other.len());
                b.splice(at..at, other[s..e].iter().copied());
            }
            _ => {
                let n = rng.below(8);
                for _ in 0..n {
                    b.insert(at.min(b.len()), rng.next() as u8);
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn check(text: &str, cfg: &Config) {
    if let Err(e) = parse(text, "f.system", cfg) {
        let msg = e.to_string();
        assert!(msg.starts_with("f.system:"), "{msg}");
        let loc = e.loc.expect("errors from text carry a location");
        let lines = text.split('\n').count() as u32;
        assert!(
            loc.line >= 1 && loc.line <= lines.max(1),
            "{msg} (text has {lines} lines)"
        );
        assert!(loc.column >= 1, "{msg}");
    }
}

#[test]
fn mutated_descriptions_never_panic() {
    let corpus = corpus();
    let cfgs = [
        Config::default(),
        Config::x86_64(),
        Config::default().smp(2),
    ];
    let mut rng = Rng(0x5eed_5dfa_1234_9876);
    let mut current = corpus[0].clone();
    for i in 0..20_000 {
        // Mostly mutate the previous mutant (walks deeper into odd corners),
        // sometimes restart from a seed.
        if i % 16 == 0 {
            current = corpus[rng.below(corpus.len())].clone();
        }
        current = mutate(&mut rng, &current, &corpus);
        if current.len() > 64 * 1024 {
            current.truncate(1024);
            current = String::from_utf8_lossy(current.as_bytes()).into_owned();
        }
        check(&current, &cfgs[i % cfgs.len()]);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let n = rng.below(200);
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        check(&String::from_utf8_lossy(&bytes), &Config::default());
        let wrapped = format!("<system>{}</system>", String::from_utf8_lossy(&bytes));
        check(&wrapped, &Config::default());
    }
}
