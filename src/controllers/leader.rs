//! Leader election on a `coordination.k8s.io/v1` Lease in `kube-system`, so that several
//! servers sharing one datastore run each controller (and the scheduler) once.
//!
//! The holder renews every [`RENEW`]; another candidate takes over when a lease has not been
//! renewed for its `leaseDurationSeconds`. Renewals are spaced for SD cards: six small
//! writes a minute. Losing the lease cancels the token given to the holder's components.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

const RENEW: Duration = Duration::from_secs(10);
const LEASE_SECONDS: i32 = 30;

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

fn expired(lease: &Lease) -> bool {
    let Some(spec) = &lease.spec else { return true };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    match &spec.renew_time {
        Some(MicroTime(renewed)) => {
            jiff::Timestamp::now().as_second() - renewed.as_second() > duration
        }
        None => true,
    }
}

/// Tries once to hold the lease; true if `identity` holds it afterwards.
async fn try_hold(api: &Api<Lease>, name: &str, identity: &str) -> Result<bool, kube::Error> {
    match api.get_opt(name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.to_string()),
                    lease_duration_seconds: Some(LEASE_SECONDS),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            let mine = spec.holder_identity.as_deref() == Some(identity);
            if !mine && !expired(&lease) {
                return Ok(false);
            }
            let spec = lease.spec.get_or_insert_with(Default::default);
            if !mine {
                spec.holder_identity = Some(identity.to_string());
                spec.acquire_time = Some(now());
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(LEASE_SECONDS);
            match api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until `identity` holds the lease `name`, then keeps renewing it. The returned token
/// is cancelled when the lease is lost or `shutdown` comes.
pub async fn lead(
    client: kube::Client,
    name: &str,
    identity: &str,
    shutdown: CancellationToken,
) -> Option<CancellationToken> {
    let api: Api<Lease> = Api::namespaced(client, "kube-system");
    loop {
        match try_hold(&api, name, identity).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => warn!(%error, lease = name, "leader election failed; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    info!(lease = name, identity, "became leader");
    let leading = shutdown.child_token();
    let token = leading.clone();
    let (name, identity) = (Arc::<str>::from(name), Arc::<str>::from(identity));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(RENEW) => {}
            }
            match try_hold(&api, &name, &identity).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!(lease = %name, "lost leadership; stopping");
                    token.cancel();
                    return;
                }
                Err(error) => warn!(%error, lease = %name, "cannot renew the leader lease"),
            }
        }
    });
    Some(leading)
}
