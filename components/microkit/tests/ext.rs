//! The host extensions through the real runner: event sources (fd readable
//! with ack gating, periodic timer), `wait_notified`, `pp_call_timeout`
//! against a hung and a dead PD. Each run is bounded by a runner timeout.

use microkit::runner::{self, Options, Outcome, Stream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TESTPD: &str = env!("CARGO_BIN_EXE_microkit-ext-testpd");

fn run(system: &str) -> (Outcome, String) {
    let sd = sdf::parse(system, "test.system", &sdf::Config::default()).expect("system parses");
    let dir = Path::new(TESTPD).parent().expect("bin dir").to_path_buf();
    let mut opts = Options::new(dir);
    opts.timeout = Some(Duration::from_secs(20));
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    opts.output = Some(Arc::new(move |pd: &str, s: Stream, line: &str| {
        if s != Stream::Runner {
            o.lock().unwrap().push_str(&format!("[{pd}] {line}\n"));
        } else {
            o.lock().unwrap().push_str(&format!("[runner] {line}\n"));
        }
    }));
    let outcome = runner::run(&sd, &opts).expect("runs");
    let text = out.lock().unwrap().clone();
    (outcome, text)
}

fn pd(name: &str, passive: bool) -> String {
    // Servers (passive) above their callers, as Microkit requires.
    let priority = if passive { 150 } else { 100 };
    format!(
        r#"<protection_domain name="{name}" priority="{priority}" passive="{passive}"><program_image path="microkit-ext-testpd.elf" /></protection_domain>"#
    )
}

#[test]
fn fd_and_timer_sources_raise_their_channels() {
    // `src` has a real notification channel 0 (to `peer`), which a source may not claim.
    let sys = format!(
        "<system>{}{}<channel><end pd=\"src\" id=\"0\"/><end pd=\"peer\" id=\"0\"/></channel></system>",
        pd("src", false),
        pd("peer", true)
    );
    let (outcome, text) = run(&sys);
    assert_eq!(outcome, Outcome::AllStopped, "{text}");
    assert!(text.contains("claim ch0: Err(ChannelInUse(0))"), "{text}");
    assert!(
        text.contains("claim ch6 twice: Err(ChannelInUse(6))"),
        "{text}"
    );
    // Two bytes, two events (the second raised after the ack), and ticks.
    assert!(text.contains("events fd=2 ticks="), "{text}");
}

#[test]
fn wait_notified_leaves_other_channels_pending() {
    let sys = format!(
        "<system>{}{}\
         <channel><end pd=\"poker\" id=\"0\"/><end pd=\"waiter\" id=\"1\"/></channel>\
         <channel><end pd=\"poker\" id=\"1\"/><end pd=\"waiter\" id=\"0\"/></channel></system>",
        pd("waiter", false),
        pd("poker", false)
    );
    let (outcome, text) = run(&sys);
    assert_eq!(outcome, Outcome::AllStopped, "{text}");
    // Channel 1 was notified first, but the wait was for channel 0 only;
    // channel 1 then reaches the handler loop.
    assert!(text.contains("wait_notified got {0}"), "{text}");
    assert!(text.contains("loop got {1}"), "{text}");
}

#[test]
fn calls_to_hung_or_dead_pds_time_out() {
    let sys = format!(
        "<system>{}{}{}{}\
         <channel><end pd=\"caller\" id=\"0\" pp=\"true\"/><end pd=\"ok\" id=\"0\"/></channel>\
         <channel><end pd=\"caller\" id=\"1\" pp=\"true\"/><end pd=\"hang\" id=\"0\"/></channel>\
         <channel><end pd=\"caller\" id=\"2\" pp=\"true\"/><end pd=\"dead\" id=\"0\"/></channel></system>",
        pd("caller", false),
        pd("ok", true),
        pd("hang", true),
        pd("dead", true)
    );
    let (outcome, text) = run(&sys);
    assert_eq!(outcome, Outcome::AllStopped, "{text}");
    assert!(text.contains("ok server: Ok(3) 42"), "{text}");
    assert!(
        text.contains("hung server: Err(TimedOut) after 2"),
        "{text}"
    );
    // The abandoned call is still unanswered: the next one fails at once.
    assert!(
        text.contains("hung again: Err(Unresponsive) after 0 ms"),
        "{text}"
    );
    assert!(text.contains("dead server: Err(TimedOut)"), "{text}");
}
