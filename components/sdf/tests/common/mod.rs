//! Helpers shared by the test files.
#![allow(dead_code)]

pub use sdf::*;

/// Parse with a configuration, expecting success.
pub fn ok_with(cfg: &Config, text: &str) -> SystemDescription {
    match parse(text, "t.system", cfg) {
        Ok(sd) => sd,
        Err(e) => panic!("expected success, got: {e}"),
    }
}

/// Parse with the default (QEMU virt aarch64) configuration, expecting success.
pub fn ok(text: &str) -> SystemDescription {
    ok_with(&Config::default(), text)
}

/// Parse with a configuration, expecting an error.
pub fn err_with(cfg: &Config, text: &str) -> SdfError {
    match parse(text, "t.system", cfg) {
        Ok(_) => panic!("expected an error, the description was accepted"),
        Err(e) => e,
    }
}

/// Assert that `text` is rejected with an error matching `$pat` at `$line`.
#[macro_export]
macro_rules! rejects {
    ($name:ident, $cfg:expr, $line:expr, $text:expr, $pat:pat) => {
        #[test]
        fn $name() {
            let e = $crate::common::err_with(&$cfg, $text);
            assert!(
                matches!(e.kind, $pat),
                "wrong error kind: {e} ({:?})",
                e.kind
            );
            assert_eq!(e.line(), $line, "wrong line: {e}");
            assert_eq!(e.file, "t.system");
            // The message names the file and the line.
            assert!(
                e.to_string().starts_with(&format!("t.system:{}:", $line)),
                "bad message: {e}"
            );
        }
    };
}

/// A system with the given body and two plain PDs `a` (priority 1) and `b`
/// (priority 2) on lines 2..=7, so the body starts on line 8.
pub fn with_ab(body: &str) -> String {
    format!(
        "<system>
  <protection_domain name=\"a\" priority=\"1\">
    <program_image path=\"a.elf\"/>
  </protection_domain>
  <protection_domain name=\"b\" priority=\"2\">
    <program_image path=\"b.elf\"/>
  </protection_domain>
{body}
</system>"
    )
}
