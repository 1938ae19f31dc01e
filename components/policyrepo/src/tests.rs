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
        Ok(Response::Network(n)) if n.mac == [2, 0, 0, 0, 0, 1]
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
