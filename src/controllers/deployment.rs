//! The Deployment controller: rolls a Deployment's pod template out through ReplicaSets
//! named `<deployment>-<pod-template-hash>`, as upstream does.
//!
//! - RollingUpdate grows the new ReplicaSet within `maxSurge` and shrinks old ones within
//!   `maxUnavailable`; Recreate scales old ReplicaSets to zero, waits for their pods to go,
//!   then scales the new one up. Each resize is a `ScalingReplicaSet` event.
//! - Revisions live in the ReplicaSets' `deployment.kubernetes.io/revision` annotations;
//!   `kubectl rollout undo` copies an old ReplicaSet's template back, which makes that
//!   ReplicaSet new again with the next revision. Old ReplicaSets beyond
//!   `revisionHistoryLimit` are deleted once scaled down.
//! - A paused Deployment is only scaled; scaling a Deployment mid-rollout spreads the change
//!   over its ReplicaSets in proportion to their size.
//! - Status: replica counters summed over the ReplicaSets, the `Available` condition, and the
//!   `Progressing` condition, which turns to `ProgressDeadlineExceeded` when a rollout makes
//!   no progress for `progressDeadlineSeconds`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::controller_ref::{self, Owner};
use super::deployment_util::{self as util, rs_replicas};
use super::history::template_hash;
use super::pod_control;
use super::{Context, ReconcileError, retry_later};

/// One sync of one Deployment; `d` is kept equal to what was last written.
struct Rollout<'a> {
    ctx: &'a Context,
    owner: Owner,
    d: Deployment,
    sets: Api<ReplicaSet>,
    deployments: Api<Deployment>,
}

/// How a sync ended.
type Synced = Result<Option<Duration>, ReconcileError>;

impl Rollout<'_> {
    fn name(&self) -> &str {
        &self.owner.name
    }

    fn spec(&self) -> k8s_openapi::api::apps::v1::DeploymentSpec {
        self.d.spec.clone().unwrap_or_default()
    }

    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    fn event(&self, warning: bool, reason: &str, message: &str) {
        let about = self.owner.reference();
        if warning {
            self.ctx.events.warning(&about, reason, message);
        } else {
            self.ctx.events.normal(&about, reason, message);
        }
    }

    /// The ReplicaSets this Deployment controls, adopting orphans its selector matches.
    async fn claim_replica_sets(&self) -> Result<Vec<ReplicaSet>, ReconcileError> {
        let spec = self.spec();
        let Some(selector) = controller_ref::selector(&spec.selector) else {
            return Ok(Vec::new());
        };
        let candidates: Vec<ReplicaSet> =
            controller_ref::cached(self.ctx, Some(&self.owner.namespace), |o| {
                controller_ref::may_belong(o, &self.owner.uid, &selector)
            });
        controller_ref::claim(self.ctx, &self.owner, candidates, |rs| {
            selector.matches(&rs.metadata.labels.clone().unwrap_or_default())
        })
        .await
    }

    async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), ReconcileError> {
        let old = self.status();
        if old == status {
            return Ok(());
        }
        let patch = controller_ref::status_patch(&old, &status);
        self.deployments
            .patch_status(self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        self.d.status = Some(status);
        Ok(())
    }

    /// Sets the Deployment's revision annotation (a write of the main resource: status
    /// writes keep metadata).
    async fn set_revision(&mut self, revision: &str) -> Result<(), ReconcileError> {
        let annotations = self
            .d
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        if annotations.get(util::REVISION).map(String::as_str) == Some(revision) {
            return Ok(());
        }
        annotations.insert(util::REVISION.into(), revision.into());
        let patch = json!({"metadata": {"annotations": {util::REVISION: revision}}});
        self.deployments
            .patch(self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    /// Splits the ReplicaSets into the new one and the old ones; brings an existing new
    /// ReplicaSet's annotations and `minReadySeconds` up to date, and the Deployment's
    /// revision.
    async fn split(
        &mut self,
        sets: Vec<ReplicaSet>,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), ReconcileError> {
        let (new, old) = util::split_new(&self.d, sets);
        let Some(mut new) = new else {
            return Ok((None, old));
        };
        let next = util::max_revision(&old) + 1;
        let min_ready = self.spec().min_ready_seconds;
        let changed = util::set_new_rs_annotations(&self.d, &mut new, next, true);
        let min_ready_changed = new
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
            != min_ready.unwrap_or(0);
        if changed || min_ready_changed {
            let patch = json!({
                "metadata": {"annotations": new.metadata.annotations},
                "spec": {"minReadySeconds": min_ready.unwrap_or(0)},
            });
            new = self
                .sets
                .patch(
                    new.metadata.name.as_deref().unwrap_or_default(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
        }
        let revision = util::annotation(&new, util::REVISION)
            .unwrap_or("0")
            .to_string();
        self.set_revision(&revision).await?;
        let mut status = self.status();
        if util::has_progress_deadline(&self.d)
            && util::condition(&status, util::PROGRESSING).is_none()
        {
            let message = format!(
                "Found new replica set {:?}",
                new.metadata.name.as_deref().unwrap_or_default()
            );
            util::set_condition(
                &mut status,
                util::new_condition(util::PROGRESSING, "True", util::FOUND_NEW_RS, &message),
            );
            self.write_status(status).await?;
        }
        Ok((Some(new), old))
    }

    /// Creates the new ReplicaSet for the current template.
    async fn create_new(&mut self, old: &[ReplicaSet]) -> Result<ReplicaSet, ReconcileError> {
        let spec = self.spec();
        let mut status = self.status();
        let hash = template_hash(&spec.template, status.collision_count);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(util::POD_TEMPLATE_HASH.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(util::POD_TEMPLATE_HASH.into(), hash.clone());
        let name = format!("{}-{hash}", self.name());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.owner.namespace.clone()),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                owner_references: Some(vec![self.owner.controller_ref()]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&rs)).collect();
        let replicas = util::new_rs_new_replicas(&self.d, &all, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(replicas);
        }
        util::set_new_rs_annotations(&self.d, &mut rs, util::max_revision(old) + 1, false);
        let (created, existed) = match self.sets.create(&PostParams::default(), &rs).await {
            Ok(created) => (created, false),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let existing = self.sets.get(&name).await?;
                let ours = controller_ref::is_controlled_by(&existing.metadata, &self.owner.uid);
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| util::equal_ignore_hash(t, &spec.template));
                if !(ours && same) {
                    // A hash collision: the next attempt hashes with a higher count.
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    self.write_status(status).await?;
                    return Err(ReconcileError::Request(format!(
                        "replica set {name} exists with another template; retrying with collision count {}",
                        self.status().collision_count.unwrap_or(0)
                    )));
                }
                (existing, true)
            }
            Err(e) => {
                let message = format!(
                    "Failed to create new replica set {name:?}: {}",
                    pod_control::api_message(&e)
                );
                if util::has_progress_deadline(&self.d) {
                    util::set_condition(
                        &mut status,
                        util::new_condition(
                            util::PROGRESSING,
                            "False",
                            util::FAILED_RS_CREATE,
                            &message,
                        ),
                    );
                    self.write_status(status).await?;
                }
                self.event(true, util::FAILED_RS_CREATE, &message);
                return Err(e.into());
            }
        };
        if !existed && replicas > 0 {
            self.event(
                false,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        let revision = util::annotation(&created, util::REVISION)
            .unwrap_or("0")
            .to_string();
        self.set_revision(&revision).await?;
        if !existed && util::has_progress_deadline(&self.d) {
            let mut status = self.status();
            util::set_condition(
                &mut status,
                util::new_condition(
                    util::PROGRESSING,
                    "True",
                    util::NEW_RS_CREATED,
                    &format!("Created new replica set {name:?}"),
                ),
            );
            self.write_status(status).await?;
        }
        Ok(created)
    }

    /// Resizes a ReplicaSet (and refreshes its replica annotations); true if resized.
    async fn scale(
        &self,
        rs: &ReplicaSet,
        size: i32,
        direction: &str,
    ) -> Result<(bool, ReplicaSet), ReconcileError> {
        let old_size = rs_replicas(rs);
        let desired = util::desired(&self.d);
        let max = desired + util::max_surge(&self.d);
        let mut copy = rs.clone();
        let annotations_changed = util::set_replicas_annotations(&mut copy, desired, max);
        if old_size == size && !annotations_changed {
            return Ok((false, rs.clone()));
        }
        let patch = json!({
            "metadata": {"annotations": {util::DESIRED_REPLICAS: desired.to_string(), util::MAX_REPLICAS: max.to_string()}},
            "spec": {"replicas": size},
        });
        let name = rs.metadata.name.clone().unwrap_or_default();
        let updated = self
            .sets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let resized = old_size != size;
        if resized {
            self.event(
                false,
                "ScalingReplicaSet",
                &format!("Scaled {direction} replica set {name} from {old_size} to {size}"),
            );
        }
        Ok((resized, updated))
    }

    async fn scale_and_record(
        &self,
        rs: &ReplicaSet,
        size: i32,
    ) -> Result<(bool, ReplicaSet), ReconcileError> {
        if rs_replicas(rs) == size {
            return Ok((false, rs.clone()));
        }
        let direction = if rs_replicas(rs) < size { "up" } else { "down" };
        self.scale(rs, size, direction).await
    }

    /// Scaling without a rollout (paused, or `spec.replicas` changed): the one active
    /// ReplicaSet takes the new size, or all share the change in proportion.
    async fn scale_sets(
        &self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<(), ReconcileError> {
        let desired = util::desired(&self.d);
        let mut newest_first = old.to_vec();
        util::by_creation(&mut newest_first);
        newest_first.reverse();
        let active: Vec<&ReplicaSet> = new
            .into_iter()
            .chain(newest_first.iter())
            .filter(|rs| rs_replicas(rs) > 0)
            .collect();
        let only = match active.len() {
            0 => new.or(newest_first.first()),
            1 => Some(active[0]),
            _ => None,
        };
        if let Some(rs) = only {
            if rs_replicas(rs) != desired {
                self.scale_and_record(rs, desired).await?;
            }
            return Ok(());
        }
        if util::is_saturated(&self.d, new) {
            for rs in old.iter().filter(|rs| rs_replicas(rs) > 0) {
                self.scale_and_record(rs, 0).await?;
            }
            return Ok(());
        }
        if !util::is_rolling(&self.d) {
            return Ok(());
        }
        let mut sets: Vec<ReplicaSet> = active.into_iter().cloned().collect();
        let total: i32 = sets.iter().map(rs_replicas).sum();
        let allowed = if desired > 0 {
            desired + util::max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - total;
        let direction = if to_add > 0 { "up" } else { "down" };
        // Larger first; among equals, newer first when growing and older first when shrinking.
        sets.sort_by(|a, b| {
            let by_size = rs_replicas(b).cmp(&rs_replicas(a));
            let by_age = a
                .metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp);
            by_size.then(if to_add > 0 { by_age.reverse() } else { by_age })
        });
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(sets.len());
        for rs in &sets {
            if to_add == 0 {
                sizes.push(rs_replicas(rs));
            } else {
                let share = util::proportion(rs, &self.d, to_add, added);
                sizes.push(rs_replicas(rs) + share);
                added += share;
            }
        }
        if to_add != 0
            && let Some(first) = sizes.first_mut()
        {
            *first = (*first + to_add - added).max(0);
        }
        for (rs, size) in sets.iter().zip(sizes) {
            self.scale(rs, size, direction).await?;
        }
        Ok(())
    }

    /// Deletes old, empty ReplicaSets beyond `revisionHistoryLimit`, lowest revision first.
    async fn clean_up(&self, old: &[ReplicaSet]) -> Result<(), ReconcileError> {
        let Some(limit) = self.spec().revision_history_limit else {
            return Ok(());
        };
        let mut alive: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = i64::try_from(alive.len()).unwrap_or(0) - i64::from(limit);
        if excess <= 0 {
            return Ok(());
        }
        alive.sort_by(|a, b| {
            util::revision(a).cmp(&util::revision(b)).then_with(|| {
                a.metadata
                    .creation_timestamp
                    .cmp(&b.metadata.creation_timestamp)
            })
        });
        for rs in alive.into_iter().take(usize::try_from(excess).unwrap_or(0)) {
            let status = rs.status.clone().unwrap_or_default();
            if status.replicas != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0)
            {
                continue;
            }
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: rs.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match self
                .sets
                .delete(rs.metadata.name.as_deref().unwrap_or_default(), &params)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn calculate_status(&self, all: &[&ReplicaSet], new: Option<&ReplicaSet>) -> DeploymentStatus {
        let sum = |sets: &[&ReplicaSet], f: &dyn Fn(&ReplicaSet) -> Option<i32>| -> i32 {
            sets.iter().map(|rs| f(rs).unwrap_or(0)).sum()
        };
        let actual = |rs: &ReplicaSet| rs.status.as_ref().map(|s| s.replicas);
        let available = sum(all, &|rs| {
            rs.status.as_ref().and_then(|s| s.available_replicas)
        });
        let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
        let old = self.status();
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: Some(sum(all, &actual)),
            updated_replicas: Some(new.map_or(0, |rs| actual(rs).unwrap_or(0))),
            ready_replicas: Some(sum(all, &|rs| {
                rs.status.as_ref().and_then(|s| s.ready_replicas)
            })),
            available_replicas: Some(available),
            unavailable_replicas: Some((total - available).max(0)),
            terminating_replicas: Some(sum(all, &|rs| {
                rs.status.as_ref().and_then(|s| s.terminating_replicas)
            })),
            collision_count: old.collision_count,
            conditions: old.conditions.clone(),
        };
        let condition = if available >= util::desired(&self.d) - util::max_unavailable(&self.d) {
            util::new_condition(
                util::AVAILABLE,
                "True",
                util::MIN_AVAILABLE,
                "Deployment has minimum availability.",
            )
        } else {
            util::new_condition(
                util::AVAILABLE,
                "False",
                util::MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.",
            )
        };
        util::set_condition(&mut status, condition);
        status
    }

    async fn sync_status(&mut self, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Synced {
        let all: Vec<&ReplicaSet> = old.iter().chain(new).collect();
        let status = self.calculate_status(&all, new);
        self.write_status(status).await?;
        Ok(None)
    }

    /// The status after a rollout step, with the `Progressing` condition brought up to date.
    async fn sync_rollout_status(
        &mut self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Synced {
        let all: Vec<&ReplicaSet> = old.iter().chain(new).collect();
        let mut status = self.calculate_status(&all, new);
        let deadline = util::has_progress_deadline(&self.d);
        if !deadline {
            util::remove_condition(&mut status, util::PROGRESSING);
        }
        let current = util::condition(&self.status(), util::PROGRESSING).cloned();
        let complete_before = status.replicas == status.updated_replicas
            && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(util::NEW_RS_AVAILABLE);
        let new_name = new.and_then(|rs| rs.metadata.name.clone());
        let subject = match &new_name {
            Some(name) => format!("ReplicaSet {name:?}"),
            None => format!("Deployment {:?}", self.name()),
        };
        if deadline && !complete_before {
            if util::complete(&self.d, &status) {
                let message = format!("{subject} has successfully progressed.");
                util::set_condition(
                    &mut status,
                    util::new_condition(
                        util::PROGRESSING,
                        "True",
                        util::NEW_RS_AVAILABLE,
                        &message,
                    ),
                );
            } else if util::progressing(&self.d, &status) {
                let message = format!("{subject} is progressing.");
                let mut condition =
                    util::new_condition(util::PROGRESSING, "True", util::RS_UPDATED, &message);
                if let Some(current) = &current {
                    if current.status == "True" {
                        condition.last_transition_time = current.last_transition_time.clone();
                    }
                    util::remove_condition(&mut status, util::PROGRESSING);
                }
                util::set_condition(&mut status, condition);
            } else if util::timed_out(&self.d, &status, pod_control::now()) {
                let message = format!("{subject} has timed out progressing.");
                util::set_condition(
                    &mut status,
                    util::new_condition(util::PROGRESSING, "False", util::TIMED_OUT, &message),
                );
            }
        }
        // A ReplicaSet's failure to create or delete pods shows on the Deployment.
        let failure = new.into_iter().chain(old.iter()).find_map(|rs| {
            rs.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == util::REPLICA_FAILURE)
                .map(util::replica_failure)
        });
        match failure {
            Some(condition) => util::set_condition(&mut status, condition),
            None => util::remove_condition(&mut status, util::REPLICA_FAILURE),
        }
        let requeue = self.requeue_stuck(&status);
        self.write_status(status).await?;
        Ok(requeue)
    }

    /// When to check whether a rollout without progress has passed its deadline.
    fn requeue_stuck(&self, status: &DeploymentStatus) -> Option<Duration> {
        if !util::has_progress_deadline(&self.d) || util::complete(&self.d, status) {
            return None;
        }
        let current = util::condition(status, util::PROGRESSING)?;
        if current.reason.as_deref() == Some(util::TIMED_OUT) {
            return None;
        }
        let updated = current.last_update_time.as_ref()?.0.as_second();
        let after = updated + util::progress_deadline(&self.d) - pod_control::now();
        Some(Duration::from_secs(
            u64::try_from(after.max(0)).unwrap_or(0) + 1,
        ))
    }

    /// The `Progressing` condition says when a Deployment is paused or resumed.
    async fn check_paused(&mut self) -> Result<(), ReconcileError> {
        if !util::has_progress_deadline(&self.d) {
            return Ok(());
        }
        let mut status = self.status();
        let reason = util::condition(&status, util::PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(util::TIMED_OUT) {
            return Ok(());
        }
        let paused = self.spec().paused.unwrap_or(false);
        let has_paused = reason.as_deref() == Some(util::PAUSED);
        let condition = if paused && !has_paused {
            util::new_condition(
                util::PROGRESSING,
                "Unknown",
                util::PAUSED,
                "Deployment is paused",
            )
        } else if !paused && has_paused {
            util::new_condition(
                util::PROGRESSING,
                "Unknown",
                util::RESUMED,
                "Deployment is resumed",
            )
        } else {
            return Ok(());
        };
        util::set_condition(&mut status, condition);
        self.write_status(status).await
    }

    /// Whether `spec.replicas` differs from what an active ReplicaSet was last sized for.
    fn is_scaling_event(&self, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> bool {
        let desired = util::desired(&self.d);
        new.into_iter()
            .chain(old.iter())
            .filter(|rs| rs_replicas(rs) > 0)
            .any(|rs| util::desired_annotation(rs).is_some_and(|d| d != desired))
    }

    /// Scaling only (paused, or a change of `spec.replicas`).
    async fn sync(&mut self, new: Option<ReplicaSet>, old: Vec<ReplicaSet>) -> Synced {
        self.scale_sets(new.as_ref(), &old).await?;
        if self.spec().paused.unwrap_or(false) {
            self.clean_up(&old).await?;
        }
        // Counters come from the ReplicaSets' next status; sizes changed meanwhile are
        // picked up when their updates arrive.
        self.sync_status(new.as_ref(), &old).await
    }

    async fn rolling(&mut self, new: Option<ReplicaSet>, mut old: Vec<ReplicaSet>) -> Synced {
        let mut new = match new {
            Some(new) => new,
            None => self.create_new(&old).await?,
        };
        // Scale up, if we can.
        let target = {
            let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&new)).collect();
            let desired = util::desired(&self.d);
            if rs_replicas(&new) > desired {
                desired
            } else {
                util::new_rs_new_replicas(&self.d, &all, &new)
            }
        };
        if rs_replicas(&new) != target {
            let (scaled, updated) = self.scale_and_record(&new, target).await?;
            new = updated;
            if scaled {
                return self.sync_rollout_status(Some(&new), &old).await;
            }
        }
        // Scale down, if we can.
        if self.scale_down_old(&new, &mut old).await? {
            return self.sync_rollout_status(Some(&new), &old).await;
        }
        let status = self.status();
        if util::complete(&self.d, &status) {
            self.clean_up(&old).await?;
        }
        self.sync_rollout_status(Some(&new), &old).await
    }

    /// Shrinks old ReplicaSets as far as `maxUnavailable` allows: unhealthy replicas first,
    /// then available ones, oldest ReplicaSet first. True if any shrank.
    async fn scale_down_old(
        &self,
        new: &ReplicaSet,
        old: &mut [ReplicaSet],
    ) -> Result<bool, ReconcileError> {
        let old_count: i32 = old.iter().map(rs_replicas).sum();
        if old_count == 0 {
            return Ok(false);
        }
        let all_count = old_count + rs_replicas(new);
        let min_available = util::desired(&self.d) - util::max_unavailable(&self.d);
        let new_unavailable = rs_replicas(new) - util::rs_available(new);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        util::by_creation(old);
        // Unhealthy replicas of old ReplicaSets go first.
        let mut cleaned = 0;
        for rs in old.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let unhealthy = rs_replicas(rs) - util::rs_available(rs);
            if rs_replicas(rs) == 0 || unhealthy <= 0 {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(unhealthy);
            let (_, updated) = self.scale_and_record(rs, rs_replicas(rs) - down).await?;
            *rs = updated;
            cleaned += down;
        }
        // Then available replicas, keeping `minAvailable`.
        let available: i32 =
            old.iter().map(util::rs_available).sum::<i32>() + util::rs_available(new);
        let mut scaled = 0;
        if available > min_available {
            let budget = available - min_available;
            for rs in old.iter_mut() {
                if scaled >= budget {
                    break;
                }
                if rs_replicas(rs) == 0 {
                    continue;
                }
                let down = rs_replicas(rs).min(budget - scaled);
                let (_, updated) = self.scale_and_record(rs, rs_replicas(rs) - down).await?;
                *rs = updated;
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    async fn recreate(
        &mut self,
        new: Option<ReplicaSet>,
        mut old: Vec<ReplicaSet>,
        sets: &[ReplicaSet],
    ) -> Synced {
        let mut scaled_down = false;
        for rs in old.iter_mut().filter(|rs| rs_replicas(rs) > 0) {
            let (scaled, updated) = self.scale_and_record(rs, 0).await?;
            scaled_down |= scaled;
            *rs = updated;
        }
        if scaled_down || self.old_pods_running(new.as_ref(), &old, sets) {
            return self.sync_rollout_status(new.as_ref(), &old).await;
        }
        let new = match new {
            Some(new) => new,
            None => self.create_new(&old).await?,
        };
        let (_, new) = self.scale_and_record(&new, util::desired(&self.d)).await?;
        let status = self.status();
        if util::complete(&self.d, &status) {
            self.clean_up(&old).await?;
        }
        self.sync_rollout_status(Some(&new), &old).await
    }

    /// Whether pods of old ReplicaSets still run (Recreate waits for them to go).
    fn old_pods_running(
        &self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
        sets: &[ReplicaSet],
    ) -> bool {
        if old
            .iter()
            .any(|rs| rs.status.as_ref().is_some_and(|s| s.replicas > 0))
        {
            return true;
        }
        let new_uid = new.and_then(|rs| rs.metadata.uid.clone());
        let old_uids: Vec<String> = sets
            .iter()
            .filter_map(|rs| rs.metadata.uid.clone())
            .filter(|uid| Some(uid) != new_uid.as_ref())
            .collect();
        if old_uids.is_empty() {
            return false;
        }
        controller_ref::cached::<Pod>(self.ctx, Some(&self.owner.namespace), |o| {
            old_uids
                .iter()
                .any(|uid| o.json.windows(uid.len()).any(|w| w == uid.as_bytes()))
        })
        .iter()
        .filter(|p| {
            controller_ref::controller_of(&p.metadata).is_some_and(|r| old_uids.contains(&r.uid))
        })
        .any(|p| !pod_control::is_terminal(p))
    }
}

async fn reconcile(object: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    controller_ref::wait_fresh(&ctx).await?;
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let Some(d) = controller_ref::cached_one::<Deployment>(&ctx, Some(&namespace), &name) else {
        return Ok(Action::await_change());
    };
    let Some(spec) = d.spec.clone() else {
        return Ok(Action::await_change());
    };
    let mut rollout = Rollout {
        ctx: &ctx,
        owner: Owner::new("apps/v1", "Deployment", &d.metadata),
        sets: Api::namespaced(ctx.client.clone(), &namespace),
        deployments: Api::namespaced(ctx.client.clone(), &namespace),
        d,
    };
    if controller_ref::selects_everything(&spec.selector) {
        rollout.event(
            true,
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        );
        let mut status = rollout.status();
        if status.observed_generation < rollout.d.metadata.generation {
            status.observed_generation = rollout.d.metadata.generation;
            rollout.write_status(status).await?;
        }
        return Ok(Action::await_change());
    }
    let result = sync_deployment(&mut rollout, &spec).await;
    match result {
        Ok(requeue) => Ok(requeue.map_or_else(Action::await_change, Action::requeue)),
        // Racing with another writer: look again soon.
        Err(ReconcileError::Api(kube::Error::Api(e))) if e.code == 409 => {
            Ok(Action::requeue(Duration::from_millis(200)))
        }
        Err(e) => Err(e),
    }
}

async fn sync_deployment(
    rollout: &mut Rollout<'_>,
    spec: &k8s_openapi::api::apps::v1::DeploymentSpec,
) -> Synced {
    let sets = rollout.claim_replica_sets().await?;
    let (new, old) = rollout.split(sets.clone()).await?;
    if rollout.owner.deleting {
        return rollout.sync_status(new.as_ref(), &old).await;
    }
    rollout.check_paused().await?;
    if spec.paused.unwrap_or(false) || rollout.is_scaling_event(new.as_ref(), &old) {
        return rollout.sync(new, old).await;
    }
    if util::is_rolling(&rollout.d) {
        rollout.rolling(new, old).await
    } else {
        rollout.recreate(new, old, &sets).await
    }
}

/// The Deployment controlling a pod's ReplicaSet, when it rolls out by Recreate (which waits
/// for old pods to go).
fn deployment_of_pod(ctx: &Context, pod: &Pod) -> Option<ObjectRef<Deployment>> {
    let namespace = pod.metadata.namespace.as_deref()?;
    let owner = controller_ref::controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet")?;
    let rs = controller_ref::cached_one::<ReplicaSet>(ctx, Some(namespace), &owner.name)?;
    let deployment =
        controller_ref::controller_of(&rs.metadata).filter(|r| r.kind == "Deployment")?;
    let d = controller_ref::cached_one::<Deployment>(ctx, Some(namespace), &deployment.name)?;
    (!util::is_rolling(&d)).then(|| ObjectRef::new(&deployment.name).within(namespace))
}

/// The controller; it subscribes to the shared pod events at once, the rest runs when
/// polled.
pub fn run(ctx: Context, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    let pods = ctx.pods.subscribe();
    async move {
        let deployments: Api<Deployment> = Api::all(ctx.client.clone());
        let sets: Api<ReplicaSet> = Api::all(ctx.client.clone());
        let (for_sets, for_pods) = (ctx.clone(), ctx.clone());
        Controller::new(deployments, watcher::Config::default())
            .watches(sets, watcher::Config::default(), move |rs: ReplicaSet| {
                controller_ref::owners_to_sync(&for_sets, &rs.metadata, |d: &Deployment, labels| {
                    d.spec
                        .as_ref()
                        .filter(|s| !controller_ref::selects_everything(&s.selector))
                        .and_then(|s| controller_ref::selector(&s.selector))
                        .is_some_and(|s| s.matches(labels))
                })
            })
            .watches_shared_stream(pods, move |pod: Arc<Pod>| {
                deployment_of_pod(&for_pods, &pod)
            })
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(reconcile, retry_later, Arc::new(ctx))
            .for_each(|_| async {})
            .await;
    }
}
