use super::*;
use alloc::vec;
use netserver_api::{AlgSet, Algorithm, IpAddr, Level, Service};
use policyrepo_api::{NetworkConfig, SaDirection};
use ring::signature::KeyPair;

fn admin() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap()
}

fn bundle() -> Bundle {
    let floor = Floor {
        service: Service::AuthCon,
        level: Level::Require,
        algorithms: AlgSet::of(&[Algorithm::AesGcm128]),
    };
    Bundle {
        version: 3,
        node: "node-a".into(),
        policy: vec!["Authorizer: POLICY\nLicensees: \"app\"\n".into()],
        default_floor: floor,
        apps: vec![AppProfile {
            pd: "client".into(),
            key: "ed25519-hex:aa".into(),
            credentials: vec![],
            floor,
            ports: vec![7],
            channel: 10,
            repo_channel: Some(10),
        }],
        sas: vec![ManualSa {
            spi: 0x100,
            direction: SaDirection::Outbound,
            algorithm: Algorithm::AesGcm128,
            key: vec![1; 20],
            local: IpAddr::V4([192, 0, 2, 1]),
            remote: IpAddr::V4([192, 0, 2, 2]),
            peer_key: "ed25519-hex:bb".into(),
            peer_credentials: vec![],
        }],
        network: NetworkConfig {
            node: String::new(),
            mac: [2, 0, 0, 0, 0, 1],
            addresses: vec![(IpAddr::V4([192, 0, 2, 1]), 24)],
            gateway: None,
        },
    }
}

fn pk() -> Vec<u8> {
    admin().public_key().as_ref().to_vec()
}

#[test]
fn signed_bundles_verify() {
    let signed = sign(&bundle(), &admin());
    assert_eq!(verify(&signed, &pk()), Ok(bundle()));
}

#[test]
fn any_change_breaks_the_signature() {
    let signed = sign(&bundle(), &admin());
    for i in 0..signed.len() {
        let mut bad = signed.clone();
        bad[i] ^= 0x01;
        assert_eq!(verify(&bad, &pk()), Err(Error::BadBundle), "byte {i}");
    }
    assert_eq!(
        verify(&signed[..signed.len() - 1], &pk()),
        Err(Error::BadBundle)
    );
    // Zero padding (a memory region's tail) is fine, anything else is not.
    let mut padded = signed.clone();
    padded.resize(signed.len() + 4096, 0);
    assert_eq!(verify(&padded, &pk()), Ok(bundle()));
    let mut long = signed.clone();
    long.push(1);
    assert_eq!(verify(&long, &pk()), Err(Error::BadBundle));
    let other = Ed25519KeyPair::from_seed_unchecked(&[8; 32]).unwrap();
    assert_eq!(
        verify(&signed, other.public_key().as_ref()),
        Err(Error::BadBundle)
    );
    assert_eq!(verify(&signed, &[0; 5]), Err(Error::BadBundle));
    assert_eq!(verify(&[], &pk()), Err(Error::BadBundle));
}

#[test]
fn a_bad_bundle_serves_nothing() {
    let mut signed = sign(&bundle(), &admin());
    let last = signed.len() - 1;
    signed[last] ^= 1;
    let mut repo = Repo::new(&signed, &pk());
    assert!(!repo.is_valid());
    assert_eq!(
        repo.handle(Caller::Trust, Request::GetPolicy),
        Err(Error::BadBundle)
    );
}

#[test]
fn callers_get_only_what_their_channel_allows() {
    let mut repo = Repo::new(&sign(&bundle(), &admin()), &pk());
    assert!(repo.is_valid());
    assert!(matches!(
        repo.handle(Caller::Trust, Request::GetPolicy),
        Ok(Response::Policy { version: 3, .. })
    ));
    assert!(matches!(
        repo.handle(Caller::NetServer, Request::GetSas),
        Ok(Response::Sas(s)) if s.len() == 1
    ));
    assert!(matches!(
        repo.handle(Caller::NetServer, Request::GetApp { pd: "client".into() }),
        Ok(Response::App(a)) if a.ports == [7]
    ));
    assert_eq!(
        repo.handle(
            Caller::NetServer,
            Request::GetApp {
                pd: "nobody".into()
            }
        ),
        Err(Error::UnknownApp)
    );
    // Keys and profiles are never handed to applications or the trust PD.
    assert!(matches!(
        repo.handle(Caller::NetServer, Request::GetApps),
        Ok(Response::Apps(a)) if a.len() == 1 && a[0].channel == 10
    ));
    assert!(matches!(
        repo.handle(Caller::NetServer, Request::GetNetwork),
        Ok(Response::Network(n)) if n.mac == [2, 0, 0, 0, 0, 1] && n.node == "node-a"
    ));
    for caller in [Caller::App("client"), Caller::Trust] {
        for req in [Request::GetSas, Request::GetApps, Request::GetNetwork] {
            assert_eq!(repo.handle(caller, req), Err(Error::NotPermitted));
        }
        assert_eq!(
            repo.handle(
                caller,
                Request::GetApp {
                    pd: "client".into()
                }
            ),
            Err(Error::NotPermitted)
        );
    }
    assert_eq!(
        repo.handle(Caller::App("client"), Request::GetPolicy),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        repo.handle(Caller::NetServer, Request::GetPolicy),
        Err(Error::NotPermitted)
    );
}

// ---- InstallPolicy, with the demo's real keys and credentials ----

const POLICY_A: &str = include_str!("../../../policies/demo/node-a/policy.kn");
const CLIENT_KEY: &str = include_str!("../../../policies/demo/keys/client.key");
const INTRUDER_KEY: &str = include_str!("../../../policies/demo/keys/intruder.key");
const CLIENT_CRED: &str = include_str!("../../../policies/demo/credentials/client.cred");
const INSTALL_CRED: &str = include_str!("../../../policies/demo/credentials/client-install.cred");
const FORGED_CRED: &str = include_str!("../../../policies/demo/credentials/intruder-forged.cred");
const SELF_CRED: &str = include_str!("../../../policies/demo/credentials/intruder-self.cred");

fn demo_bundle(client_credentials: Vec<String>) -> Bundle {
    let mut b = bundle();
    b.policy = POLICY_A
        .split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| format!("{}\n", s.trim()))
        .collect();
    assert_eq!(b.policy.len(), 2);
    let floor = b.default_floor;
    b.apps = vec![
        AppProfile {
            pd: "client".into(),
            key: CLIENT_KEY.trim().into(),
            credentials: client_credentials,
            floor,
            ports: vec![],
            channel: 10,
            repo_channel: Some(10),
        },
        AppProfile {
            pd: "intruder".into(),
            key: INTRUDER_KEY.trim().into(),
            credentials: vec![],
            floor,
            ports: vec![],
            channel: 11,
            repo_channel: Some(11),
        },
    ];
    b
}

fn demo_repo(client_credentials: Vec<String>) -> Repo {
    Repo::new(&sign(&demo_bundle(client_credentials), &admin()), &pk())
}

/// An assertion by `key` delegating port 7 to the intruder's key.
fn own_assertion(key: &str, port: u16) -> String {
    format!(
        "KeyNote-Version: 2\nAuthorizer: \"{}\"\nLicensees: \"{}\"\nConditions: @remote_port == {port} -> \"ALLOW\";\n",
        key.trim(),
        INTRUDER_KEY.trim()
    )
}

fn install(
    repo: &mut Repo,
    pd: &str,
    assertion: String,
    creds: &[&str],
) -> Result<Response, Error> {
    repo.handle(
        Caller::App(pd),
        Request::InstallPolicy {
            assertion,
            credentials: creds.iter().map(|c| String::from(*c)).collect(),
        },
    )
}

fn policy_of(repo: &mut Repo) -> (u64, Vec<String>) {
    match repo.handle(Caller::Trust, Request::GetPolicy) {
        Ok(Response::Policy {
            version,
            assertions,
        }) => (version, assertions),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_authorized_app_installs_and_replaces_its_own_assertion() {
    let mut repo = demo_repo(vec![CLIENT_CRED.into()]);
    assert_eq!(policy_of(&mut repo), (3, demo_bundle(vec![]).policy));
    let first = own_assertion(CLIENT_KEY, 7);
    assert_eq!(
        install(&mut repo, "client", first.clone(), &[INSTALL_CRED]),
        Ok(Response::Installed(4))
    );
    let (version, assertions) = policy_of(&mut repo);
    assert_eq!(version, 4);
    assert_eq!(assertions.len(), 3);
    assert_eq!(assertions[2], first);
    assert_eq!(repo.version(), Some(4));
    // A second installation replaces the first.
    let second = own_assertion(CLIENT_KEY, 9);
    assert_eq!(
        install(&mut repo, "client", second.clone(), &[INSTALL_CRED]),
        Ok(Response::Installed(5))
    );
    let (version, assertions) = policy_of(&mut repo);
    assert_eq!((version, assertions.len()), (5, 3));
    assert_eq!(assertions[2], second);
    // The network server sees nothing of it, and the bundle is unchanged.
    assert_eq!(repo.bundle().map(|b| b.policy.len()), Some(2));
}

#[test]
fn a_credential_in_the_apps_profile_authorizes_too() {
    let mut repo = demo_repo(vec![CLIENT_CRED.into(), INSTALL_CRED.into()]);
    assert_eq!(
        install(&mut repo, "client", own_assertion(CLIENT_KEY, 7), &[]),
        Ok(Response::Installed(4))
    );
}

#[test]
fn a_profile_key_in_kn_key_file_form_works_too() {
    let mut b = demo_bundle(vec![INSTALL_CRED.into()]);
    b.apps[0].key = include_str!("../../../policies/demo/keys/client.pub").into();
    let mut repo = Repo::new(&sign(&b, &admin()), &pk());
    assert_eq!(
        install(&mut repo, "client", own_assertion(CLIENT_KEY, 7), &[]),
        Ok(Response::Installed(4))
    );
}

#[test]
fn installation_without_an_authorizing_credential_is_refused() {
    let mut repo = demo_repo(vec![CLIENT_CRED.into()]);
    // No credential at all: POLICY names the admin key, nobody vouches.
    match install(&mut repo, "client", own_assertion(CLIENT_KEY, 7), &[]) {
        Err(Error::Unauthorized(why)) => {
            assert!(why.contains("licensees not satisfied"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // The client's network credential does not license installation.
    match install(
        &mut repo,
        "client",
        own_assertion(CLIENT_KEY, 7),
        &[CLIENT_CRED],
    ) {
        Err(Error::Unauthorized(why)) => {
            assert!(why.contains("conditions not satisfied"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // A forged credential: bad signature.
    match install(
        &mut repo,
        "client",
        own_assertion(CLIENT_KEY, 7),
        &[FORGED_CRED],
    ) {
        Err(Error::Unauthorized(why)) => {
            assert!(why.contains("signature verification failure"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // The intruder cannot use the client's installation credential (it
    // licenses the client's key, for requesting_pd "client").
    match install(
        &mut repo,
        "intruder",
        own_assertion(INTRUDER_KEY, 7),
        &[INSTALL_CRED],
    ) {
        Err(Error::Unauthorized(_)) => {}
        other => panic!("{other:?}"),
    }
    // Nor its own self-issued one.
    match install(
        &mut repo,
        "intruder",
        own_assertion(INTRUDER_KEY, 7),
        &[SELF_CRED],
    ) {
        Err(Error::Unauthorized(why)) => assert!(why.contains("not reached"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A malformed credential is a clear refusal too.
    match install(
        &mut repo,
        "client",
        own_assertion(CLIENT_KEY, 7),
        &["Authorizer: (\n"],
    ) {
        Err(Error::Unauthorized(why)) => assert!(why.starts_with("credential 0"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Nothing was installed by any of this.
    assert_eq!(policy_of(&mut repo), (3, demo_bundle(vec![]).policy));
}

#[test]
fn only_the_apps_own_assertion_is_accepted() {
    let mut repo = demo_repo(vec![INSTALL_CRED.into()]);
    let refused = |r: Result<Response, Error>, what: &str| match r {
        Err(Error::BadAssertion(_)) => {}
        other => panic!("{what}: {other:?}"),
    };
    // Policy about another principal.
    refused(
        install(&mut repo, "client", own_assertion(INTRUDER_KEY, 7), &[]),
        "another key",
    );
    refused(
        install(
            &mut repo,
            "client",
            "Authorizer: \"POLICY\"\nLicensees: \"x\"\n".into(),
            &[],
        ),
        "POLICY",
    );
    refused(
        install(
            &mut repo,
            "client",
            "Authorizer: \"client\"\nLicensees: \"x\"\n".into(),
            &[],
        ),
        "opaque name",
    );
    // Two assertions in one text.
    let two = format!(
        "{}\n{}",
        own_assertion(CLIENT_KEY, 7),
        own_assertion(CLIENT_KEY, 8)
    );
    refused(install(&mut repo, "client", two, &[]), "two assertions");
    // Malformed text.
    refused(
        install(&mut repo, "client", "Conditions: (((\n".into(), &[]),
        "malformed",
    );
    refused(install(&mut repo, "client", String::new(), &[]), "empty");
    assert_eq!(policy_of(&mut repo).0, 3);
}

#[test]
fn installation_is_bounded() {
    let mut repo = demo_repo(vec![INSTALL_CRED.into()]);
    let mut big = own_assertion(CLIENT_KEY, 7);
    big.push_str(&"Comment: x\n".repeat(MAX_INSTALL_TEXT / 11 + 1));
    assert_eq!(
        install(&mut repo, "client", big, &[]),
        Err(Error::LimitExceeded)
    );
    let many = vec![INSTALL_CRED; MAX_INSTALL_CREDENTIALS + 1];
    assert_eq!(
        install(&mut repo, "client", own_assertion(CLIENT_KEY, 7), &many),
        Err(Error::LimitExceeded)
    );
    let huge = "x".repeat(MAX_CREDENTIAL_TEXT + 1);
    assert_eq!(
        install(&mut repo, "client", own_assertion(CLIENT_KEY, 7), &[&huge]),
        Err(Error::LimitExceeded)
    );
}

#[test]
fn installed_regular_expressions_are_bounded() {
    // An assertion within the size limit but full of large regexes (each
    // compiled by KeyNote's general engine): refused at the regex budget,
    // so the policy the trust PD compiles never holds more than
    // MAX_POLICY_REGEX_BYTES of them.
    let mut repo = demo_repo(vec![INSTALL_CRED.into()]);
    let regex = |r: usize| {
        let mut p = String::from("^(");
        let mut i = 0;
        while p.len() + 40 < 1000 {
            if i > 0 {
                p.push('|');
            }
            p.push_str(&format!("[a-z]{{1,30}}\\\\.r{r}z{i}"));
            i += 1;
        }
        p.push_str(")$");
        format!("node ~= \"{p}\"")
    };
    let conds: Vec<String> = (0..7).map(regex).collect();
    let heavy = format!(
        "KeyNote-Version: 2\nAuthorizer: \"{}\"\nLicensees: \"{}\"\nConditions: {} -> \"ALLOW\";\n",
        CLIENT_KEY.trim(),
        INTRUDER_KEY.trim(),
        conds.join(" || ")
    );
    assert!(heavy.len() <= MAX_INSTALL_TEXT, "{}", heavy.len());
    match install(&mut repo, "client", heavy, &[]) {
        Err(Error::BadAssertion(why)) => {
            assert!(why.contains("compiled regular expressions"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(policy_of(&mut repo).0, 3, "nothing installed");
    // One such regex fits, and so does an ordinary assertion afterwards.
    let light = format!(
        "KeyNote-Version: 2\nAuthorizer: \"{}\"\nLicensees: \"{}\"\nConditions: {} -> \"ALLOW\";\n",
        CLIENT_KEY.trim(),
        INTRUDER_KEY.trim(),
        regex(0)
    );
    assert_eq!(
        install(&mut repo, "client", light, &[]),
        Ok(Response::Installed(4))
    );
    assert_eq!(
        install(&mut repo, "client", own_assertion(CLIENT_KEY, 7), &[]),
        Ok(Response::Installed(5))
    );
}

#[test]
fn installation_needs_an_app_channel_and_a_valid_bundle() {
    let mut repo = demo_repo(vec![INSTALL_CRED.into()]);
    let req = || Request::InstallPolicy {
        assertion: own_assertion(CLIENT_KEY, 7),
        credentials: vec![],
    };
    assert_eq!(repo.handle(Caller::Trust, req()), Err(Error::NotPermitted));
    assert_eq!(
        repo.handle(Caller::NetServer, req()),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        repo.handle(Caller::App("stranger"), req()),
        Err(Error::UnknownApp)
    );
    assert_eq!(repo.app_on_channel(10), Some("client"));
    assert_eq!(repo.app_on_channel(11), Some("intruder"));
    assert_eq!(repo.app_on_channel(12), None);
    let mut signed = sign(&demo_bundle(vec![INSTALL_CRED.into()]), &admin());
    let n = signed.len() / 2;
    signed[n] ^= 0x40;
    let mut bad = Repo::new(&signed, &pk());
    assert_eq!(
        bad.handle(Caller::App("client"), req()),
        Err(Error::BadBundle)
    );
    assert_eq!(bad.app_on_channel(10), None);
    assert_eq!(bad.version(), None);
}
