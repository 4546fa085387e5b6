//! The resource registry: every kind the API server serves, with what discovery, routing,
//! storage and selectors need to know about it. Built-in kinds come from [`builtin`];
//! custom resources are added and removed at run time as their definitions are established.

mod builtin;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// A subresource such as `pods/status` or `deployments/scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: String,
    /// The kind the subresource answers with, e.g. `autoscaling/v1` `Scale`.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// Where a custom resource's definition says its scale lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// A printer column from a CRD (`additionalPrinterColumns`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    pub json_path: String,
}

/// What a custom resource brings beyond the common fields.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomInfo {
    /// The CRD's name (`<plural>.<group>`).
    pub crd_name: String,
    /// The version's `openAPIV3Schema`.
    pub schema: Option<Value>,
    pub printer_columns: Vec<PrinterColumn>,
    pub scale: Option<ScalePaths>,
    /// The version objects are stored in.
    pub storage_version: String,
}

/// One kind as served at one group-version.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub categories: Vec<String>,
    pub subresources: Vec<Subresource>,
    /// Fields usable in field selectors besides `metadata.name` and `metadata.namespace`.
    pub selectable_fields: Vec<String>,
    /// The datastore key prefix of its objects, ending in `/`.
    pub storage_prefix: String,
    pub custom: Option<CustomInfo>,
}

impl ResourceInfo {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    pub fn subject(&self) -> super::status::Subject<'_> {
        super::status::Subject {
            group: &self.group,
            plural: &self.plural,
            kind: &self.kind,
        }
    }

    /// The datastore key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.storage_prefix),
            _ => format!("{}{name}", self.storage_prefix),
        }
    }

    /// The URL path of one object (`/apis/apps/v1/namespaces/default/deployments/web`).
    pub fn path(&self, namespace: Option<&str>, name: &str) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}/{name}", self.plural),
            _ => format!("{root}/{}/{name}", self.plural),
        }
    }

    /// The key prefix of a list: one namespace, or all.
    pub fn list_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/", self.storage_prefix),
            _ => self.storage_prefix.clone(),
        }
    }
}

/// A group and its versions, preferred first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub versions: Vec<String>,
}

#[derive(Default)]
struct Entries {
    resources: HashMap<(String, String, String), Arc<ResourceInfo>>,
    /// Groups in discovery order.
    groups: Vec<GroupInfo>,
    /// Resources of each group-version in discovery order.
    order: HashMap<(String, String), Vec<String>>,
}

/// The registry, shared by every request.
pub struct Registry {
    entries: RwLock<Entries>,
    /// Bumped on every change, so documents derived from the registry know to rebuild.
    generation: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// A registry of the built-in kinds.
    pub fn builtin() -> Self {
        let registry = Registry {
            entries: RwLock::new(Entries::default()),
            generation: std::sync::atomic::AtomicU64::new(0),
        };
        for info in builtin::resources() {
            registry.add(info);
        }
        registry
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes whenever the registry changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Adds or replaces a kind.
    pub fn add(&self, info: ResourceInfo) {
        let mut entries = self.write();
        let gv = (info.group.clone(), info.version.clone());
        match entries.groups.iter_mut().find(|g| g.name == info.group) {
            Some(group) if !group.versions.contains(&info.version) => {
                group.versions.push(info.version.clone());
            }
            Some(_) => {}
            None => entries.groups.push(GroupInfo {
                name: info.group.clone(),
                versions: vec![info.version.clone()],
            }),
        }
        let order = entries.order.entry(gv).or_default();
        if !order.contains(&info.plural) {
            order.push(info.plural.clone());
        }
        let key = (
            info.group.clone(),
            info.version.clone(),
            info.plural.clone(),
        );
        entries.resources.insert(key, Arc::new(info));
    }

    /// Removes every version of a custom resource.
    pub fn remove_custom(&self, group: &str, plural: &str) {
        let mut entries = self.write();
        entries
            .resources
            .retain(|(g, _, p), info| !(g == group && p == plural && info.custom.is_some()));
        for ((g, _), order) in entries.order.iter_mut() {
            if g == group {
                order.retain(|p| p != plural);
            }
        }
        let Entries { order, groups, .. } = &mut *entries;
        order.retain(|_, resources| !resources.is_empty());
        for group_info in groups.iter_mut() {
            let name = group_info.name.clone();
            group_info
                .versions
                .retain(|v| order.contains_key(&(name.clone(), v.clone())));
        }
        groups.retain(|g| !g.versions.is_empty());
    }

    /// Sets the version order of a group (preferred first), as a CRD's versions dictate.
    pub fn set_version_order(&self, group: &str, versions: Vec<String>) {
        let mut entries = self.write();
        if let Some(g) = entries.groups.iter_mut().find(|g| g.name == group) {
            let mut ordered: Vec<String> = versions
                .into_iter()
                .filter(|v| g.versions.contains(v))
                .collect();
            for v in &g.versions {
                if !ordered.contains(v) {
                    ordered.push(v.clone());
                }
            }
            g.versions = ordered;
        }
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.read()
            .resources
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The kind at a group-version, by its kind name.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.read()
            .resources
            .values()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Every group, in discovery order (the core group is `""`).
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.read().groups.clone()
    }

    /// The kinds of one group-version, in discovery order.
    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        let entries = self.read();
        entries
            .order
            .get(&(group.to_string(), version.to_string()))
            .map(|plurals| {
                plurals
                    .iter()
                    .filter_map(|p| {
                        entries
                            .resources
                            .get(&(group.to_string(), version.to_string(), p.clone()))
                            .cloned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every kind of every version.
    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        let groups = self.groups();
        groups
            .iter()
            .flat_map(|g| g.versions.iter().flat_map(|v| self.resources(&g.name, v)))
            .collect()
    }

    /// The kind whose objects live under `key`.
    pub fn for_key(&self, key: &str) -> Option<Arc<ResourceInfo>> {
        self.read()
            .resources
            .values()
            .find(|r| key.starts_with(&r.storage_prefix))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_resolve() {
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").unwrap();
        assert_eq!(pods.kind, "Pod");
        assert!(pods.namespaced);
        assert!(pods.short_names.contains(&"po".to_string()));
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        let deploy = registry.by_kind("apps", "v1", "Deployment").unwrap();
        assert_eq!(deploy.subresource("scale").unwrap().kind, "Scale");
        let nodes = registry.get("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/core/nodes/n1");
        assert_eq!(registry.groups()[0].name, "");
        assert!(registry.groups().iter().any(|g| g.name == "apps"));
        assert_eq!(
            registry
                .for_key("/registry/apps/deployments/default/web")
                .unwrap()
                .kind,
            "Deployment"
        );
        // No storage prefix is a prefix of another's.
        let all = registry.all();
        for a in &all {
            for b in &all {
                if a.storage_prefix != b.storage_prefix {
                    assert!(
                        !b.storage_prefix.starts_with(&a.storage_prefix),
                        "{} / {}",
                        a.storage_prefix,
                        b.storage_prefix
                    );
                }
            }
        }
    }
}
