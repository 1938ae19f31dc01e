//! The real `netserver` PD on the host backend: node A is a small system
//! (netserver, test policyrepo and trust, three apps) run by the runner;
//! node B is a `netserver` core in this test process, on the other end of
//! a UDP link on loopback, echoing over ESP.

mod common;

use common::{run_node_a, with_node_b};
use microkit::runner::Outcome;

#[test]
fn netserver_pd_serves_apps_over_esp_and_fails_closed() {
    let (outcome, text) = with_node_b(|pa, pb| run_node_a(pa, pb, None));
    assert_eq!(outcome, Outcome::AllStopped, "{text}");
    for want in [
        "netserver: up (3 applications, 6 SAs)",
        "udp sendto: Ok(Sent(9))",
        "udp echo: udp hello alg=Some(ChaCha20Poly1305) spi=Some(8194) key=Some(\"\\\"node-b-key\\\"\")",
        "tcp connect: true",
        "tcp send: Ok(Sent(9))",
        "tcp echo: tcp hello alg=Some(ChaCha20Poly1305)",
        "remote key: Ok(Key(\"\\\"node-b-key\\\"\"))",
        "close: Ok(Ok)",
        "other connect: Err(Refused)",
        "test policy: other may not connect",
        "plain connect with hung trust: Err(Refused) after 2 s",
        "plain refusal: Ok(Refusal(Some(TrustUnavailable)))",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // `other` could not close anyone else's socket.
    for line in text.lines().filter(|l| l.contains("other close")) {
        assert!(line.ends_with("Err(BadSocket)"), "{line}\n{text}");
    }
}
