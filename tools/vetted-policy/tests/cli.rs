//! The admin tool end to end: key generation, building and verifying a
//! bundle from a real configuration, and the errors an admin sees.

use std::path::Path;
use std::process::{Command, Output};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vetted-policy"))
        .args(args)
        .output()
        .expect("run vetted-policy")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

const CONFIG: &str = r#"
version = 4
node = "node-a"
policy = ["policy.kn"]

[default_floor]
service = "auth-con"
level = "require"
algorithms = ["aes-gcm-128", "aes-gcm-256"]

[network]
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24", "2001:db8::1/64"]

[[app]]
pd = "client"
channel = 10
key_file = "client.pub"
credentials = ["client.cred"]
ports = [7]

[[sa]]
spi = 0x1001
direction = "outbound"
algorithm = "aes-gcm-128"
key = "000102030405060708090a0b0c0d0e0f10111213"
local = "192.0.2.1"
remote = "192.0.2.2"
peer_key_file = "peer.pub"
"#;

fn setup(dir: &Path, config: &str) -> String {
    write(
        dir,
        "policy.kn",
        "Authorizer: POLICY\nLicensees: \"client\"\n\nAuthorizer: POLICY\nLicensees: \"other\"\n",
    );
    write(dir, "client.pub", "\"client\"\n");
    write(dir, "client.cred", "Authorizer: \"client\"\n");
    write(dir, "peer.pub", "\"peer\"\n");
    write(dir, "node.toml", config)
}

#[test]
fn keygen_build_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("admin.key");
    let key = key.to_str().unwrap();
    let out = tool(&["keygen", key]);
    assert!(out.status.success(), "{}", text(&out));
    // The private key is not world-readable and is never overwritten.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
    assert!(!tool(&["keygen", key]).status.success());

    let config = setup(dir.path(), CONFIG);
    let bundle = dir.path().join("node-a.bundle");
    let bundle = bundle.to_str().unwrap();
    let out = tool(&["build", &config, key, bundle]);
    assert!(out.status.success(), "{}", text(&out));

    let pubfile = format!("{key}.pub");
    let out = tool(&["verify", bundle, &pubfile]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("node node-a version 4"), "{t}");
    assert!(t.contains("policy: 2 assertion(s)"), "{t}");
    assert!(t.contains("app client: 1 credential(s), ports [7]"), "{t}");
    assert!(t.contains("<20 bytes>"), "{t}");
    assert!(
        !t.contains("0001020304"),
        "keying material must not be printed: {t}"
    );

    // A flipped byte, or another admin's key, fails verification.
    let mut signed = std::fs::read(bundle).unwrap();
    let mid = signed.len() / 2;
    signed[mid] ^= 0x20;
    std::fs::write(bundle, &signed).unwrap();
    let out = tool(&["verify", bundle, &pubfile]);
    assert!(!out.status.success());
    assert!(text(&out).contains("failed verification"), "{}", text(&out));
}

#[test]
fn configuration_errors_say_what_is_wrong() {
    let cases = [
        (
            CONFIG.replace("\"require\"", "\"sometimes\""),
            "unknown level \"sometimes\"",
        ),
        (CONFIG.replace("0x1001", "7"), "SPIs 0..=255 are reserved"),
        (
            CONFIG.replace("10111213\"", "1011\""),
            "aes-gcm-128 needs 20 bytes of key and salt, got 18",
        ),
        (
            CONFIG.replace("\"aes-gcm-128\", \"aes-gcm-256\"", "\"aes-gmac-128\""),
            "no listed algorithm provides service auth-con",
        ),
        (CONFIG.replace("node = ", "nodes = "), "unknown field"),
        (
            CONFIG.replace("02:00:00:00:00:01", "03:00:00:00:00:01"),
            "is a multicast address",
        ),
        (
            CONFIG.replace("192.0.2.1/24", "192.0.2.1/33"),
            "bad prefix length in \"192.0.2.1/33\"",
        ),
        (
            CONFIG.replace("channel = 10", "channel = 62"),
            "channel ids are 0..=61",
        ),
        (
            CONFIG.replace("192.0.2.2", "192.0.2"),
            "\"192.0.2\" is not an IP address",
        ),
        (
            CONFIG.replace("\"outbound\"", "\"sideways\""),
            "direction \"sideways\" is not inbound or outbound",
        ),
    ];
    for (config, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("admin.key");
        let key = key.to_str().unwrap();
        assert!(tool(&["keygen", key]).status.success());
        let config = setup(dir.path(), &config);
        let out = tool(&["build", &config, key, "/dev/null"]);
        assert!(!out.status.success(), "accepted: expected {expected}");
        assert!(
            text(&out).contains(expected),
            "{} lacks {expected}",
            text(&out)
        );
    }
}

#[test]
fn usage_errors() {
    let out = tool(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("usage:"));
    let out = tool(&["verify", "/nonexistent", "/nonexistent.pub"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("/nonexistent"));
}
