//! The scheduler (upstream's `default-scheduler`): binds pending pods whose
//! `spec.schedulerName` is `default-scheduler` to nodes through `pods/binding`.
//!
//! - [`watch`]: watches of nodes, pods, namespaces and PriorityClasses feeding the loop;
//! - [`info`]: what the scheduler keeps of a pod and a node; [`resources`]: requests;
//!   [`selectors`]: label and node selectors, tolerations;
//! - [`cache`]: nodes with their pods and aggregates, kept from watch events;
//! - [`queue`]: active, back-off and unschedulable pods;
//! - [`cycle`]: one scheduling cycle, with [`filters`], [`spread`], [`affinity`],
//!   [`scores`] and [`preemption`];
//! - [`binding`]: the writes (binding, conditions, victims).
//!
//! One task owns the cache and the queue: it applies watch updates, schedules one pod at a
//! time, and hands bindings and status writes to tasks of their own (a pod is assumed on its
//! node meanwhile, as upstream's scheduler does), so writes never stall scheduling.

pub mod affinity;
pub mod binding;
pub mod cache;
pub mod cycle;
pub mod filters;
pub mod info;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod scores;
pub mod selectors;
pub mod spread;
pub mod watch;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::api::ApiState;
use crate::controllers::{events, leader};
use binding::Nomination;
use cycle::{Decision, Scheduler, Unschedulable};
use info::{DEFAULT_SCHEDULER, PodRef};
use queue::ClusterEvent;
use watch::{Source, Update};

/// The lease that elects the scheduler among servers.
pub const LEASE: &str = "kube-scheduler";
/// How often pods unschedulable for long are looked at (see [`queue::MAX_UNSCHEDULABLE`]).
const UNSCHEDULABLE_FLUSH: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("binding pod {pod} to node {node} failed: HTTP {status}: {message}")]
    Bind {
        pod: String,
        node: String,
        status: u16,
        message: String,
    },
    #[error("updating the status of pod {pod} failed: HTTP {status}: {message}")]
    StatusUpdate {
        pod: String,
        status: u16,
        message: String,
    },
    #[error("deleting preemption victim {pod} failed: HTTP {status}: {message}")]
    Delete {
        pod: String,
        status: u16,
        message: String,
    },
}

/// The outcome of a binding, reported back to the loop.
struct Bound {
    pod: PodRef,
    result: Result<(), SchedulerError>,
}

/// Starts the scheduler once this server holds the `kube-scheduler` lease; it stops at
/// `shutdown` (or when leadership is lost).
pub fn start(api: &Arc<ApiState>, shutdown: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let api = api.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let client = crate::api::local::client(&api, "kube-scheduler");
        let identity = crate::host::hostname();
        let Some(leading) = leader::lead(client.clone(), LEASE, &identity, shutdown).await else {
            return;
        };
        let ctx = Context {
            events: events::Recorder::new(&api, DEFAULT_SCHEDULER),
            api,
            client,
        };
        let flusher = tokio::spawn(ctx.events.clone().run(leading.child_token()));
        run(ctx, leading).await;
        let _ = flusher.await;
    })
}

/// What the scheduling loop and its writes share. (Not the controllers' context: the
/// scheduler keeps its own pod watch, on its own thread.)
#[derive(Clone)]
pub struct Context {
    pub api: Arc<ApiState>,
    pub client: kube::Client,
    pub events: events::Recorder,
}

/// Runs the scheduler until `shutdown`.
///
/// The watches and the writes run on the shared runtime; the scheduling loop, which is
/// synchronous CPU work between short waits, runs on a thread of its own. On the shared
/// runtime every pause of the loop put it behind all other runnable tasks (API requests,
/// watches), and under load it spent nine tenths of its time waiting for its turn.
pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let (tx, updates) = mpsc::unbounded_channel();
    let watches = watch::start(&ctx.client, &tx, &shutdown);
    drop(tx);
    let shared = tokio::runtime::Handle::current();
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let thread = {
        let (ctx, shutdown, shared) = (ctx.clone(), shutdown.clone(), shared.clone());
        std::thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(schedule_loop(ctx, updates, shutdown, shared)),
                    Err(error) => warn!(%error, "cannot start the scheduler's runtime"),
                }
                let _ = done_tx.send(());
            })
    };
    match thread {
        Ok(_) => {
            let _ = done.await;
        }
        Err(error) => warn!(%error, "cannot start the scheduler thread"),
    }
    for watch in watches {
        watch.abort();
    }
    info!("scheduler stopped");
}

/// The scheduling loop: applies watch updates, schedules one pod at a time and starts
/// the writes on `shared`.
async fn schedule_loop(
    ctx: Context,
    mut updates: mpsc::UnboundedReceiver<Update>,
    shutdown: CancellationToken,
    shared: tokio::runtime::Handle,
) {
    let (bound_tx, mut bound) = mpsc::unbounded_channel::<Bound>();
    let mut scheduler = Scheduler::default();
    let mut synced = HashSet::new();
    let mut was_ready = false;
    let mut flush = tokio::time::interval(UNSCHEDULABLE_FLUSH);
    let mut progress = Progress::new();
    info!("scheduler started");
    loop {
        let now = Instant::now().into_std();
        progress.report(&scheduler, now);
        while let Ok(update) = updates.try_recv() {
            progress.updates += 1;
            apply(&mut scheduler, &mut synced, update, now);
        }
        while let Ok(result) = bound.try_recv() {
            finish_binding(&mut scheduler, &ctx, result, now);
        }
        scheduler.queue.flush(now);
        let ready = [
            Source::Nodes,
            Source::AssignedPods,
            Source::Namespaces,
            Source::PriorityClasses,
        ]
        .iter()
        .all(|s| synced.contains(s));
        if ready && !was_ready {
            info!(
                nodes = scheduler.cache.num_nodes(),
                pending = scheduler.queue.len(),
                "scheduler caches synced"
            );
            was_ready = true;
        }
        if ready
            && scheduler.queue.has_active()
            && let Some(pod) = scheduler.queue.pop()
        {
            schedule_one(&mut scheduler, &ctx, &shared, &bound_tx, &pod, now);
            progress.attempts += 1;
            progress.busy += now.elapsed();
            tokio::task::yield_now().await;
            continue;
        }
        let backoff = scheduler.queue.next_backoff().map(Instant::from_std);
        progress.waits += 1;
        tokio::select! {
            () = shutdown.cancelled() => break,
            update = updates.recv() => match update {
                Some(update) => apply(&mut scheduler, &mut synced, update, Instant::now().into_std()),
                None => break,
            },
            Some(result) = bound.recv() => {
                finish_binding(&mut scheduler, &ctx, result, Instant::now().into_std());
            }
            () = async {
                match backoff {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = flush.tick() => scheduler.queue.flush_unschedulable(Instant::now().into_std()),
        }
    }
}

/// Counters for a debug line every few seconds: how the loop spends its time.
struct Progress {
    since: std::time::Instant,
    updates: u64,
    attempts: u64,
    waits: u64,
    busy: Duration,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(5);

    fn new() -> Progress {
        Progress {
            since: std::time::Instant::now(),
            updates: 0,
            attempts: 0,
            waits: 0,
            busy: Duration::ZERO,
        }
    }

    fn report(&mut self, scheduler: &Scheduler, now: std::time::Instant) {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < Self::EVERY {
            return;
        }
        if self.attempts > 0 || self.updates > 0 {
            debug!(
                attempts = self.attempts,
                updates = self.updates,
                waits = self.waits,
                busy_ms = self.busy.as_millis() as u64,
                elapsed_ms = elapsed.as_millis() as u64,
                queued = scheduler.queue.len(),
                "scheduler progress"
            );
        }
        *self = Progress::new();
    }
}

/// Applies one watch update to the cache and queue, moving waiting pods it may help.
fn apply(
    scheduler: &mut Scheduler,
    synced: &mut HashSet<Source>,
    update: Update,
    now: std::time::Instant,
) {
    let Scheduler { cache, queue, .. } = scheduler;
    match update {
        Update::Node(node) => match cache.upsert_node(node) {
            cache::NodeChange::Added => queue.on_event(ClusterEvent::NodeAdded, now),
            cache::NodeChange::Updated => queue.on_event(ClusterEvent::NodeUpdated, now),
            cache::NodeChange::Unchanged => {}
        },
        Update::NodeGone(name) => cache.remove_node(&name),
        Update::Assigned(pod) => {
            queue.done(&pod.uid);
            let before = cache.remove_pod(&pod.uid);
            let labels_changed = before
                .as_ref()
                .is_none_or(|b| b.labels != pod.labels || b.node_name != pod.node_name);
            cache.add_pod(pod, false);
            if labels_changed {
                queue.on_event(ClusterEvent::AssignedPodAdded, now);
            }
        }
        Update::AssignedGone(uid) => {
            if cache.remove_pod(&uid).is_some() {
                queue.on_event(ClusterEvent::AssignedPodDeleted, now);
            }
        }
        Update::Pending(pod) => pending(scheduler, pod, now),
        Update::PendingGone(uid) => {
            queue.delete(&uid);
            cache.unnominate(&uid);
        }
        Update::Namespace(name, labels) => {
            if cache.set_namespace(&name, Some(labels)) {
                queue.on_event(ClusterEvent::NamespaceChanged, now);
            }
        }
        Update::NamespaceGone(name) => {
            cache.set_namespace(&name, None);
        }
        Update::PriorityClass(name, value, never) => {
            scheduler.classes.insert(name, (value, never));
        }
        Update::PriorityClassGone(name) => {
            scheduler.classes.remove(&name);
        }
        Update::Synced(source, seen) => {
            resync(scheduler, source, &seen);
            synced.insert(source);
        }
    }
}

/// A pending pod appeared or changed.
fn pending(scheduler: &mut Scheduler, pod: PodRef, now: std::time::Instant) {
    let ours = pod.scheduler_name == DEFAULT_SCHEDULER;
    if !ours || pod.terminating || pod.gated {
        scheduler.queue.delete(&pod.uid);
        scheduler.cache.unnominate(&pod.uid);
        return;
    }
    if scheduler.cache.has_pod(&pod.uid) {
        // Assumed: its binding is in flight.
        return;
    }
    scheduler
        .cache
        .nominate(&pod, pod.nominated_node.as_deref());
    let priority = scheduler.priority_of(&pod);
    scheduler.queue.add_or_update(pod, priority, now);
}

/// Drops what a relist no longer shows.
fn resync(scheduler: &mut Scheduler, source: Source, seen: &HashSet<String>) {
    let Scheduler {
        cache,
        queue,
        classes,
        ..
    } = scheduler;
    match source {
        Source::Nodes => {
            for name in cache.node_names() {
                if !seen.contains(&name) {
                    cache.remove_node(&name);
                }
            }
        }
        Source::AssignedPods => {
            let gone: Vec<String> = cache
                .pods()
                .filter(|(p, _)| !seen.contains(&p.uid) && !cache.is_assumed(&p.uid))
                .map(|(p, _)| p.uid.clone())
                .collect();
            for uid in gone {
                cache.remove_pod(&uid);
            }
        }
        Source::PendingPods => {
            for uid in queue.idle_uids() {
                if !seen.contains(&uid) {
                    queue.delete(&uid);
                }
            }
        }
        Source::Namespaces => {
            let gone: Vec<String> = cache
                .namespaces
                .keys()
                .filter(|n| !seen.contains(*n))
                .cloned()
                .collect();
            for name in gone {
                cache.set_namespace(&name, None);
            }
        }
        Source::PriorityClasses => classes.retain(|name, _| seen.contains(name)),
    }
}

/// Schedules one pod and starts the writes its outcome needs.
fn schedule_one(
    scheduler: &mut Scheduler,
    ctx: &Context,
    shared: &tokio::runtime::Handle,
    bound_tx: &UnboundedSender<Bound>,
    pod: &PodRef,
    now: std::time::Instant,
) {
    match scheduler.schedule(pod) {
        Decision::Bind(node) => {
            let assumed = scheduler.assume(pod, &node);
            let api = ctx.api.clone();
            let events = ctx.events.clone();
            let tx = bound_tx.clone();
            shared.spawn(async move {
                let result = binding::bind(&api, &assumed, &node).await;
                if result.is_ok() {
                    events.normal(
                        &binding::reference(&assumed),
                        "Scheduled",
                        &format!(
                            "Successfully assigned {}/{} to {node}",
                            assumed.namespace, assumed.name
                        ),
                    );
                }
                let _ = tx.send(Bound {
                    pod: assumed,
                    result,
                });
            });
        }
        Decision::Unschedulable(outcome) => {
            debug!(pod = %pod.key(), message = %outcome.message, "pod is unschedulable");
            scheduler
                .queue
                .unschedulable(&pod.uid, outcome.rejections, now);
            ctx.events.warning(
                &binding::reference(pod),
                "FailedScheduling",
                &outcome.message,
            );
            shared.spawn(record_failure(ctx.clone(), pod.clone(), outcome));
        }
    }
}

/// Writes what an unschedulable outcome calls for: victims deleted, nominations cleared,
/// and the pod's condition and nomination.
async fn record_failure(ctx: Context, pod: PodRef, outcome: Unschedulable) {
    if let Nomination::Set(node) = &outcome.nomination {
        for victim in &outcome.victims {
            match binding::delete_victim(&ctx.api, victim, &pod.scheduler_name).await {
                Ok(()) => ctx.events.normal(
                    &binding::reference(victim),
                    "Preempted",
                    &format!("Preempted by pod {} on node {node}", pod.uid),
                ),
                Err(error) => warn!(%error, "preemption failed"),
            }
        }
        info!(pod = %pod.key(), node = %node, victims = outcome.victims.len(), "preempting");
    }
    for other in &outcome.denominated {
        if let Err(error) = binding::clear_nomination(&ctx.api, other).await {
            warn!(%error, "cannot clear a nomination");
        }
    }
    if let Err(error) = binding::mark_unschedulable(
        &ctx.api,
        &pod,
        "Unschedulable",
        &outcome.message,
        outcome.nomination,
    )
    .await
    {
        warn!(%error, "cannot record that a pod is unschedulable");
    }
}

/// A binding finished: on failure the pod leaves its node in the cache and backs off.
fn finish_binding(scheduler: &mut Scheduler, ctx: &Context, bound: Bound, now: std::time::Instant) {
    match bound.result {
        Ok(()) => scheduler.queue.done(&bound.pod.uid),
        Err(error) => {
            warn!(%error, "binding failed");
            scheduler.cache.forget(&bound.pod.uid);
            if scheduler.queue.contains(&bound.pod.uid) {
                ctx.events.warning(
                    &binding::reference(&bound.pod),
                    "FailedScheduling",
                    &format!("Binding rejected: {error}"),
                );
                scheduler.queue.failed(&bound.pod.uid, now);
            }
        }
    }
}
