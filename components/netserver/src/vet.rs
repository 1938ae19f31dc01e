//! Vetting one network action: the order of checks every `Sec_connect`,
//! `Sec_bind`, `Sec_sendto` and accepted connection goes through before the
//! network server opens anything.
//!
//! 1. The security context must describe the action asked for (its endpoints
//!    cover the real ones).
//! 2. It must be fresh and not replayed ([`ReplayGuard`]).
//! 3. The requested protection is combined with the application's floor from
//!    the policy repository: asking for less is refused.
//! 4. The trust PD decides the action with the effective protection.
//!
//! Any failure to reach the policy repository or the trust PD refuses the
//! action (fail closed).

use crate::replay::{ReplayError, ReplayGuard};
use alloc::string::String;
use alloc::vec::Vec;
use netserver_api::{Endpoint, Protection, Proto, Refusal, SecurityContext};
use policyrepo_api::AppProfile;
use trust_api::{Action, Decision, Operation};

/// The services vetting needs from other PDs (the policy repository and the
/// trust PD). Errors mean "could not ask": the action is refused.
pub trait Authority {
    /// The application's profile.
    fn profile(&mut self, pd: &str) -> Result<AppProfile, Unreachable>;
    /// The trust PD's decision.
    fn decide(
        &mut self,
        requester: &str,
        action: &Action,
        credentials: &[String],
    ) -> Result<Decision, Unreachable>;
}

/// Another PD could not be asked, or answered with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable;

/// Why vetting refused, with the error code the application gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VetError {
    /// The context does not describe this action (`EINVAL`).
    ContextMismatch,
    /// Refused; the reason is kept for `LastRefusal`.
    Refused(Refusal),
}

impl VetError {
    /// The error code for the application.
    pub fn error(&self) -> netserver_api::Error {
        match self {
            VetError::ContextMismatch => netserver_api::Error::Invalid,
            VetError::Refused(Refusal::BelowFloor(_)) => netserver_api::Error::BelowFloor,
            VetError::Refused(Refusal::ReplayWindowFull) => netserver_api::Error::NoBuffers,
            VetError::Refused(_) => netserver_api::Error::Refused,
        }
    }
}

/// What is being asked for.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The application's PD name (from its channel).
    pub pd: &'a str,
    /// The operation.
    pub operation: Operation,
    /// The protocol.
    pub protocol: Proto,
    /// The concrete local endpoint (port may still be unassigned).
    pub local: Endpoint,
    /// The concrete remote endpoint (ANY for a bind).
    pub remote: Endpoint,
    /// The application's security context.
    pub ctx: &'a SecurityContext,
    /// Credentials the application supplied.
    pub credentials: &'a [String],
    /// Server time, seconds since the Unix epoch.
    pub now: u64,
}

/// An endpoint in the context covers a concrete one if every part it names
/// is equal.
fn covers(ctx: &Endpoint, real: &Endpoint) -> bool {
    (ctx.addr.is_none() || ctx.addr == real.addr) && (ctx.port.is_none() || ctx.port == real.port)
}

/// The vetting state of one network server.
#[derive(Debug)]
pub struct Vetter {
    node: String,
    replay: ReplayGuard,
}

impl Vetter {
    /// A vetter for node `node`, accepting contexts issued within `window`
    /// seconds of the server's time and remembering up to `capacity` nonces.
    pub fn new(node: &str, window: u64, capacity: usize) -> Self {
        Vetter {
            node: String::from(node),
            replay: ReplayGuard::new(window, capacity),
        }
    }

    /// Vets an action; on success returns the protection it gets.
    pub fn vet(
        &mut self,
        authority: &mut impl Authority,
        ask: &Ask<'_>,
    ) -> Result<Protection, VetError> {
        if !covers(&ask.ctx.local, &ask.local) || !covers(&ask.ctx.remote, &ask.remote) {
            return Err(VetError::ContextMismatch);
        }
        self.replay
            .check(ask.ctx.issued, ask.ctx.nonce, ask.now)
            .map_err(|e| {
                VetError::Refused(match e {
                    ReplayError::Replayed => Refusal::Replayed,
                    ReplayError::Stale { issued, now } => Refusal::Stale { issued, now },
                    // Too many live contexts: refuse rather than forget one.
                    ReplayError::Full => Refusal::ReplayWindowFull,
                })
            })?;
        let profile = authority
            .profile(ask.pd)
            .map_err(|_| VetError::Refused(Refusal::TrustUnavailable))?;
        let protection = ask
            .ctx
            .protection
            .resolve(&profile.floor)
            .map_err(|v| VetError::Refused(Refusal::BelowFloor(v)))?;
        let action = Action {
            operation: ask.operation,
            protocol: ask.protocol,
            local: ask.local,
            remote: ask.remote,
            protection,
            requesting_pd: String::from(ask.pd),
            node: self.node.clone(),
            now: ask.now,
        };
        let mut credentials: Vec<String> = ask.credentials.to_vec();
        credentials.extend(profile.credentials.iter().cloned());
        let decision = authority
            .decide(&profile.key, &action, &credentials)
            .map_err(|_| VetError::Refused(Refusal::TrustUnavailable))?;
        if decision.allowed {
            Ok(protection)
        } else {
            Err(VetError::Refused(Refusal::Policy {
                value: decision.value,
                reasons: decision.reasons,
            }))
        }
    }
}

impl Vetter {
    /// Vets a connection accepted on a listening socket that was bound with
    /// `protection`: no security context of its own (the bind's covered
    /// it), so only the trust PD is asked, with [`Operation::Accept`] and the
    /// real peer.
    pub fn vet_accept(
        &mut self,
        authority: &mut impl Authority,
        pd: &str,
        local: Endpoint,
        remote: Endpoint,
        protection: Protection,
        now: u64,
    ) -> Result<(), VetError> {
        let profile = authority
            .profile(pd)
            .map_err(|_| VetError::Refused(Refusal::TrustUnavailable))?;
        let action = Action {
            operation: Operation::Accept,
            protocol: Proto::Tcp,
            local,
            remote,
            protection,
            requesting_pd: String::from(pd),
            node: self.node.clone(),
            now,
        };
        let decision = authority
            .decide(&profile.key, &action, &profile.credentials)
            .map_err(|_| VetError::Refused(Refusal::TrustUnavailable))?;
        if decision.allowed {
            Ok(())
        } else {
            Err(VetError::Refused(Refusal::Policy {
                value: decision.value,
                reasons: decision.reasons,
            }))
        }
    }

    /// How many context nonces the replay guard remembers.
    pub fn remembered_nonces(&self) -> usize {
        self.replay.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use netserver_api::{
        AlgSet, Algorithm, Floor, FloorViolation, IpAddr, Level, ProtectionRequest, Service,
    };

    /// One question to the trust PD: requester, attributes, credentials.
    type Asked = (String, Vec<(&'static str, String)>, Vec<String>);

    /// Records what it was asked and answers as configured.
    struct Fake {
        reachable: bool,
        allow: bool,
        asked: Vec<Asked>,
    }

    impl Authority for Fake {
        fn profile(&mut self, pd: &str) -> Result<AppProfile, Unreachable> {
            if !self.reachable {
                return Err(Unreachable);
            }
            Ok(AppProfile {
                pd: pd.to_string(),
                key: "\"client-key\"".into(),
                credentials: vec!["admin-issued".into()],
                floor: Floor {
                    service: Service::AuthCon,
                    level: Level::Require,
                    algorithms: AlgSet::of(&[Algorithm::AesGcm128]),
                },
                ports: vec![],
                channel: 10,
                repo_channel: None,
            })
        }

        fn decide(
            &mut self,
            requester: &str,
            action: &Action,
            credentials: &[String],
        ) -> Result<Decision, Unreachable> {
            self.asked.push((
                requester.to_string(),
                action.attributes(),
                credentials.to_vec(),
            ));
            Ok(Decision {
                allowed: self.allow,
                value: if self.allow { "ALLOW" } else { "DENY" }.into(),
                reasons: vec!["assertion 1: condition false".into()],
            })
        }
    }

    fn fake(allow: bool) -> Fake {
        Fake {
            reachable: true,
            allow,
            asked: vec![],
        }
    }

    const PEER: IpAddr = IpAddr::V4([192, 0, 2, 2]);

    fn ctx(nonce: u8) -> SecurityContext {
        SecurityContext {
            local: Endpoint::ANY,
            remote: Endpoint::new(PEER, 7),
            issued: 1000,
            nonce: [nonce; 16],
            protection: ProtectionRequest::default(),
            signature: vec![],
        }
    }

    fn ask<'a>(ctx: &'a SecurityContext, creds: &'a [String]) -> Ask<'a> {
        Ask {
            pd: "client",
            operation: Operation::Connect,
            protocol: Proto::Tcp,
            local: Endpoint::new(IpAddr::V4([192, 0, 2, 1]), 49152),
            remote: Endpoint::new(PEER, 7),
            ctx,
            credentials: creds,
            now: 1000,
        }
    }

    #[test]
    fn allowed_actions_get_the_effective_protection() {
        let mut v = Vetter::new("node-a", 30, 100);
        let mut a = fake(true);
        let c = ctx(1);
        let creds = vec!["app-supplied".to_string()];
        let p = v.vet(&mut a, &ask(&c, &creds)).unwrap();
        assert_eq!(p.level, Level::Require);
        assert_eq!(p.outbound_algorithm(), Some(Algorithm::AesGcm128));
        // The trust PD was asked with the app's key, both credential sets
        // and the effective protection.
        let (req, attrs, creds) = &a.asked[0];
        assert_eq!(req, "\"client-key\"");
        assert_eq!(creds, &["app-supplied", "admin-issued"]);
        assert!(attrs.contains(&("esp_alg", "aes-gcm-128".to_string())));
        assert!(attrs.contains(&("node", "node-a".to_string())));
        assert!(attrs.contains(&("requesting_pd", "client".to_string())));
    }

    #[test]
    fn denial_carries_the_reasons() {
        let mut v = Vetter::new("node-a", 30, 100);
        let c = ctx(1);
        let err = v.vet(&mut fake(false), &ask(&c, &[])).unwrap_err();
        assert_eq!(err.error(), netserver_api::Error::Refused);
        match err {
            VetError::Refused(Refusal::Policy { value, reasons }) => {
                assert_eq!(value, "DENY");
                assert_eq!(reasons, ["assertion 1: condition false"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unreachable_authority_fails_closed() {
        let mut v = Vetter::new("node-a", 30, 100);
        let mut a = fake(true);
        a.reachable = false;
        let c = ctx(1);
        assert_eq!(
            v.vet(&mut a, &ask(&c, &[])),
            Err(VetError::Refused(Refusal::TrustUnavailable))
        );
    }

    #[test]
    fn below_floor_is_refused_before_the_trust_pd_is_asked() {
        let mut v = Vetter::new("node-a", 30, 100);
        let mut a = fake(true);
        let mut c = ctx(1);
        c.protection.level = Some(Level::Use);
        let err = v.vet(&mut a, &ask(&c, &[])).unwrap_err();
        assert_eq!(err.error(), netserver_api::Error::BelowFloor);
        assert_eq!(
            err,
            VetError::Refused(Refusal::BelowFloor(FloorViolation::Level {
                floor: Level::Require,
                requested: Level::Use
            }))
        );
        assert!(a.asked.is_empty());
    }

    #[test]
    fn a_full_replay_window_refuses_with_its_own_reason() {
        let mut v = Vetter::new("node-a", 30, 1);
        let mut a = fake(true);
        v.vet(&mut a, &ask(&ctx(1), &[])).unwrap();
        let err = v.vet(&mut a, &ask(&ctx(2), &[])).unwrap_err();
        assert_eq!(err, VetError::Refused(Refusal::ReplayWindowFull));
        assert_eq!(err.error(), netserver_api::Error::NoBuffers);
        assert_eq!(a.asked.len(), 1);
    }

    #[test]
    fn replayed_stale_and_mismatched_contexts_are_refused() {
        let mut v = Vetter::new("node-a", 30, 100);
        let mut a = fake(true);
        let c = ctx(1);
        v.vet(&mut a, &ask(&c, &[])).unwrap();
        assert_eq!(
            v.vet(&mut a, &ask(&c, &[])),
            Err(VetError::Refused(Refusal::Replayed))
        );
        let mut old = ctx(2);
        old.issued = 900;
        assert_eq!(
            v.vet(&mut a, &ask(&old, &[])),
            Err(VetError::Refused(Refusal::Stale {
                issued: 900,
                now: 1000
            }))
        );
        // A context made for another peer cannot be reused for this one.
        let mut other = ctx(3);
        other.remote = Endpoint::new(IpAddr::V4([192, 0, 2, 99]), 7);
        assert_eq!(
            v.vet(&mut a, &ask(&other, &[])),
            Err(VetError::ContextMismatch)
        );
        assert_eq!(a.asked.len(), 1);
    }
}
