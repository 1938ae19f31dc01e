//! Grammar-based generator of near-valid aarch64 systems: values are
//! mostly good, and now and then out of range or malformed, so both the
//! accept and the reject paths of the validator are exercised.

use super::Rng;

/// One attribute in `BAD_ONE_IN` takes a bad value.
const BAD_ONE_IN: usize = 150;

struct Gen<'r> {
    r: &'r mut Rng,
    out: String,
    pds: usize,
    mrs: usize,
    irqs: usize,
    symbols: usize,
}

const PD_NAMES: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];

impl Gen<'_> {
    fn below(&mut self, n: usize) -> usize {
        self.r.below(n)
    }
    fn maybe(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn bad(&mut self) -> bool {
        self.below(BAD_ONE_IN) == 0
    }
    /// ` name="value"` with probability `percent`, a bad value now and then.
    fn attr(&mut self, name: &str, good: &[&str], bad: &[&str], percent: usize) {
        if self.maybe(percent) {
            let v = if !bad.is_empty() && self.bad() {
                self.pick(bad)
            } else {
                self.pick(good)
            };
            self.out.push_str(&format!(" {name}=\"{v}\""));
        }
    }
    fn attr_string(&mut self, name: &str, value: String) {
        self.out.push_str(&format!(" {name}=\"{value}\""));
    }
    fn symbol(&mut self) -> String {
        if self.bad() {
            "dup".into()
        } else {
            self.symbols += 1;
            format!("sym{}", self.symbols)
        }
    }
    fn pd_name(&mut self) -> String {
        if self.bad() {
            self.pick(&["a", "monitor"]).into()
        } else {
            self.pds += 1;
            PD_NAMES[(self.pds - 1) % PD_NAMES.len()].into()
        }
    }
    fn pd_ref(&mut self) -> String {
        if self.bad() || self.pds == 0 {
            "nowhere".into()
        } else {
            let n = self.pds.min(PD_NAMES.len());
            PD_NAMES[self.below(n)].into()
        }
    }
    fn mr_ref(&mut self) -> String {
        if self.bad() || self.mrs == 0 {
            "missing".into()
        } else {
            format!("m{}", self.below(self.mrs))
        }
    }
    fn id(&mut self) -> &'static str {
        if self.bad() {
            self.pick(&["62", "-1", "0x1", "x"])
        } else {
            self.pick(&[
                "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "17", "23", "40",
                "61",
            ])
        }
    }

    fn protection_domain(&mut self, depth: usize, child: bool) {
        self.out.push_str("<protection_domain");
        let name = self.pd_name();
        self.attr_string("name", name);
        self.attr(
            "priority",
            &["0", "1", "2", "3", "10", "100", "200", "254", "0x20"],
            &["255", "1000", "-1"],
            90,
        );
        if self.maybe(15) {
            let b = self.pick(&["100", "1000", "2000"]);
            self.attr_string("budget", b.into());
            let p = if self.bad() { "50" } else { "2000" };
            self.attr_string("period", p.into());
        }
        self.attr("passive", &["true", "false"], &["yes", "True"], 15);
        self.attr(
            "stack_size",
            &["0x1000", "0x2000", "0x4000", "0x100000", "0x1000000"],
            &["0x800", "0x1800", "0x1001000"],
            15,
        );
        self.attr("fpu", &["true", "false"], &["1"], 5);
        self.attr("cpu", &["0"], &["1", "300"], 5);
        self.attr("smc", &["false", "true"], &["on"], 3);
        if child {
            let id = self.id();
            if self.below(BAD_ONE_IN) != 0 {
                self.attr_string("id", id.into());
            }
            if self.maybe(20) {
                let s = self.symbol();
                self.attr_string("setvar_id", s);
            }
        } else if self.bad() {
            self.attr_string("id", "1".into());
        }
        if self.bad() {
            self.attr_string("foo", "1".into());
        }
        self.out.push_str(">\n");
        if !self.bad() {
            self.out.push_str("<program_image path=\"x.elf\"/>\n");
        }
        let maps = if self.mrs == 0 { 0 } else { self.below(4) };
        for _ in 0..maps {
            self.out.push_str("<map");
            let mr = self.mr_ref();
            self.attr_string("mr", mr);
            self.attr(
                "vaddr",
                &[
                    "0x1000",
                    "0x2000",
                    "0x200000",
                    "0x400000",
                    "0x10000000",
                    "0x40000000",
                    "0x201000",
                    "0xff00000000",
                ],
                &["0x1001", "0xffffffc000", "0x1000000000000000", "0x"],
                100,
            );
            self.attr(
                "perms",
                &["r", "rw", "rwx", "x", "wr", ""],
                &["w", "rz"],
                40,
            );
            self.attr("cached", &["true", "false"], &["True"], 20);
            if self.maybe(20) {
                let s = self.symbol();
                self.attr_string("setvar_vaddr", s);
            }
            if self.maybe(10) {
                let s = self.symbol();
                self.attr_string("setvar_size", s);
            }
            self.out.push_str("/>\n");
        }
        for _ in 0..self.below(3) {
            self.out.push_str("<irq");
            self.irqs += 1;
            let irq = if self.bad() { 5 } else { 100 + self.irqs };
            self.attr_string("irq", irq.to_string());
            let id = self.id();
            self.attr_string("id", id.into());
            self.attr("trigger", &["edge", "level"], &["high"], 20);
            if self.maybe(10) {
                let s = self.symbol();
                self.attr_string("setvar_id", s);
            }
            self.out.push_str("/>\n");
        }
        if self.maybe(15) {
            let s = self.symbol();
            let mr = self.mr_ref();
            self.out
                .push_str(&format!("<setvar symbol=\"{s}\" region_paddr=\"{mr}\"/>\n"));
        }
        if self.maybe(8) {
            self.out.push_str("<virtual_machine name=\"");
            let vm = if self.bad() {
                "g"
            } else {
                ["g1", "g2", "g3"][self.pds % 3]
            };
            self.out.push_str(vm);
            self.out.push('"');
            self.attr("priority", &["5", "254"], &["300"], 20);
            self.out.push_str(">\n");
            let n = if self.bad() { 0 } else { 1 + self.below(2) };
            for k in 0..n {
                self.out.push_str(&format!("<vcpu id=\"{}\"", 50 + k));
                self.out.push_str("/>\n");
            }
            if self.maybe(30) {
                let mr = self.mr_ref();
                self.out
                    .push_str(&format!("<map mr=\"{mr}\" vaddr=\"0x40000000\"/>\n"));
            }
            self.out.push_str("</virtual_machine>\n");
        }
        if self.maybe(8) {
            self.out.push_str("<cspace>\n");
            for k in 0..self.below(3) {
                let t = self.pick(&["cap_tcb", "cap_sc", "cap_vspace"]);
                let pd = self.pd_ref();
                let slot = if self.bad() { 0 } else { k + 1 };
                self.out
                    .push_str(&format!("<{t} slot=\"{slot}\" pd=\"{pd}\"/>\n"));
            }
            self.out.push_str("</cspace>\n");
        }
        if depth < 2 {
            let n = self.below(if depth == 0 { 3 } else { 2 });
            for _ in 0..n {
                self.protection_domain(depth + 1, true);
            }
        }
        self.out.push_str("</protection_domain>\n");
    }

    fn memory_region(&mut self) {
        let name = if self.bad() { 0 } else { self.mrs };
        self.mrs += 1;
        self.out
            .push_str(&format!("<memory_region name=\"m{name}\""));
        let large = self.maybe(25);
        if large {
            self.attr("size", &["0x200000", "0x400000"], &["0x201000", "0"], 99);
            self.attr("page_size", &["0x200000", "0x1000"], &["0x3000"], 40);
            self.attr(
                "phys_addr",
                &["0x40000000", "0x80000000"],
                &["0x40001000"],
                20,
            );
        } else {
            self.attr(
                "size",
                &["0x1000", "0x2000", "0x10000"],
                &["0x1001", "0xffff_ffff_ffff_f000"],
                99,
            );
            self.attr("page_size", &["0x1000"], &["0x200000"], 20);
            self.attr(
                "phys_addr",
                &["0x9000000", "0x9010000", "0x9020000", "0x9100000"],
                &["0x9000800", "0xfffffffffffff000"],
                20,
            );
        }
        self.out.push_str("/>\n");
    }

    fn channel(&mut self) {
        self.out.push_str("<channel>\n");
        let ends = if self.bad() {
            self.pick(&["1", "3"]).parse().unwrap()
        } else {
            2
        };
        for _ in 0..ends {
            self.out.push_str("<end");
            let pd = self.pd_ref();
            self.attr_string("pd", pd);
            let id = self.id();
            self.attr_string("id", id.into());
            self.attr("pp", &["true", "false"], &["TRUE"], 12);
            self.attr("notify", &["true", "false"], &["no"], 20);
            if self.maybe(10) {
                let s = self.symbol();
                self.attr_string("setvar_id", s);
            }
            self.out.push_str("/>\n");
        }
        self.out.push_str("</channel>\n");
    }
}

/// A random system description.
pub fn system(r: &mut Rng) -> String {
    let mut g = Gen {
        r,
        out: String::from("<system>\n"),
        pds: 0,
        mrs: 0,
        irqs: 0,
        symbols: 0,
    };
    for _ in 0..g.below(5) {
        g.memory_region();
    }
    for _ in 0..1 + g.below(4) {
        g.protection_domain(0, false);
    }
    for _ in 0..g.below(5) {
        g.channel();
    }
    if g.bad() {
        g.out.push_str("stray text\n");
    }
    g.out.push_str("</system>\n");
    g.out
}
