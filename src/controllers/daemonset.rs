//! The DaemonSet controller: one pod on every node the template fits (see
//! [`daemon_pods`](super::daemon_pods)), created pinned to its node, so the scheduler binds it
//! there; pods on nodes they no longer fit are deleted, failed ones replaced.
//!
//! Templates are recorded in ControllerRevisions named `<ds>-<hash>`; pods carry the hash in
//! `controller-revision-hash` and the template generation in `pod-template-generation`.
//! RollingUpdate replaces out-of-date pods within `maxUnavailable` (deleting old pods first)
//! or `maxSurge` (starting the new pod beside the old one, which goes once the new one is
//! available). Status counts desired, current, ready, available, updated and misscheduled
//! pods, as `kubectl rollout status ds` reads them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetSpec, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::controller_ref::{self, Owner};
use super::daemon_pods::{self, Placement};
use super::history::{self, CONTROLLER_REVISION_HASH, NewRevision};
use super::pod_control;
use super::{Context, ReconcileError, retry_later};

const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// Upstream creates at most this many daemon pods per sync.
const BURST_REPLICAS: usize = 250;

/// One sync of one DaemonSet.
struct Sync<'a> {
    ctx: &'a Context,
    ds: DaemonSet,
    spec: DaemonSetSpec,
    owner: Owner,
    /// The template with the daemon tolerations, for placement decisions.
    placement_spec: k8s_openapi::api::core::v1::PodSpec,
}

/// A DaemonSet's pods on one node: the out-of-date one and the up-to-date one, or `None`
/// when there are more of either (the manage step cleans that up).
fn old_and_new<'p>(
    pods: &[&'p Pod],
    is_updated: &impl Fn(&Pod) -> bool,
) -> Option<(Option<&'p Pod>, Option<&'p Pod>)> {
    let (mut old, mut new) = (None, None);
    for pod in pods.iter().filter(|p| !pod_control::is_terminating(p)) {
        let slot = if is_updated(pod) { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(*pod);
    }
    Some((old, new))
}

/// Scheduled first, then oldest first, then by name.
fn by_age(pods: &mut [&Pod]) {
    pods.sort_by(|a, b| {
        let scheduled = |p: &Pod| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some_and(|n| !n.is_empty())
        };
        scheduled(b)
            .cmp(&scheduled(a))
            .then_with(|| {
                a.metadata
                    .creation_timestamp
                    .cmp(&b.metadata.creation_timestamp)
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

impl Sync<'_> {
    fn generation(&self) -> Option<String> {
        self.ds
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
            .cloned()
    }

    fn is_updated(&self, pod: &Pod, hash: &str) -> bool {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let by_hash = !hash.is_empty()
            && labels.get(CONTROLLER_REVISION_HASH).map(String::as_str) == Some(hash);
        let by_generation = self
            .generation()
            .is_some_and(|g| labels.get(TEMPLATE_GENERATION_LABEL) == Some(&g));
        by_hash || by_generation
    }

    fn min_ready(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }

    fn rolling(&self) -> bool {
        self.spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            != Some("OnDelete")
    }

    /// `maxSurge` and `maxUnavailable` for `desired` nodes (both rounded up; both zero means
    /// one unavailable).
    fn budgets(&self, desired: i32) -> (i32, i32) {
        if !self.rolling() {
            return (0, 1);
        }
        let rolling = self
            .spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref());
        let zero = IntOrString::Int(0);
        let one = IntOrString::Int(1);
        let surge = rolling.and_then(|r| r.max_surge.as_ref()).unwrap_or(&zero);
        let unavailable = rolling
            .and_then(|r| r.max_unavailable.as_ref())
            .unwrap_or(&one);
        let surge = pod_control::scaled_value(surge, desired, true).unwrap_or(0);
        let unavailable = pod_control::scaled_value(unavailable, desired, true).unwrap_or(0);
        if surge == 0 && unavailable == 0 {
            (0, 1)
        } else {
            (surge, unavailable)
        }
    }

    fn new_pod(&self, node: &str, hash: &str) -> Pod {
        let mut template: PodTemplateSpec = self.spec.template.clone();
        let labels = template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        labels.insert(CONTROLLER_REVISION_HASH.into(), hash.into());
        if let Some(generation) = self.generation() {
            labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation);
        }
        let spec = template.spec.get_or_insert_with(Default::default);
        daemon_pods::add_daemon_tolerations(spec);
        daemon_pods::pin_to_node(spec, node);
        pod_control::pod_from_template(
            &template,
            &pod_control::pods_prefix(&self.owner.name),
            &self.owner.controller_ref(),
        )
    }

    /// Creates pods for `nodes` and deletes `doomed`; true if anything was written.
    async fn sync_nodes(
        &self,
        doomed: &[&Pod],
        nodes: &[String],
        hash: &str,
    ) -> Result<bool, ReconcileError> {
        let pods: Vec<Pod> = nodes
            .iter()
            .take(BURST_REPLICAS)
            .map(|n| self.new_pod(n, hash))
            .collect();
        let mut failure = None;
        if !pods.is_empty() {
            let (_, error) = pod_control::create_pods(self.ctx, &self.owner, pods).await;
            failure = error;
        }
        if !doomed.is_empty()
            && let Some(error) = pod_control::delete_pods(self.ctx, &self.owner, doomed).await
        {
            failure.get_or_insert(error);
        }
        match failure {
            Some(message) => Err(ReconcileError::Request(message)),
            None => Ok(!nodes.is_empty() || !doomed.is_empty()),
        }
    }

    /// Creates missing daemon pods, deletes misplaced, failed and duplicate ones.
    async fn manage(
        &self,
        nodes: &[Node],
        by_node: &HashMap<String, Vec<&Pod>>,
        hash: &str,
    ) -> Result<bool, ReconcileError> {
        let surge = self.allows_surge();
        let now = pod_control::now();
        let mut create = Vec::new();
        let mut doomed: Vec<&Pod> = Vec::new();
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let pods = by_node.get(&name).cloned().unwrap_or_default();
            let Placement {
                should_run,
                should_continue,
            } = daemon_pods::placement(&self.placement_spec, node);
            if should_run && pods.is_empty() {
                create.push(name);
            } else if should_continue {
                let mut running: Vec<&Pod> = Vec::new();
                for pod in pods.into_iter().filter(|p| !pod_control::is_terminating(p)) {
                    match pod_control::phase(pod) {
                        "Failed" => {
                            self.ctx.events.warning(
                                &self.owner.reference(),
                                "FailedDaemonPod",
                                &format!(
                                    "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                                    self.owner.namespace,
                                    pod.metadata.name.as_deref().unwrap_or_default()
                                ),
                            );
                            doomed.push(pod);
                        }
                        "Succeeded" => doomed.push(pod),
                        _ => running.push(pod),
                    }
                }
                by_age(&mut running);
                if !surge {
                    doomed.extend(running.iter().skip(1));
                    continue;
                }
                // With surge, an old and a new pod may overlap until the new one is available.
                let (mut oldest_new, mut oldest_old) = (None, None);
                for pod in running {
                    let slot = if self.is_updated(pod, hash) {
                        &mut oldest_new
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(pod);
                    } else {
                        doomed.push(pod);
                    }
                }
                if let (Some(new), Some(old)) = (oldest_new, oldest_old)
                    && (!pod_control::is_ready(old)
                        || pod_control::is_available(new, self.min_ready(), now))
                {
                    doomed.push(old);
                }
            } else {
                doomed.extend(pods.into_iter().filter(|p| !pod_control::is_terminating(p)));
            }
        }
        // Unscheduled pods pinned to nodes that no longer exist.
        let existing: HashSet<&str> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        for (node, pods) in by_node {
            if existing.contains(node.as_str()) {
                continue;
            }
            doomed.extend(pods.iter().filter(|p| {
                !pod_control::is_terminating(p)
                    && p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_ref())
                        .is_none_or(|n| n.is_empty())
            }));
        }
        self.sync_nodes(&doomed, &create, hash).await
    }

    fn allows_surge(&self) -> bool {
        self.rolling()
            && self
                .spec
                .update_strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.max_surge.as_ref())
                .is_some_and(|s| {
                    !matches!(s, IntOrString::Int(0)) && s != &IntOrString::String("0%".into())
                })
    }

    /// Replaces out-of-date pods within the budgets.
    async fn rolling_update(
        &self,
        nodes: &[Node],
        by_node: &HashMap<String, Vec<&Pod>>,
        hash: &str,
    ) -> Result<bool, ReconcileError> {
        let now = pod_control::now();
        let desired = i32::try_from(
            nodes
                .iter()
                .filter(|n| daemon_pods::placement(&self.placement_spec, n).should_run)
                .count(),
        )
        .unwrap_or(i32::MAX);
        let (max_surge, max_unavailable) = self.budgets(desired);
        let updated = |p: &Pod| self.is_updated(p, hash);
        let available = |p: &Pod| pod_control::is_available(p, self.min_ready(), now);
        let mut node_names: Vec<&String> = by_node.keys().collect();
        node_names.sort();
        if max_surge == 0 {
            let mut unavailable = 0;
            let (mut replace, mut candidates): (Vec<&Pod>, Vec<&Pod>) = (Vec::new(), Vec::new());
            for node in node_names {
                match old_and_new(&by_node[node], &updated) {
                    None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                    Some((None, Some(new))) => {
                        if !available(new) {
                            unavailable += 1;
                        }
                    }
                    Some((Some(old), None)) => {
                        if !available(old) {
                            replace.push(old);
                        } else if unavailable < max_unavailable {
                            candidates.push(old);
                        }
                    }
                }
            }
            let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
            replace.extend(candidates.into_iter().take(room));
            return self.sync_nodes(&replace, &[], hash).await;
        }
        let mut surging = 0;
        let (mut doomed, mut allowed, mut candidates): (Vec<&Pod>, Vec<String>, Vec<String>) =
            (Vec::new(), Vec::new(), Vec::new());
        for node in node_names {
            match old_and_new(&by_node[node], &updated) {
                None => surging += 1,
                Some((None, _)) => {}
                Some((Some(old), None)) => {
                    if !available(old) {
                        allowed.push(node.clone());
                    } else if surging < max_surge {
                        candidates.push(node.clone());
                    }
                }
                Some((Some(old), Some(new))) => {
                    if available(new) {
                        doomed.push(old);
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        let room = usize::try_from((max_surge - surging).max(0)).unwrap_or(0);
        allowed.extend(candidates.into_iter().take(room));
        self.sync_nodes(&doomed, &allowed, hash).await
    }

    /// The current revision (created, or renumbered to the top) and the old ones.
    async fn history(
        &self,
    ) -> Result<(ControllerRevision, Vec<ControllerRevision>, Option<i32>), ReconcileError> {
        let revisions = history::owned(self.ctx, &self.owner, &self.spec.selector).await?;
        let data = history::revision_data(&self.spec.template);
        let (mut current, old): (Vec<ControllerRevision>, Vec<ControllerRevision>) = revisions
            .into_iter()
            .partition(|r| history::same_data(r, &data));
        let next = history::next_revision(&old);
        let status = self.ds.status.clone().unwrap_or_default();
        let mut collisions = status.collision_count;
        let cur = match current.pop() {
            // `owned` sorts by revision: the last is the newest; older duplicates go.
            Some(cur) => {
                history::truncate(
                    self.ctx,
                    &current,
                    &HashSet::new(),
                    |r| r.metadata.name.clone(),
                    0,
                )
                .await?;
                if cur.revision < next {
                    history::renumber(self.ctx, &cur, next).await?
                } else {
                    cur
                }
            }
            None => {
                let template = self.spec.template.clone();
                let hash = history::template_hash(&template, collisions);
                let mut labels = template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                labels.insert(CONTROLLER_REVISION_HASH.into(), hash.clone());
                let new = NewRevision {
                    hash,
                    labels,
                    annotations: self.ds.metadata.annotations.clone(),
                    data,
                    revision: next,
                };
                let (created, count) =
                    history::create(self.ctx, &self.owner, new, collisions.unwrap_or(0), |c| {
                        history::template_hash(&template, Some(c))
                    })
                    .await?;
                if count != collisions.unwrap_or(0) {
                    collisions = Some(count);
                }
                created
            }
        };
        Ok((cur, old, collisions))
    }

    fn status(
        &self,
        nodes: &[Node],
        by_node: &HashMap<String, Vec<&Pod>>,
        hash: &str,
        collisions: Option<i32>,
        observe: bool,
    ) -> DaemonSetStatus {
        let now = pod_control::now();
        let old = self.ds.status.clone().unwrap_or_default();
        let mut status = DaemonSetStatus {
            collision_count: collisions,
            conditions: old.conditions.clone(),
            observed_generation: if observe {
                self.ds.metadata.generation
            } else {
                old.observed_generation
            },
            ..Default::default()
        };
        let (mut updated, mut available) = (0, 0);
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let mut pods = by_node.get(&name).cloned().unwrap_or_default();
            let scheduled = !pods.is_empty();
            if daemon_pods::placement(&self.placement_spec, node).should_run {
                status.desired_number_scheduled += 1;
                if !scheduled {
                    continue;
                }
                status.current_number_scheduled += 1;
                by_age(&mut pods);
                let pod = pods[0];
                if pod_control::is_ready(pod) {
                    status.number_ready += 1;
                    if pod_control::is_available(pod, self.min_ready(), now) {
                        available += 1;
                    }
                }
                if self.is_updated(pod, hash) {
                    updated += 1;
                }
            } else if scheduled {
                status.number_misscheduled += 1;
            }
        }
        status.number_available = Some(available);
        status.updated_number_scheduled = Some(updated);
        status.number_unavailable = Some(status.desired_number_scheduled - available);
        status
    }
}

async fn reconcile(object: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    controller_ref::wait_fresh(&ctx).await?;
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let Some(ds) = controller_ref::cached_one::<DaemonSet>(&ctx, Some(&namespace), &name) else {
        return Ok(Action::await_change());
    };
    let Some(spec) = ds.spec.clone() else {
        return Ok(Action::await_change());
    };
    let owner = Owner::new("apps/v1", "DaemonSet", &ds.metadata);
    if controller_ref::selects_everything(&spec.selector) {
        ctx.events.warning(
            &owner.reference(),
            "SelectingAll",
            "This daemon set is selecting all pods. A non-empty selector is required.",
        );
        return Ok(Action::await_change());
    }
    let Some(selector) = controller_ref::selector(&spec.selector) else {
        return Ok(Action::await_change());
    };
    let mut placement_spec = spec.template.spec.clone().unwrap_or_default();
    daemon_pods::add_daemon_tolerations(&mut placement_spec);
    let sync = Sync {
        ctx: &ctx,
        ds,
        spec,
        owner,
        placement_spec,
    };
    match run_sync(&sync, &selector).await {
        Ok(requeue) => Ok(requeue.map_or_else(Action::await_change, Action::requeue)),
        Err(ReconcileError::Api(kube::Error::Api(e))) if e.code == 409 => {
            Ok(Action::requeue(Duration::from_millis(200)))
        }
        Err(e) => Err(e),
    }
}

/// The DaemonSet's pods (claimed) and the nodes, read consistently.
async fn read_state(
    sync: &Sync<'_>,
    selector: &crate::api::selector::LabelSelector,
) -> Result<(Vec<Node>, Vec<Pod>), ReconcileError> {
    controller_ref::wait_fresh(sync.ctx).await?;
    let nodes: Vec<Node> = controller_ref::cached(sync.ctx, None, |_| true);
    let candidates: Vec<Pod> = controller_ref::cached(sync.ctx, Some(&sync.owner.namespace), |o| {
        controller_ref::may_belong(o, &sync.owner.uid, selector)
    });
    let pods = controller_ref::claim(sync.ctx, &sync.owner, candidates, |p| {
        selector.matches(&p.metadata.labels.clone().unwrap_or_default())
    })
    .await?;
    Ok((nodes, pods))
}

fn group_by_node(pods: &[Pod]) -> HashMap<String, Vec<&Pod>> {
    let mut by_node: HashMap<String, Vec<&Pod>> = HashMap::new();
    for pod in pods {
        // Finished pods being deleted no longer count.
        if pod_control::is_terminal(pod) && pod_control::is_terminating(pod) {
            continue;
        }
        if let Some(node) = daemon_pods::target_node(pod) {
            by_node.entry(node).or_default().push(pod);
        }
    }
    by_node
}

async fn run_sync(
    sync: &Sync<'_>,
    selector: &crate::api::selector::LabelSelector,
) -> Result<Option<Duration>, ReconcileError> {
    let (cur, old, collisions) = sync.history().await?;
    let hash = cur
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH))
        .cloned()
        .unwrap_or_default();
    let (nodes, pods) = read_state(sync, selector).await?;
    let mut outcome = Ok(());
    if !sync.owner.deleting {
        let by_node = group_by_node(&pods);
        // As upstream's expectations: a rolling update step waits until the manage step's
        // writes are seen.
        match sync.manage(&nodes, &by_node, &hash).await {
            Ok(false) if sync.rolling() => {
                if let Err(e) = sync.rolling_update(&nodes, &by_node, &hash).await {
                    outcome = Err(e);
                }
            }
            Ok(_) => {}
            Err(e) => outcome = Err(e),
        }
        // Keep `revisionHistoryLimit` old revisions besides those pods still use.
        let live: HashSet<String> = pods
            .iter()
            .filter_map(|p| {
                p.metadata
                    .labels
                    .as_ref()?
                    .get(CONTROLLER_REVISION_HASH)
                    .cloned()
            })
            .collect();
        history::truncate(
            sync.ctx,
            &old,
            &live,
            |r| {
                r.metadata
                    .labels
                    .as_ref()?
                    .get(CONTROLLER_REVISION_HASH)
                    .cloned()
            },
            sync.spec.revision_history_limit.unwrap_or(10),
        )
        .await?;
    }
    let (nodes, pods) = read_state(sync, selector).await?;
    let by_node = group_by_node(&pods);
    let status = sync.status(&nodes, &by_node, &hash, collisions, true);
    let old_status = sync.ds.status.clone().unwrap_or_default();
    let api: Api<DaemonSet> = Api::namespaced(sync.ctx.client.clone(), &sync.owner.namespace);
    controller_ref::write_status(&api, &sync.owner.name, &old_status, &status).await?;
    outcome?;
    let min_ready = sync.min_ready();
    if min_ready > 0 && status.number_ready != status.number_available.unwrap_or(0) {
        return Ok(Some(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(1),
        )));
    }
    Ok(None)
}

/// What about a node matters to DaemonSets: labels, taints, and whether it exists.
fn node_fingerprint(node: &Node) -> String {
    json!([
        node.metadata.labels,
        node.spec.as_ref().map(|s| &s.taints),
        node.metadata.deletion_timestamp
    ])
    .to_string()
}

/// Node events that matter to DaemonSets: a node added or removed, or its labels, taints or
/// schedulability changed (not the status heartbeats).
fn node_changes(nodes: Api<Node>) -> impl futures::Stream<Item = ()> + Send + 'static {
    let mut seen: HashMap<String, String> = HashMap::new();
    watcher(nodes, watcher::Config::default()).filter_map(move |event| {
        let relevant = match event {
            Ok(watcher::Event::Apply(node) | watcher::Event::InitApply(node)) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                let print = node_fingerprint(&node);
                seen.insert(name, print.clone()).as_ref() != Some(&print)
            }
            Ok(watcher::Event::Delete(node)) => {
                seen.remove(node.metadata.name.as_deref().unwrap_or_default());
                true
            }
            _ => false,
        };
        std::future::ready(relevant.then_some(()))
    })
}

/// The controller; it subscribes to the shared pod events at once, the rest runs when
/// polled.
pub fn run(ctx: Context, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    let pods = ctx.pods.subscribe();
    async move {
        let sets: Api<DaemonSet> = Api::all(ctx.client.clone());
        let nodes: Api<Node> = Api::all(ctx.client.clone());
        let for_pods = ctx.clone();
        Controller::new(sets, watcher::Config::default())
            .watches_shared_stream(pods, move |pod: Arc<Pod>| {
                controller_ref::owners_to_sync(
                    &for_pods,
                    &pod.metadata,
                    |ds: &DaemonSet, labels| {
                        ds.spec
                            .as_ref()
                            .and_then(|s| controller_ref::selector(&s.selector))
                            .is_some_and(|s| s.matches(labels))
                    },
                )
            })
            .reconcile_all_on(node_changes(nodes))
            .graceful_shutdown_on(async move { shutdown.cancelled().await })
            .run(reconcile, retry_later, Arc::new(ctx))
            .for_each(|_| async {})
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, hash: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {CONTROLLER_REVISION_HASH: hash}},
        }))
        .unwrap()
    }

    #[test]
    fn pods_on_a_node_split_into_old_and_new() {
        let updated =
            |p: &Pod| p.metadata.labels.as_ref().unwrap()[CONTROLLER_REVISION_HASH] == "new";
        let (a, b, c) = (pod("a", "old"), pod("b", "new"), pod("c", "new"));
        let (old, new) = old_and_new(&[&a, &b], &updated).unwrap();
        assert_eq!(old.unwrap().metadata.name.as_deref(), Some("a"));
        assert_eq!(new.unwrap().metadata.name.as_deref(), Some("b"));
        assert!(old_and_new(&[&b, &c], &updated).is_none());
    }
}
