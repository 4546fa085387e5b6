//! The scheduling queue, as upstream's: an active queue ordered by priority then arrival;
//! a back-off queue for pods whose last attempt failed (1 s doubling per attempt up to
//! 10 s); and the unschedulable pods, which wait for a cluster event that may help them
//! (a node added or changed, a pod deleted, …) — never polled. Pods left unschedulable for
//! five minutes are retried anyway, as upstream does.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::info::PodRef;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are retried after this long even without a helpful event.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

/// Why a pod was found unschedulable, so that only events that may help move it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    /// Inter-pod affinity or topology spread: pods being added may help.
    pub by_pods: bool,
}

/// A cluster event that may make unschedulable pods schedulable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    NodeAdded,
    NodeUpdated,
    AssignedPodDeleted,
    /// An assigned pod was added or its labels changed.
    AssignedPodAdded,
    NamespaceChanged,
}

impl ClusterEvent {
    fn may_help(self, rejections: Rejections) -> bool {
        match self {
            ClusterEvent::NodeAdded
            | ClusterEvent::NodeUpdated
            | ClusterEvent::AssignedPodDeleted => true,
            ClusterEvent::AssignedPodAdded | ClusterEvent::NamespaceChanged => rejections.by_pods,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    Backoff,
    Unschedulable,
    /// Popped: being scheduled, or assumed and binding.
    InFlight,
}

struct Entry {
    pod: PodRef,
    priority: i32,
    state: State,
    attempts: u32,
    /// Arrival order, the tie-breaker among equal priorities.
    sequence: u64,
    /// Bumped whenever the entry is (re)inserted in a heap; stale heap items are skipped.
    generation: u64,
    backoff_until: Instant,
    unschedulable_since: Instant,
    rejections: Rejections,
    /// The move counter when this pod was popped.
    popped_at_move: u64,
}

#[derive(PartialEq, Eq)]
struct ActiveItem {
    priority: i32,
    sequence: u64,
    generation: u64,
    uid: String,
}

impl Ord for ActiveItem {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.sequence.cmp(&self.sequence))
    }
}

impl PartialOrd for ActiveItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Upstream's back-off: 1 s, doubled for every further attempt, at most 10 s.
pub fn backoff_for(attempts: u32) -> Duration {
    let mut duration = INITIAL_BACKOFF;
    for _ in 1..attempts {
        duration *= 2;
        if duration >= MAX_BACKOFF {
            return MAX_BACKOFF;
        }
    }
    duration
}

#[derive(Default)]
pub struct SchedulingQueue {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<ActiveItem>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// The pods waiting for a helpful event (a subset of `entries`), so that events cost
    /// nothing while none wait.
    waiting: HashSet<String>,
    sequence: u64,
    generation: u64,
    /// Counts moves of unschedulable pods; a pod that fails while a move happened goes to
    /// back-off rather than waiting for another event.
    moves: u64,
}

impl SchedulingQueue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.entries.contains_key(uid)
    }

    fn push_active(&mut self, uid: &str) {
        self.waiting.remove(uid);
        self.generation += 1;
        let generation = self.generation;
        if let Some(entry) = self.entries.get_mut(uid) {
            entry.state = State::Active;
            entry.generation = generation;
            self.active.push(ActiveItem {
                priority: entry.priority,
                sequence: entry.sequence,
                generation,
                uid: uid.to_string(),
            });
        }
    }

    fn push_backoff(&mut self, uid: &str) {
        self.waiting.remove(uid);
        self.generation += 1;
        let generation = self.generation;
        if let Some(entry) = self.entries.get_mut(uid) {
            entry.state = State::Backoff;
            entry.generation = generation;
            self.backoff
                .push(Reverse((entry.backoff_until, generation, uid.to_string())));
        }
    }

    /// Active, or back-off if its back-off has not expired.
    fn requeue(&mut self, uid: &str, now: Instant) {
        let until = match self.entries.get(uid) {
            Some(e) => e.backoff_until,
            None => return,
        };
        if until > now {
            self.push_backoff(uid);
        } else {
            self.push_active(uid);
        }
    }

    /// A new pending pod, or a new version of one. A version that changes what scheduling
    /// reads gives a waiting pod another try; status-only changes leave it where it is.
    pub fn add_or_update(&mut self, pod: PodRef, priority: i32, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&pod.uid) {
            let changed = entry.pod.signature != pod.signature || entry.priority != priority;
            entry.pod = pod.clone();
            entry.priority = priority;
            if changed && entry.state == State::Unschedulable {
                self.requeue(&pod.uid, now);
            } else if changed && entry.state == State::Active {
                self.push_active(&pod.uid);
            }
            return;
        }
        self.sequence += 1;
        self.entries.insert(
            pod.uid.clone(),
            Entry {
                pod: pod.clone(),
                priority,
                state: State::Active,
                attempts: 0,
                sequence: self.sequence,
                generation: 0,
                backoff_until: now,
                unschedulable_since: now,
                rejections: Rejections::default(),
                popped_at_move: 0,
            },
        );
        self.push_active(&pod.uid);
    }

    pub fn delete(&mut self, uid: &str) {
        self.entries.remove(uid);
        self.waiting.remove(uid);
    }

    /// The latest version of a queued pod.
    pub fn pod(&self, uid: &str) -> Option<&PodRef> {
        self.entries.get(uid).map(|e| &e.pod)
    }

    /// Whether a pod is waiting in the active queue.
    pub fn has_active(&mut self) -> bool {
        while let Some(top) = self.active.peek() {
            let live = self
                .entries
                .get(&top.uid)
                .is_some_and(|e| e.state == State::Active && e.generation == top.generation);
            if live {
                return true;
            }
            self.active.pop();
        }
        false
    }

    /// The highest-priority active pod, now in flight.
    pub fn pop(&mut self) -> Option<PodRef> {
        while let Some(top) = self.active.pop() {
            if let Some(entry) = self.entries.get_mut(&top.uid)
                && entry.state == State::Active
                && entry.generation == top.generation
            {
                entry.state = State::InFlight;
                entry.attempts += 1;
                entry.popped_at_move = self.moves;
                return Some(entry.pod.clone());
            }
        }
        None
    }

    /// The pod was bound (or is gone): forget it.
    pub fn done(&mut self, uid: &str) {
        self.delete(uid);
    }

    /// The attempt found no node. The pod waits for a helpful event, unless one came while
    /// it was being scheduled: then it backs off.
    pub fn unschedulable(&mut self, uid: &str, rejections: Rejections, now: Instant) {
        let moved = {
            let Some(entry) = self.entries.get_mut(uid) else {
                return;
            };
            entry.backoff_until = now + backoff_for(entry.attempts);
            entry.rejections = rejections;
            entry.unschedulable_since = now;
            entry.state = State::Unschedulable;
            entry.popped_at_move != self.moves
        };
        if moved {
            self.push_backoff(uid);
        } else {
            self.waiting.insert(uid.to_string());
        }
    }

    /// The attempt failed for another reason (an API error): back off.
    pub fn failed(&mut self, uid: &str, now: Instant) {
        if let Some(entry) = self.entries.get_mut(uid) {
            entry.backoff_until = now + backoff_for(entry.attempts.max(1));
        }
        self.push_backoff(uid);
    }

    /// Moves the unschedulable pods `event` may help to the active (or back-off) queue.
    pub fn on_event(&mut self, event: ClusterEvent, now: Instant) {
        self.moves += 1;
        if self.waiting.is_empty() {
            return;
        }
        let movable: Vec<String> = self
            .waiting
            .iter()
            .filter(|uid| {
                self.entries.get(*uid).is_some_and(|e| {
                    e.state == State::Unschedulable && event.may_help(e.rejections)
                })
            })
            .cloned()
            .collect();
        for uid in movable {
            self.requeue(&uid, now);
        }
    }

    /// Moves pods whose back-off expired to the active queue, and pods unschedulable for
    /// [`MAX_UNSCHEDULABLE`] back to scheduling.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((until, generation, uid))) = self.backoff.peek().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop();
            if self
                .entries
                .get(&uid)
                .is_some_and(|e| e.state == State::Backoff && e.generation == generation)
            {
                self.push_active(&uid);
            }
        }
    }

    /// Retries pods unschedulable for longer than [`MAX_UNSCHEDULABLE`].
    pub fn flush_unschedulable(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .waiting
            .iter()
            .filter(|uid| {
                self.entries.get(*uid).is_some_and(|e| {
                    e.state == State::Unschedulable
                        && now.duration_since(e.unschedulable_since) >= MAX_UNSCHEDULABLE
                })
            })
            .cloned()
            .collect();
        for uid in stale {
            self.requeue(&uid, now);
        }
    }

    /// When the next back-off expires.
    pub fn next_backoff(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((until, _, _))| *until)
    }

    /// The uids of queued pods not in flight.
    pub fn idle_uids(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.state != State::InFlight)
            .map(|(uid, _)| uid.clone())
            .collect()
    }

    /// How many pods wait for a helpful event.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scheduler::info::PodInfo;

    fn pod(uid: &str) -> PodRef {
        Arc::new(PodInfo {
            uid: uid.into(),
            ..Default::default()
        })
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        assert_eq!(backoff_for(1), Duration::from_secs(1));
        assert_eq!(backoff_for(2), Duration::from_secs(2));
        assert_eq!(backoff_for(4), Duration::from_secs(8));
        assert_eq!(backoff_for(5), Duration::from_secs(10));
        assert_eq!(backoff_for(30), Duration::from_secs(10));
    }

    #[test]
    fn pops_by_priority_then_arrival() {
        let mut q = SchedulingQueue::default();
        let now = Instant::now();
        q.add_or_update(pod("low"), 0, now);
        q.add_or_update(pod("high"), 100, now);
        q.add_or_update(pod("low2"), 0, now);
        let order: Vec<String> = std::iter::from_fn(|| q.pop().map(|p| p.uid.clone())).collect();
        assert_eq!(order, ["high", "low", "low2"]);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_helpful_event() {
        let mut q = SchedulingQueue::default();
        let now = Instant::now();
        q.add_or_update(pod("a"), 0, now);
        q.pop().unwrap();
        q.unschedulable("a", Rejections::default(), now);
        q.flush(now + Duration::from_secs(60));
        assert!(!q.has_active(), "no polling");
        q.on_event(
            ClusterEvent::AssignedPodAdded,
            now + Duration::from_secs(60),
        );
        assert!(
            !q.has_active(),
            "a pod added does not help a resource shortage"
        );
        q.on_event(ClusterEvent::NodeAdded, now + Duration::from_secs(60));
        assert!(q.has_active());
    }

    #[test]
    fn a_move_within_the_back_off_waits_for_it_to_expire() {
        let mut q = SchedulingQueue::default();
        let now = Instant::now();
        q.add_or_update(pod("a"), 0, now);
        q.pop().unwrap();
        q.unschedulable("a", Rejections::default(), now);
        q.on_event(ClusterEvent::NodeAdded, now);
        assert!(!q.has_active());
        assert_eq!(q.next_backoff(), Some(now + Duration::from_secs(1)));
        q.flush(now + Duration::from_secs(1));
        assert!(q.has_active());
    }

    #[test]
    fn an_event_during_the_attempt_sends_the_pod_to_back_off() {
        let mut q = SchedulingQueue::default();
        let now = Instant::now();
        q.add_or_update(pod("a"), 0, now);
        q.pop().unwrap();
        q.on_event(ClusterEvent::NodeAdded, now);
        q.unschedulable("a", Rejections::default(), now);
        q.flush(now + Duration::from_secs(1));
        assert!(q.has_active());
    }
}
