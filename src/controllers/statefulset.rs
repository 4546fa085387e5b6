//! The StatefulSet controller: pods with stable names `<set>-<ordinal>` and their own
//! PersistentVolumeClaims `<claim>-<set>-<ordinal>`, as upstream runs them.
//!
//! - `OrderedReady`: one pod at a time, each created only when every lower ordinal is
//!   Running and Ready (and available for `minReadySeconds`); scaling down removes the
//!   highest ordinal first, one at a time, waiting for each to terminate. `Parallel`
//!   creates and deletes without waiting.
//! - Pods carry `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
//!   `controller-revision-hash` (the name of their ControllerRevision); the set's status
//!   names its `currentRevision` and `updateRevision`.
//! - RollingUpdate replaces pods from the highest ordinal down to `partition`, one at a
//!   time, each after the previous is healthy; OnDelete leaves that to the user.
//! - `persistentVolumeClaimRetentionPolicy`: `whenDeleted: Delete` makes the set an owner of
//!   its claims, `whenScaled: Delete` makes a condemned pod the owner of its claims, so the
//!   garbage collector removes them.
//!
//! Events as upstream words them: `create Pod web-0 in StatefulSet web successful`,
//! `create Claim data-web-0 Pod web-0 in StatefulSet web success`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, StatefulSet, StatefulSetSpec, StatefulSetStatus,
};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::controller_ref::{self, Owner};
use super::history::{self, CONTROLLER_REVISION_HASH, NewRevision, REVISION_HASH_LABEL};
use super::pod_control;
use super::{Context, ReconcileError, retry_later};

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The set's name and a pod's ordinal, from `<set>-<ordinal>`.
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

fn ordinal_of(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(pod.metadata.name.as_deref()?).map(|(_, o)| o)
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(CONTROLLER_REVISION_HASH)
        .map(String::as_str)
}

fn is_created(pod: &Pod) -> bool {
    pod.metadata.uid.is_some()
}

fn is_running_and_ready(pod: &Pod) -> bool {
    pod_control::phase(pod) == "Running" && pod_control::is_ready(pod)
}

fn is_running_and_available(pod: &Pod, min_ready: i32, now: i64) -> bool {
    pod_control::phase(pod) == "Running" && pod_control::is_available(pod, min_ready, now)
}

fn is_healthy(pod: &Pod) -> bool {
    is_running_and_ready(pod) && !pod_control::is_terminating(pod)
}

/// The set's spec, with the defaults upstream's API applies.
struct Plan {
    name: String,
    namespace: String,
    start: i32,
    replicas: i32,
    min_ready: i32,
    monotonic: bool,
    on_delete: bool,
    partition: i32,
    when_deleted_delete: bool,
    when_scaled_delete: bool,
}

impl Plan {
    fn new(set: &StatefulSet, spec: &StatefulSetSpec) -> Plan {
        let strategy = spec.update_strategy.as_ref();
        let policy = spec.persistent_volume_claim_retention_policy.as_ref();
        Plan {
            name: set.metadata.name.clone().unwrap_or_default(),
            namespace: set.metadata.namespace.clone().unwrap_or_default(),
            start: spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0),
            replicas: spec.replicas.unwrap_or(1),
            min_ready: spec.min_ready_seconds.unwrap_or(0),
            monotonic: spec.pod_management_policy.as_deref() != Some("Parallel"),
            on_delete: strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete"),
            partition: strategy
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.partition)
                .unwrap_or(0),
            when_deleted_delete: policy.and_then(|p| p.when_deleted.as_deref()) == Some("Delete"),
            when_scaled_delete: policy.and_then(|p| p.when_scaled.as_deref()) == Some("Delete"),
        }
    }

    fn in_range(&self, ordinal: i32) -> bool {
        ordinal >= self.start && ordinal < self.start + self.replicas
    }

    fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.name)
    }

    fn claim_name(&self, claim: &str, ordinal: i32) -> String {
        format!("{claim}-{}-{ordinal}", self.name)
    }
}

/// One sync of one StatefulSet.
struct Sync<'a> {
    ctx: &'a Context,
    set: StatefulSet,
    spec: StatefulSetSpec,
    owner: Owner,
    plan: Plan,
    pods: Api<Pod>,
    claims: Api<PersistentVolumeClaim>,
}

/// Whether a sync step lets the next one run.
enum Step {
    Next,
    Wait,
}

impl Sync<'_> {
    fn event(&self, warning: bool, reason: &str, message: &str) {
        let about = self.owner.reference();
        if warning {
            self.ctx.events.warning(&about, reason, message);
        } else {
            self.ctx.events.normal(&about, reason, message);
        }
    }

    fn pod_event(&self, verb: &str, pod: &str, error: Option<&str>) {
        let title = format!("{}{}", verb[..1].to_uppercase(), &verb[1..]);
        match error {
            None => self.event(
                false,
                &format!("Successful{title}"),
                &format!(
                    "{verb} Pod {pod} in StatefulSet {} successful",
                    self.plan.name
                ),
            ),
            Some(e) => self.event(
                true,
                &format!("Failed{title}"),
                &format!(
                    "{verb} Pod {pod} in StatefulSet {} failed error: {e}",
                    self.plan.name
                ),
            ),
        }
    }

    /// A new pod for `ordinal` from `template`, at `revision`.
    fn new_pod(&self, template: &PodTemplateSpec, revision: &str, ordinal: i32) -> Pod {
        let mut pod = pod_control::pod_from_template(template, "", &self.owner.controller_ref());
        let name = self.plan.pod_name(ordinal);
        pod.metadata.generate_name = None;
        pod.metadata.name = Some(name.clone());
        pod.metadata.namespace = Some(self.plan.namespace.clone());
        let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(POD_NAME_LABEL.into(), name.clone());
        labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
        labels.insert(CONTROLLER_REVISION_HASH.into(), revision.into());
        let spec = pod.spec.get_or_insert_with(Default::default);
        spec.hostname = Some(name);
        if let Some(service) = self.spec.service_name.as_ref().filter(|s| !s.is_empty()) {
            spec.subdomain = Some(service.clone());
        }
        // Claims replace template volumes of the same name.
        let templates = self.spec.volume_claim_templates.clone().unwrap_or_default();
        let mut volumes: Vec<Volume> = templates
            .iter()
            .map(|claim| {
                let claim_name = claim.metadata.name.clone().unwrap_or_default();
                Volume {
                    name: claim_name.clone(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: self.plan.claim_name(&claim_name, ordinal),
                        read_only: None,
                    }),
                    ..Default::default()
                }
            })
            .collect();
        let claimed: HashSet<String> = volumes.iter().map(|v| v.name.clone()).collect();
        volumes.extend(
            spec.volumes
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|v| !claimed.contains(&v.name)),
        );
        spec.volumes = (!volumes.is_empty()).then_some(volumes);
        pod
    }

    /// The claims of the pod with `ordinal`, as the templates describe them.
    fn claims_for(&self, ordinal: i32) -> Vec<PersistentVolumeClaim> {
        let selector_labels = self.spec.selector.match_labels.clone().unwrap_or_default();
        self.spec
            .volume_claim_templates
            .iter()
            .flatten()
            .map(|template| {
                let mut claim = template.clone();
                let name = claim.metadata.name.clone().unwrap_or_default();
                claim.metadata.name = Some(self.plan.claim_name(&name, ordinal));
                claim.metadata.namespace = Some(self.plan.namespace.clone());
                claim
                    .metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .extend(selector_labels.clone());
                claim.status = None;
                claim
            })
            .collect()
    }

    /// Creates the pod's missing claims; an error names the first that failed or is being
    /// deleted.
    async fn create_claims(&self, pod: &str, ordinal: i32) -> Result<(), String> {
        for claim in self.claims_for(ordinal) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            match self.claims.get_opt(&name).await {
                Ok(Some(existing)) if existing.metadata.deletion_timestamp.is_some() => {
                    return Err(format!("pvc {name} is being deleted"));
                }
                Ok(Some(_)) => {}
                Ok(None) => match self.claims.create(&PostParams::default(), &claim).await {
                    Ok(_) => self.event(
                        false,
                        "SuccessfulCreate",
                        &format!(
                            "create Claim {name} Pod {pod} in StatefulSet {} success",
                            self.plan.name
                        ),
                    ),
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => {
                        let message = pod_control::api_message(&e);
                        self.event(
                            true,
                            "FailedCreate",
                            &format!(
                                "create Claim {name} for Pod {pod} in StatefulSet {} failed error: {message}",
                                self.plan.name
                            ),
                        );
                        return Err(format!("failed to create PVC {name}: {message}"));
                    }
                },
                Err(e) => {
                    return Err(format!(
                        "failed to retrieve PVC {name}: {}",
                        pod_control::api_message(&e)
                    ));
                }
            }
        }
        Ok(())
    }

    /// A claim still owned by an earlier pod of the same name (the collector will delete it).
    async fn claim_is_stale(
        &self,
        ordinal: i32,
        pod_uid: Option<&str>,
    ) -> Result<bool, ReconcileError> {
        let pod_name = self.plan.pod_name(ordinal);
        for claim in self.claims_for(ordinal) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if let Some(existing) = self.claims.get_opt(&name).await? {
                let stale = existing
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| {
                        r.kind == "Pod" && r.name == pod_name && Some(r.uid.as_str()) != pod_uid
                    });
                if stale {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Brings the owner references of a pod's claims in line with the retention policy.
    async fn apply_retention(&self, pod: &Pod, ordinal: i32) -> Result<(), ReconcileError> {
        let set_ref = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            name: self.plan.name.clone(),
            uid: self.owner.uid.clone(),
            ..Default::default()
        };
        let pod_ref = pod.metadata.uid.clone().map(|uid| OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid,
            ..Default::default()
        });
        let scaled_down = !self.plan.in_range(ordinal);
        let want_set =
            self.plan.when_deleted_delete && !(self.plan.when_scaled_delete && scaled_down);
        let want_pod = self.plan.when_scaled_delete && scaled_down;
        for claim in self.claims_for(ordinal) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            let Some(existing) = self.claims.get_opt(&name).await? else {
                continue;
            };
            let mut references: Vec<OwnerReference> = existing
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default();
            let before = references.clone();
            references.retain(|r| r.uid != set_ref.uid || want_set);
            if want_set && !references.iter().any(|r| r.uid == set_ref.uid) {
                references.push(set_ref.clone());
            }
            if let Some(pod_ref) = &pod_ref {
                references.retain(|r| r.uid != pod_ref.uid || want_pod);
                if want_pod && !references.iter().any(|r| r.uid == pod_ref.uid) {
                    references.push(pod_ref.clone());
                }
            }
            if references == before {
                continue;
            }
            let value = if references.is_empty() {
                json!(null)
            } else {
                json!(references)
            };
            let patch = json!({"metadata": {"ownerReferences": value,
                "resourceVersion": existing.metadata.resource_version}});
            match self
                .claims
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn create_pod(&self, pod: &Pod, ordinal: i32) -> Result<(), ReconcileError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if let Err(message) = self.create_claims(&name, ordinal).await {
            self.pod_event("create", &name, Some(&message));
            return Err(ReconcileError::Request(message));
        }
        match self.pods.create(&PostParams::default(), pod).await {
            Ok(created) => {
                self.apply_retention(&created, ordinal).await?;
                self.pod_event("create", &name, None);
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => {
                self.pod_event("create", &name, Some(&pod_control::api_message(&e)));
                Err(e.into())
            }
        }
    }

    async fn delete_pod(&self, pod: &Pod) -> Result<(), ReconcileError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.pods.delete(&name, &params).await {
            Ok(_) => {
                self.pod_event("delete", &name, None);
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => {
                self.pod_event("delete", &name, Some(&pod_control::api_message(&e)));
                Err(e.into())
            }
        }
    }

    /// Restores a pod's identity labels if someone removed them.
    async fn fix_identity(&self, pod: &Pod, ordinal: i32) -> Result<(), ReconcileError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        if labels.get(POD_NAME_LABEL) == Some(&name)
            && labels.get(POD_INDEX_LABEL) == Some(&ordinal.to_string())
        {
            return Ok(());
        }
        let patch = json!({"metadata": {"labels": {POD_NAME_LABEL: name, POD_INDEX_LABEL: ordinal.to_string()}}});
        match self
            .pods
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => self.pod_event("update", &name, None),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                self.pod_event("update", &name, Some(&pod_control::api_message(&e)));
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// One live replica: replace it if finished, create it if missing, and in ordered mode
    /// wait for it to be Running, Ready and available.
    async fn process_replica(
        &self,
        pod: &Pod,
        ordinal: i32,
        now: i64,
    ) -> Result<Step, ReconcileError> {
        if is_created(pod) && pod_control::is_terminal(pod) {
            if !pod_control::is_terminating(pod) {
                self.delete_pod(pod).await?;
            }
            // Recreated once it is gone.
            return Ok(Step::Wait);
        }
        if !is_created(pod) {
            if self.claim_is_stale(ordinal, None).await? {
                return Ok(Step::Wait);
            }
            self.create_pod(pod, ordinal).await?;
            return Ok(if self.plan.monotonic {
                Step::Wait
            } else {
                Step::Next
            });
        }
        if pod_control::phase(pod) == "Pending" {
            let name = pod.metadata.name.clone().unwrap_or_default();
            self.create_claims(&name, ordinal)
                .await
                .map_err(ReconcileError::Request)?;
        }
        if self.plan.monotonic
            && (pod_control::is_terminating(pod)
                || !is_running_and_ready(pod)
                || !is_running_and_available(pod, self.plan.min_ready, now))
        {
            return Ok(Step::Wait);
        }
        self.fix_identity(pod, ordinal).await?;
        self.apply_retention(pod, ordinal).await?;
        Ok(Step::Next)
    }

    /// One pod beyond the replica count: delete it, in ordered mode only once it is the
    /// first unhealthy pod or every pod is healthy.
    async fn process_condemned(
        &self,
        pod: &Pod,
        first_unhealthy: Option<&str>,
        now: i64,
    ) -> Result<Step, ReconcileError> {
        if pod_control::is_terminating(pod) {
            return Ok(if self.plan.monotonic {
                Step::Wait
            } else {
                Step::Next
            });
        }
        let is_first_unhealthy =
            first_unhealthy.is_some() && pod.metadata.name.as_deref() == first_unhealthy;
        if self.plan.monotonic
            && !is_first_unhealthy
            && (!is_running_and_ready(pod)
                || !is_running_and_available(pod, self.plan.min_ready, now))
        {
            return Ok(Step::Wait);
        }
        self.delete_pod(pod).await?;
        Ok(if self.plan.monotonic {
            Step::Wait
        } else {
            Step::Next
        })
    }

    /// Which revision a new pod at `ordinal` gets: below the partition the current one.
    fn revision_for<'r>(
        &self,
        ordinal: i32,
        current: &'r ControllerRevision,
        update: &'r ControllerRevision,
    ) -> &'r ControllerRevision {
        let rolling = !self.plan.on_delete;
        if rolling && ordinal < self.plan.start + self.plan.partition {
            current
        } else {
            update
        }
    }

    async fn update(
        &self,
        pods: &[Pod],
        current: &ControllerRevision,
        update: &ControllerRevision,
    ) -> Result<Option<Duration>, ReconcileError> {
        let now = pod_control::now();
        let plan = &self.plan;
        let mut replicas: Vec<Option<Pod>> =
            vec![None; usize::try_from(plan.replicas.max(0)).unwrap_or(0)];
        let mut condemned: Vec<(i32, &Pod)> = Vec::new();
        for pod in pods {
            let Some(ordinal) = ordinal_of(pod) else {
                continue;
            };
            if plan.in_range(ordinal) {
                if let Some(slot) = usize::try_from(ordinal - plan.start)
                    .ok()
                    .and_then(|i| replicas.get_mut(i))
                {
                    *slot = Some(pod.clone());
                }
            } else if ordinal >= 0 {
                condemned.push((ordinal, pod));
            }
        }
        let current_template =
            history::template_of(current).unwrap_or_else(|| self.spec.template.clone());
        let update_template =
            history::template_of(update).unwrap_or_else(|| self.spec.template.clone());
        let replicas: Vec<(i32, Pod)> = replicas
            .into_iter()
            .enumerate()
            .map(|(i, pod)| {
                let ordinal = plan.start + i32::try_from(i).unwrap_or(0);
                let pod = pod.unwrap_or_else(|| {
                    let revision = self.revision_for(ordinal, current, update);
                    let template = if std::ptr::eq(revision, current) {
                        &current_template
                    } else {
                        &update_template
                    };
                    self.new_pod(
                        template,
                        revision.metadata.name.as_deref().unwrap_or_default(),
                        ordinal,
                    )
                });
                (ordinal, pod)
            })
            .collect();
        // Highest ordinal first.
        condemned.sort_by_key(|c| std::cmp::Reverse(c.0));
        let first_unhealthy: Option<String> = replicas
            .iter()
            .map(|(_, p)| p)
            .chain(condemned.iter().rev().map(|(_, p)| *p))
            .find(|p| !is_healthy(p))
            .and_then(|p| p.metadata.name.clone());
        if self.owner.deleting {
            return Ok(None);
        }
        for (ordinal, pod) in &replicas {
            if let Step::Wait = self.process_replica(pod, *ordinal, now).await? {
                return Ok(self.wait_for_availability(pod, now));
            }
        }
        for (ordinal, pod) in &condemned {
            self.apply_retention(pod, *ordinal).await?;
        }
        for (_, pod) in &condemned {
            if let Step::Wait = self
                .process_condemned(pod, first_unhealthy.as_deref(), now)
                .await?
            {
                return Ok(self.wait_for_availability(pod, now));
            }
        }
        if plan.on_delete {
            return Ok(None);
        }
        let update_name = update.metadata.name.as_deref().unwrap_or_default();
        for (ordinal, pod) in replicas.iter().rev() {
            if *ordinal < plan.start + plan.partition {
                break;
            }
            if revision_of(pod) != Some(update_name) && !pod_control::is_terminating(pod) {
                self.delete_pod(pod).await?;
                return Ok(None);
            }
            if !is_healthy(pod) {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// When a ready pod we wait for becomes available.
    fn wait_for_availability(&self, pod: &Pod, now: i64) -> Option<Duration> {
        pod_control::seconds_until_available(pod, self.plan.min_ready, now).map(Duration::from_secs)
    }

    /// The current and update revisions; creates the update revision, or moves an equal
    /// older one to the top (a rollback).
    async fn revisions(
        &self,
        revisions: &[ControllerRevision],
    ) -> Result<(ControllerRevision, ControllerRevision, i32), ReconcileError> {
        let status = self.set.status.clone().unwrap_or_default();
        let collisions = status.collision_count.unwrap_or(0);
        let data = history::revision_data(&self.spec.template);
        let equal: Vec<&ControllerRevision> = revisions
            .iter()
            .filter(|r| history::same_data(r, &data))
            .collect();
        let next = history::next_revision(revisions);
        let (update, collisions) = match (equal.last(), revisions.last()) {
            (Some(found), Some(last)) if found.metadata.name == last.metadata.name => {
                ((*found).clone(), collisions)
            }
            (Some(found), _) => (history::renumber(self.ctx, found, next).await?, collisions),
            (None, _) => {
                let mut labels = self
                    .spec
                    .template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                let hash = history::revision_hash(&data, Some(collisions).filter(|c| *c > 0));
                labels.insert(REVISION_HASH_LABEL.into(), hash.clone());
                let new = NewRevision {
                    hash,
                    labels,
                    annotations: self.set.metadata.annotations.clone(),
                    data: data.clone(),
                    revision: next,
                };
                history::create(self.ctx, &self.owner, new, collisions, |c| {
                    history::revision_hash(&data, Some(c))
                })
                .await?
            }
        };
        let current = revisions
            .iter()
            .find(|r| r.metadata.name.is_some() && r.metadata.name == status.current_revision)
            .cloned()
            .unwrap_or_else(|| update.clone());
        Ok((current, update, collisions))
    }
}

fn count(pods: &[&Pod], test: impl Fn(&Pod) -> bool) -> i32 {
    i32::try_from(pods.iter().filter(|p| test(p)).count()).unwrap_or(i32::MAX)
}

async fn reconcile(object: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    controller_ref::wait_fresh(&ctx).await?;
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let Some(set) = controller_ref::cached_one::<StatefulSet>(&ctx, Some(&namespace), &name) else {
        return Ok(Action::await_change());
    };
    let Some(spec) = set.spec.clone() else {
        return Ok(Action::await_change());
    };
    let Some(selector) = controller_ref::selector(&spec.selector) else {
        return Ok(Action::await_change());
    };
    let owner = Owner::new("apps/v1", "StatefulSet", &set.metadata);
    let sync = Sync {
        ctx: &ctx,
        plan: Plan::new(&set, &spec),
        pods: Api::namespaced(ctx.client.clone(), &namespace),
        claims: Api::namespaced(ctx.client.clone(), &namespace),
        owner,
        spec,
        set,
    };
    let result = run_sync(&sync, &selector).await;
    match result {
        Ok(requeue) => Ok(requeue.map_or_else(Action::await_change, Action::requeue)),
        Err(ReconcileError::Api(kube::Error::Api(e))) if e.code == 409 => {
            Ok(Action::requeue(Duration::from_millis(200)))
        }
        Err(e) => Err(e),
    }
}

async fn run_sync(
    sync: &Sync<'_>,
    selector: &crate::api::selector::LabelSelector,
) -> Result<Option<Duration>, ReconcileError> {
    let owner = &sync.owner;
    let candidates: Vec<Pod> = controller_ref::cached(sync.ctx, Some(&owner.namespace), |o| {
        controller_ref::may_belong(o, &owner.uid, selector)
    });
    let set_name = sync.plan.name.clone();
    let pods = controller_ref::claim(sync.ctx, owner, candidates, |p| {
        let member = p
            .metadata
            .name
            .as_deref()
            .and_then(parent_and_ordinal)
            .is_some_and(|(parent, _)| parent == set_name);
        member && selector.matches(&p.metadata.labels.clone().unwrap_or_default())
    })
    .await?;
    let revisions = history::owned(sync.ctx, owner, &sync.spec.selector).await?;
    let (current, update, collisions) = sync.revisions(&revisions).await?;
    let outcome = sync.update(&pods, &current, &update).await;

    // Status, from the pods as they are now.
    let now = pod_control::now();
    let fresh: Vec<Pod> = controller_ref::cached(sync.ctx, Some(&owner.namespace), |o| {
        controller_ref::may_belong(o, &owner.uid, selector)
    })
    .into_iter()
    .filter(|p: &Pod| controller_ref::is_controlled_by(&p.metadata, &owner.uid))
    .collect();
    let refs: Vec<&Pod> = fresh.iter().collect();
    let current_name = current.metadata.name.clone().unwrap_or_default();
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let live = |p: &Pod| !pod_control::is_terminating(p);
    let old = sync.set.status.clone().unwrap_or_default();
    let mut status = StatefulSetStatus {
        observed_generation: sync.set.metadata.generation,
        replicas: count(&refs, |_| true),
        ready_replicas: Some(count(&refs, is_running_and_ready)),
        available_replicas: Some(count(&refs, |p| {
            is_running_and_available(p, sync.plan.min_ready, now)
        })),
        current_replicas: Some(count(&refs, |p| {
            live(p) && revision_of(p) == Some(&current_name)
        })),
        updated_replicas: Some(count(&refs, |p| {
            live(p) && revision_of(p) == Some(&update_name)
        })),
        current_revision: Some(current_name),
        update_revision: Some(update_name),
        collision_count: Some(collisions),
        conditions: old.conditions.clone(),
    };
    // A rolling update is complete once every pod runs the update revision and is ready.
    if !sync.plan.on_delete
        && status.updated_replicas == Some(status.replicas)
        && status.ready_replicas == Some(status.replicas)
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
    let api: Api<StatefulSet> = Api::namespaced(sync.ctx.client.clone(), &owner.namespace);
    controller_ref::write_status(&api, &owner.name, &old, &status).await?;
    // Keep `revisionHistoryLimit` revisions besides those in use.
    let mut live_revisions: HashSet<String> = fresh
        .iter()
        .filter_map(|p| revision_of(p).map(str::to_string))
        .collect();
    live_revisions.extend(status.current_revision.clone());
    live_revisions.extend(status.update_revision.clone());
    let all_revisions = history::owned(sync.ctx, owner, &sync.spec.selector).await?;
    history::truncate(
        sync.ctx,
        &all_revisions,
        &live_revisions,
        |r| r.metadata.name.clone(),
        sync.spec.revision_history_limit.unwrap_or(10),
    )
    .await?;
    let requeue = outcome?;
    let min_ready = sync.plan.min_ready;
    if min_ready > 0 && status.available_replicas != Some(sync.plan.replicas) {
        return Ok(Some(requeue.unwrap_or(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(1),
        ))));
    }
    Ok(requeue)
}

/// The controller; it subscribes to the shared pod events at once, the rest runs when
/// polled.
pub fn run(ctx: Context, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    let pods = ctx.pods.subscribe();
    async move {
        let sets: Api<StatefulSet> = Api::all(ctx.client.clone());
        let lookup = ctx.clone();
        Controller::new(sets, watcher::Config::default())
            .watches_shared_stream(pods, move |pod: Arc<Pod>| {
                let name = pod.metadata.name.clone().unwrap_or_default();
                controller_ref::owners_to_sync(
                    &lookup,
                    &pod.metadata,
                    |set: &StatefulSet, labels| {
                        let member = parent_and_ordinal(&name).is_some_and(|(parent, _)| {
                            Some(parent) == set.metadata.name.as_deref()
                        });
                        member
                            && set
                                .spec
                                .as_ref()
                                .and_then(|s| controller_ref::selector(&s.selector))
                                .is_some_and(|s| s.matches(labels))
                    },
                )
            })
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(reconcile, retry_later, Arc::new(ctx))
            .for_each(|_| async {})
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_parent_and_ordinal() {
        assert_eq!(parent_and_ordinal("web-0"), Some(("web", 0)));
        assert_eq!(parent_and_ordinal("my-db-12"), Some(("my-db", 12)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
    }

    #[test]
    fn the_plan_reads_defaults() {
        let set: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                "template": {"metadata": {"labels": {"app": "web"}}},
            },
        }))
        .unwrap();
        let plan = Plan::new(&set, set.spec.as_ref().unwrap());
        assert!(!plan.monotonic);
        assert_eq!(plan.partition, 2);
        assert!(plan.when_deleted_delete && !plan.when_scaled_delete);
        assert!(plan.in_range(2) && !plan.in_range(3));
        assert_eq!(plan.claim_name("data", 1), "data-web-1");
    }
}
