//! Small systems run on the host backend through the real `vetted run`,
//! with the PDs of `src/bin/vetted-testpd.rs`. Every run is bounded: a
//! runner still alive after its limit is killed and the test fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const VETTED: &str = env!("CARGO_BIN_EXE_vetted");
const TESTPD: &str = env!("CARGO_BIN_EXE_vetted-testpd");

fn image_dir() -> &'static Path {
    Path::new(TESTPD).parent().expect("bin dir")
}

/// A `<protection_domain>` running the test PD binary.
fn pd(name: &str, priority: u8, passive: bool, body: &str) -> String {
    format!(
        r#"<protection_domain name="{name}" priority="{priority}" passive="{passive}">
             <program_image path="vetted-testpd.elf" />{body}
           </protection_domain>"#
    )
}

fn channel(a: &str, a_id: u8, a_attrs: &str, b: &str, b_id: u8, b_attrs: &str) -> String {
    format!(
        r#"<channel><end pd="{a}" id="{a_id}" {a_attrs}/><end pd="{b}" id="{b_id}" {b_attrs}/></channel>"#
    )
}

fn write_system(parts: &[String]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "vetted-test-{}-{}.system",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(
        &path,
        format!("<system>\n{}\n</system>\n", parts.join("\n")),
    )
    .expect("write system");
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }

    /// The runner exited 0.
    #[track_caller]
    fn expect_success(&self) {
        assert_eq!(self.code, Some(0), "{}", self.all());
    }

    /// Standard output holds `needle`.
    #[track_caller]
    fn expect_out(&self, needle: &str) {
        assert!(
            self.stdout.contains(needle),
            "{needle:?} missing\n{}",
            self.all()
        );
    }
}

fn reader(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

fn spawn(system: &Path, args: &[&str]) -> Child {
    Command::new(VETTED)
        .arg("run")
        .arg(system)
        .arg("--image-dir")
        .arg(image_dir())
        .args(["--sched", "none"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vetted")
}

fn finish(mut child: Child, limit: Duration) -> Run {
    let out = reader(child.stdout.take().expect("stdout"));
    let err = reader(child.stderr.take().expect("stderr"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "vetted run exceeded {limit:?}\n{}",
        run.all()
    );
    run
}

fn run(parts: &[String], args: &[&str], limit: Duration) -> Run {
    let path = write_system(parts);
    let r = finish(spawn(&path, args), limit);
    let _ = std::fs::remove_file(&path);
    r
}

/// The pid the runner reported for `pd`.
fn pid_of(stderr: &str, pd: &str) -> u32 {
    let key = format!("started '{pd}' (pid ");
    let at = stderr
        .find(&key)
        .unwrap_or_else(|| panic!("no start line for {pd} in {stderr}"));
    stderr[at + key.len()..]
        .split(',')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("pid")
}

fn gone(pid: u32) -> bool {
    // Gone, or at most a zombie about to be reaped by init.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn notify_ping_pong() {
    let r = run(
        &[
            pd("ping", 10, false, ""),
            pd("pong", 20, false, ""),
            channel("ping", 0, "", "pong", 0, ""),
        ],
        &[],
        LIMIT,
    );
    r.expect_success();
    r.expect_out("[ping] ping: 1000 round trips");
    r.expect_out("[pong] pong: answered 1000");
    assert!(
        r.stderr.contains("[vetted] every active PD stopped"),
        "{}",
        r.all()
    );
}

#[test]
fn protected_calls_with_replies_to_an_active_server() {
    let r = run(
        &[
            pd("client", 10, false, ""),
            pd("server", 20, false, ""),
            channel(
                "client",
                0,
                r#"pp="true""#,
                "server",
                0,
                r#"notify="false""#,
            ),
        ],
        &[],
        LIMIT,
    );
    r.expect_success();
    r.expect_out("[server] server: passive=false");
    r.expect_out("[client] client: 2000 calls ok");
    r.expect_out("[server] server: 2000 calls from 1 clients, done");
}

#[test]
fn passive_server_serves_two_clients_one_call_at_a_time() {
    let r = run(
        &[
            pd("client1", 10, false, ""),
            pd("client2", 11, false, ""),
            pd("server2", 50, true, ""),
            channel(
                "client1",
                0,
                r#"pp="true""#,
                "server2",
                0,
                r#"notify="false""#,
            ),
            channel(
                "client2",
                0,
                r#"pp="true""#,
                "server2",
                1,
                r#"notify="false""#,
            ),
        ],
        &[],
        LIMIT,
    );
    r.expect_success();
    r.expect_out("[server2] server: passive=true");
    r.expect_out("[client1] client1: 2000 calls ok");
    r.expect_out("[client2] client2: 2000 calls ok");
    // The server's own check: it would fail with "two calls at once".
    assert!(!r.stderr.contains("crashed"), "{}", r.all());
}

fn queue_parts(producer: &str) -> Vec<String> {
    let map = r#"<map mr="queue" vaddr="0x10000000" perms="rw" setvar_vaddr="queue" />"#;
    vec![
        r#"<memory_region name="queue" size="0x100000" />"#.to_string(),
        pd(producer, 10, false, map),
        pd("consumer", 20, false, map),
        channel(producer, 0, "", "consumer", 0, ""),
    ]
}

#[test]
fn queue_moves_100_mib_with_checksums() {
    let r = run(&queue_parts("producer"), &[], Duration::from_secs(120));
    r.expect_success();
    r.expect_out("[producer] producer: sent 104857600 bytes");
    r.expect_out("[consumer] consumer: received 104857600 bytes");
    r.expect_out("checksum ok");
}

#[test]
fn garbage_indices_are_a_typed_error_not_a_crash() {
    let r = run(&queue_parts("garbage"), &[], LIMIT);
    r.expect_success();
    r.expect_out("[garbage] garbage: wrote a bogus tail index");
    r.expect_out("[consumer] consumer: rejected queue: peer misbehaviour: queue index 3735928559 out of range");
    assert!(!r.stderr.contains("crashed"), "{}", r.all());
}

fn crash_parts(idler_passive: bool) -> Vec<String> {
    vec![
        r#"<memory_region name="lives" size="0x1000" />"#.to_string(),
        pd(
            "crasher",
            10,
            false,
            r#"<map mr="lives" vaddr="0x10000000" perms="rw" />"#,
        ),
        pd("idler", 20, idler_passive, ""),
    ]
}

#[test]
fn crash_is_reported_by_name_and_stops_the_system() {
    let r = run(&crash_parts(false), &[], LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(
        r.stderr
            .contains("[vetted] PD 'crasher' crashed: killed by signal 6 (SIGABRT)"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("system stopped because 'crasher' crashed"),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("life 2"), "{}", r.all());
    assert!(
        gone(pid_of(&r.stderr, "idler")),
        "idler survived\n{}",
        r.all()
    );
}

fn supervised(supervisor: &str) -> Vec<String> {
    vec![
        r#"<memory_region name="lives" size="0x1000" />"#.to_string(),
        pd(
            supervisor,
            50,
            true,
            &pd(
                "crasher",
                10,
                false,
                r#"<map mr="lives" vaddr="0x10000000" perms="rw" />"#,
            )
            .replace(
                r#"<protection_domain name="crasher""#,
                r#"<protection_domain name="crasher" id="1""#,
            ),
        ),
    ]
}

#[test]
fn child_crash_goes_to_the_parent_fault_handler() {
    // The crasher dies twice; the supervisor answers both faults, so the
    // child is restarted and survives its third life. The crash policy
    // (stop) does not apply to a child whose parent handles it.
    let r = run(&supervised("supervisor"), &[], LIMIT);
    r.expect_success();
    r.expect_out("[supervisor] supervisor: child 1 faulted (label 6), fault 1");
    r.expect_out("[supervisor] supervisor: child 1 faulted (label 6), fault 2");
    assert!(
        r.stderr
            .contains("[vetted] fault of 'crasher' delivered to its parent 'supervisor'"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("restarting 'crasher' as its parent 'supervisor' answered its fault"),
        "{}",
        r.all()
    );
    r.expect_out("[crasher] crasher: survived");
}

#[test]
fn handler_error_ends_the_pd_and_is_reported() {
    let r = run(
        &[
            pd("poker", 10, false, ""),
            pd("erring", 20, false, ""),
            channel("poker", 0, "", "erring", 3, ""),
        ],
        &[],
        LIMIT,
    );
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(
        r.stderr
            .contains("[erring] erring: handler error: refusing notification on {3}"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("[vetted] PD 'erring' crashed: exited with status 1"),
        "{}",
        r.all()
    );
}

#[test]
fn crashed_pd_is_restarted_with_its_memory_kept() {
    let r = run(&crash_parts(true), &["--on-crash", "restart"], LIMIT);
    r.expect_success();
    assert!(
        r.stderr.contains("restarting 'crasher' (restart 1 of 5)"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("restarting 'crasher' (restart 2 of 5)"),
        "{}",
        r.all()
    );
    assert!(!r.stderr.contains("restart 3 of"), "{}", r.all());
    r.expect_out("[crasher] crasher: life 3");
    r.expect_out("[crasher] crasher: survived");

    // With a single restart allowed, the second crash stops the system.
    let r = run(
        &crash_parts(true),
        &["--on-crash", "restart", "--max-restarts", "1"],
        LIMIT,
    );
    assert_eq!(r.code, Some(1), "{}", r.all());
    r.expect_out("[crasher] crasher: life 2");
    assert!(!r.stdout.contains("survived"), "{}", r.all());
}

#[test]
fn call_in_flight_is_delivered_again_to_a_restarted_server() {
    let r = run(
        &[
            r#"<memory_region name="lives" size="0x1000" />"#.to_string(),
            pd("client", 10, false, ""),
            pd(
                "flaky",
                20,
                false,
                r#"<map mr="lives" vaddr="0x10000000" perms="rw" />"#,
            ),
            channel("client", 0, r#"pp="true""#, "flaky", 0, r#"notify="false""#),
        ],
        &["--on-crash", "restart"],
        LIMIT,
    );
    r.expect_success();
    assert!(
        r.stderr
            .contains("[vetted] PD 'flaky' crashed: killed by signal 6 (SIGABRT)"),
        "{}",
        r.all()
    );
    r.expect_out("[flaky] flaky: life 2");
    // Every reply checked by the client, including the one interrupted.
    r.expect_out("[client] client: 2000 calls ok");
    r.expect_out("[flaky] server: 1990 calls from 1 clients, done");
}

fn rpc_parts(client: &str, server: &str) -> Vec<String> {
    let map = r#"<map mr="rpc" vaddr="0x10000000" perms="rw" />"#;
    vec![
        r#"<memory_region name="rpc" size="0x1000" />"#.to_string(),
        pd(client, 10, false, map),
        pd(server, 20, true, map),
        channel(client, 0, r#"pp="true""#, server, 0, r#"notify="false""#),
    ]
}

#[test]
fn typed_rpc_answers_and_rejects_misuse_with_typed_errors() {
    let r = run(&rpc_parts("rpcclient", "rpcserver"), &[], LIMIT);
    r.expect_success();
    r.expect_out("[rpcclient] rpcclient: typed answers and errors ok");
}

#[test]
fn typed_rpc_in_message_registers() {
    let r = run(&rpc_parts("regclient", "regserver"), &[], LIMIT);
    r.expect_success();
    r.expect_out("[regclient] regclient: typed calls in registers ok");
}

#[test]
fn typed_rpc_client_survives_a_lying_server() {
    let r = run(&rpc_parts("rpcvictim", "evilserver"), &[], LIMIT);
    r.expect_success();
    r.expect_out("[rpcvictim] rpcvictim: every violation typed");
}

/// This process's nice value (field 19 of /proc/self/stat).
fn own_nice() -> i64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let after = stat.rsplit(')').next().expect("stat format");
    after
        .split_whitespace()
        .nth(16)
        .and_then(|v| v.parse().ok())
        .expect("nice")
}

#[test]
fn priorities_become_relative_nice_values() {
    let r = run(
        &[
            pd("nice1", 254, false, ""),
            pd("nice2", 127, false, ""),
            pd("nice3", 0, false, ""),
        ],
        &["--sched", "nice"],
        LIMIT,
    );
    r.expect_success();
    let base = own_nice();
    for (pd, offset) in [("nice1", 0), ("nice2", 10), ("nice3", 19)] {
        let want = format!("[{pd}] {pd}: nice {}", (base + offset).min(19));
        assert!(r.stdout.contains(&want), "want {want}\n{}", r.all());
    }
}

/// Starts two endless PDs and waits until the runner reported both.
fn start_sleepers() -> (Child, PathBuf, JoinHandle<String>, Vec<u32>) {
    let path = write_system(&[pd("sleeper1", 10, false, ""), pd("sleeper2", 20, false, "")]);
    let mut child = spawn(&path, &[]);
    let mut err = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    let start = Instant::now();
    let mut buf = [0u8; 256];
    while seen.matches("started '").count() < 2 {
        assert!(start.elapsed() < LIMIT, "sleepers did not start: {seen}");
        let n = err.read(&mut buf).expect("read");
        assert!(n > 0, "runner ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let pids = vec![pid_of(&seen, "sleeper1"), pid_of(&seen, "sleeper2")];
    let rest = reader(err);
    (child, path, rest, pids)
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn wait_gone(pids: &[u32]) {
    let start = Instant::now();
    while !pids.iter().all(|p| gone(*p)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "orphans left: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_every_pd() {
    let (mut child, path, rest, pids) = start_sleepers();
    signal(child.id(), "-TERM");
    let status = child.wait().expect("wait");
    let _ = std::fs::remove_file(&path);
    let rest = rest.join().unwrap_or_default();
    assert_eq!(status.code(), Some(128 + 15), "{rest}");
    assert!(
        rest.contains("SIGTERM received: stopping every PD"),
        "{rest}"
    );
    wait_gone(&pids);
}

#[test]
fn pds_die_with_a_killed_runner() {
    let (mut child, path, _rest, pids) = start_sleepers();
    signal(child.id(), "-KILL");
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    wait_gone(&pids);
}

#[test]
fn memory_regions_have_their_address_and_permissions() {
    let r = run(
        &[
            r#"<memory_region name="rw" size="0x2000" />"#.to_string(),
            r#"<memory_region name="ro" size="0x1000" />"#.to_string(),
            pd(
                "perms",
                10,
                false,
                r#"<map mr="rw" vaddr="0x40000000" perms="rw" setvar_vaddr="rw_vaddr" />
                   <map mr="ro" vaddr="0x40010000" perms="r" />
                   <map mr="rw" vaddr="0x40020000" perms="r" setvar_vaddr="rw_again" />"#,
            ),
        ],
        &[],
        LIMIT,
    );
    r.expect_success();
    r.expect_out("[perms] perms: ok");
}

#[test]
fn prefilled_region_keeps_its_size() {
    // The file is shorter than the region: the region is the file's bytes
    // followed by zeros, and its last page is readable (no SIGBUS).
    let dir = std::env::temp_dir().join(format!("vetted-prefill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("hello.bin"), b"hello").expect("prefill file");
    let r = run(
        &[
            r#"<memory_region name="data" size="0x3000" prefill_path="hello.bin" />"#.to_string(),
            pd(
                "prefilled",
                10,
                false,
                r#"<map mr="data" vaddr="0x40000000" perms="r" />"#,
            ),
        ],
        &["--search-path", dir.to_str().expect("utf-8 path")],
        LIMIT,
    );
    let _ = std::fs::remove_dir_all(&dir);
    r.expect_success();
    r.expect_out("[prefilled] prefilled: ok");
}

#[test]
fn check_validates_without_images_and_run_needs_them() {
    let good = write_system(&[
        pd("ghost", 10, false, "").replace("vetted-testpd.elf", "no-such-image.elf")
    ]);
    let out = Command::new(VETTED)
        .arg("check")
        .arg(&good)
        .output()
        .expect("check");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 protection domains"));

    let run = Command::new(VETTED)
        .args(["run", good.to_str().expect("utf-8"), "--image-dir"])
        .arg(image_dir())
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stderr).contains("program image of PD 'ghost' not found"));

    let bad = write_system(&[
        pd("a", 10, false, ""),
        pd("b", 20, false, ""),
        channel("b", 0, r#"pp="true""#, "a", 0, ""),
    ]);
    let out = Command::new(VETTED)
        .arg("check")
        .arg(&bad)
        .output()
        .expect("check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // file:line:column: names the file and the broken rule's place.
    assert!(
        err.starts_with(&format!("error: {}:", bad.display())),
        "{err}"
    );
    let _ = std::fs::remove_file(good);
    let _ = std::fs::remove_file(bad);
}
