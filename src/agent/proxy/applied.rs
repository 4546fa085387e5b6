//! The table as last applied, kept per Service port ([`Applied`]), so that a sync renders only
//! the Service ports whose inputs changed and writes the update from their old rules to their
//! new ones: the chains and sets that differ, and the map elements whose verdict changed. A
//! sync then costs in proportion to the change, not to the table (rendering 1,000 Services × 10
//! endpoints takes longer than applying one change).
//!
//! The first sync, and the one after a failure, write the whole table instead
//! ([`Applied::new`], [`Applied::full_script`]). Both are pure: the unit tests check that an
//! update is exactly what diffing two full renders gives ([`super::table::Table::update_script`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use ipnet::Ipv4Net;

use super::conntrack::{StaleFlows, stale_flows};
use super::model::ServicePort;
use super::rules::{FAMILY, MAPS, PortRules, Ruleset};
use super::table::{self, Object, Table};

/// Per map of [`MAPS`], per key: the verdict each Service port (by id) asks for.
type Claims = [BTreeMap<String, BTreeMap<String, String>>; 4];

/// What a sync changes: the script, and the UDP flows to clear once it is applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    pub script: String,
    pub stale_flows: Vec<StaleFlows>,
}

/// The table as applied: every Service port with the rules rendered from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    table: String,
    cluster_cidr: Ipv4Net,
    /// By Service port id, the order of the table.
    ports: BTreeMap<String, (ServicePort, PortRules)>,
    /// Where ports claim the same key, the first by id wins (as in a full render).
    claims: Claims,
}

impl Applied {
    /// Renders every Service port of `ruleset`: the state once [`Applied::full_script`] is
    /// applied.
    pub fn new(ruleset: &Ruleset) -> Applied {
        let mut applied = Applied {
            table: ruleset.table.to_string(),
            cluster_cidr: ruleset.cluster_cidr,
            ports: BTreeMap::new(),
            claims: Default::default(),
        };
        for port in ruleset.ports {
            let id = port.id();
            let rules = ruleset.port_rules(port);
            for (map, key, verdict) in &rules.elements {
                if let Some(claims) = applied.claims.get_mut(*map) {
                    claims
                        .entry(key.clone())
                        .or_default()
                        .entry(id.clone())
                        .or_insert_with(|| verdict.clone());
                }
            }
            applied.ports.insert(id, (port.clone(), rules));
        }
        applied
    }

    /// The table as named objects.
    pub fn table(&self) -> Table {
        let objects = self
            .ports
            .values()
            .flat_map(|(_, rules)| rules.objects.iter().cloned())
            .collect();
        let maps = self.claims.clone().map(|claims| {
            claims
                .into_iter()
                .filter_map(|(key, by_port)| Some((key, by_port.into_values().next()?)))
                .collect()
        });
        Table::new(&self.table, objects, maps)
    }

    /// The script that deletes and recreates the whole table.
    pub fn full_script(&self) -> String {
        self.table().full_script()
    }

    /// Renders the Service ports of `ruleset` that differ from the applied ones, and returns
    /// the script that updates the table to it (empty when nothing changed) with the UDP
    /// flows it leaves stale, this state then being the new one; `None` when only a full
    /// script can (another table or cluster CIDR, an affinity timeout changed), the state
    /// left as it was.
    pub fn update(&mut self, ruleset: &Ruleset) -> Option<Update> {
        if ruleset.table != self.table || ruleset.cluster_cidr != self.cluster_cidr {
            return None;
        }
        // The ports that changed, by id: their new port and rules, or `None` when gone.
        let mut changes: BTreeMap<String, Option<(ServicePort, PortRules)>> = BTreeMap::new();
        let mut present = HashSet::with_capacity(ruleset.ports.len());
        for port in ruleset.ports {
            let id = port.id();
            let unchanged = matches!(self.ports.get(&id), Some((old, _)) if old == port);
            if !unchanged {
                changes.insert(id.clone(), Some((port.clone(), ruleset.port_rules(port))));
            }
            present.insert(id);
        }
        for id in self.ports.keys().filter(|id| !present.contains(*id)) {
            changes.insert(id.clone(), None);
        }
        if changes.is_empty() {
            return Some(Update::default());
        }
        let pending = self.pending_claims(&changes);
        let script = self.update_script(&changes, &pending)?;
        let stale_flows = changes
            .iter()
            .filter_map(|(id, change)| {
                let (before, _) = self.ports.get(id)?;
                Some(stale_flows(before, change.as_ref().map(|(port, _)| port)))
            })
            .flatten()
            .collect();
        self.commit(changes, pending);
        Some(Update {
            script,
            stale_flows,
        })
    }

    /// The script for `changes`, in the order a diff of full renders has: new sets and
    /// chains, the rules of new and changed chains, map elements, then what is gone.
    fn update_script(
        &self,
        changes: &BTreeMap<String, Option<(ServicePort, PortRules)>>,
        pending: &Claims,
    ) -> Option<String> {
        let t = format!("{FAMILY} {}", self.table);
        let (mut declare, mut rules, mut gone) = (String::new(), String::new(), Vec::new());
        for (id, change) in changes {
            let before: &[Object] = self
                .ports
                .get(id)
                .map_or(&[], |(_, r)| r.objects.as_slice());
            let now: &[Object] = change.as_ref().map_or(&[], |(_, r)| r.objects.as_slice());
            let before_by_name: HashMap<&str, &Object> =
                before.iter().map(|o| (o.name(), o)).collect();
            let now_names: HashSet<&str> = now.iter().map(Object::name).collect();
            for object in now {
                object.declare(&mut declare, &t, before_by_name.get(object.name()).copied())?;
            }
            for object in now {
                object.fill(&mut rules, &t, before_by_name.get(object.name()).copied());
            }
            gone.extend(before.iter().filter(|o| !now_names.contains(o.name())));
        }
        let mut out = declare + &rules;
        for ((name, _), (claims, pending)) in MAPS.iter().zip(self.claims.iter().zip(pending)) {
            for (key, after) in pending {
                let (before, after) = verdicts(claims, key, after);
                if before.is_some() && before != after {
                    let _ = writeln!(out, "delete element {t} {name} {{ {key} }}");
                }
            }
            for (key, after) in pending {
                let (before, after) = verdicts(claims, key, after);
                if let Some(verdict) = after.filter(|_| before != after) {
                    let _ = writeln!(out, "add element {t} {name} {{ {key} : {verdict} }}");
                }
            }
        }
        table::remove(&mut out, &t, &gone);
        Some(out)
    }

    /// The claims of every key the changed ports claimed or claim, as they are after the
    /// change.
    fn pending_claims(
        &self,
        changes: &BTreeMap<String, Option<(ServicePort, PortRules)>>,
    ) -> Claims {
        let mut pending: Claims = Default::default();
        for id in changes.keys() {
            let Some((_, rules)) = self.ports.get(id) else {
                continue;
            };
            for (map, key, _) in &rules.elements {
                if let (Some(pending), Some(claims)) =
                    (pending.get_mut(*map), self.claims.get(*map))
                {
                    pending
                        .entry(key.clone())
                        .or_insert_with(|| claims.get(key).cloned().unwrap_or_default())
                        .remove(id);
                }
            }
        }
        for (id, change) in changes {
            let Some((_, rules)) = change else {
                continue;
            };
            for (map, key, verdict) in &rules.elements {
                if let (Some(pending), Some(claims)) =
                    (pending.get_mut(*map), self.claims.get(*map))
                {
                    pending
                        .entry(key.clone())
                        .or_insert_with(|| claims.get(key).cloned().unwrap_or_default())
                        .entry(id.clone())
                        .or_insert_with(|| verdict.clone());
                }
            }
        }
        pending
    }

    /// Makes `changes` the applied state.
    fn commit(
        &mut self,
        changes: BTreeMap<String, Option<(ServicePort, PortRules)>>,
        pending: Claims,
    ) {
        for (claims, pending) in self.claims.iter_mut().zip(pending) {
            for (key, after) in pending {
                if after.is_empty() {
                    claims.remove(&key);
                } else {
                    claims.insert(key, after);
                }
            }
        }
        for (id, change) in changes {
            match change {
                Some(port) => self.ports.insert(id, port),
                None => self.ports.remove(&id),
            };
        }
    }
}

/// The winning verdict of `key` before (in `claims`) and after (`after`, its new claims).
fn verdicts<'a>(
    claims: &'a BTreeMap<String, BTreeMap<String, String>>,
    key: &str,
    after: &'a BTreeMap<String, String>,
) -> (Option<&'a String>, Option<&'a String>) {
    (
        claims.get(key).and_then(|c| c.values().next()),
        after.values().next(),
    )
}

#[cfg(test)]
#[path = "applied_tests.rs"]
mod tests;
