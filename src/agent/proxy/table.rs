//! The proxy's table as named objects ([`Table`]), and the two scripts made from it: the full
//! script replacing the table ([`Table::full_script`]) and the update from the table applied
//! before ([`Table::update_script`]), which touches only the chains, sets and map elements
//! that changed — one transaction either way. An update keeps the session affinity of
//! untouched endpoints, and costs in proportion to the change, not to the table (replacing a
//! table of 10,000 chains takes seconds).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::rules::{FAMILY, MAPS, MASQUERADE_MARK, delete_script};

/// A per-Service-port object of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// The clients an endpoint has, forgotten `timeout` seconds after their last connection.
    AffinitySet {
        name: String,
        timeout: u32,
    },
    Chain {
        name: String,
        rules: Vec<String>,
    },
}

impl Object {
    pub fn name(&self) -> &str {
        match self {
            Object::AffinitySet { name, .. } | Object::Chain { name, .. } => name,
        }
    }

    /// Declares this object in table `t` (`<family> <name>`) unless it exists as `before`;
    /// `None` when `before` cannot become it in place (an affinity set with another timeout,
    /// or a set where a chain is wanted): then only a whole new table will do.
    pub fn declare(&self, out: &mut String, t: &str, before: Option<&Object>) -> Option<()> {
        match (self, before) {
            (Object::AffinitySet { name, timeout }, None) => {
                let _ = writeln!(
                    out,
                    "add set {t} {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"
                );
            }
            (Object::AffinitySet { .. }, Some(old)) if old != self => return None,
            (Object::Chain { name, .. }, None) => {
                let _ = writeln!(out, "add chain {t} {name}");
            }
            (Object::Chain { .. }, Some(Object::AffinitySet { .. })) => return None,
            _ => {}
        }
        Some(())
    }

    /// Fills this chain (flushed first if it existed as `before` with other rules); nothing
    /// for a set or an unchanged chain.
    pub fn fill(&self, out: &mut String, t: &str, before: Option<&Object>) {
        let Object::Chain { name, rules } = self else {
            return;
        };
        match before {
            Some(Object::Chain { rules: old, .. }) if old == rules => return,
            Some(_) => {
                let _ = writeln!(out, "flush chain {t} {name}");
            }
            None => {}
        }
        for rule in rules {
            let _ = writeln!(out, "add rule {t} {name} {rule}");
        }
    }
}

/// Removes objects no longer used from table `t`: every chain flushed before any is deleted
/// (they may jump to each other), sets last.
pub fn remove(out: &mut String, t: &str, gone: &[&Object]) {
    for object in gone {
        if let Object::Chain { name, .. } = object {
            let _ = writeln!(out, "flush chain {t} {name}");
        }
    }
    for object in gone {
        if let Object::Chain { name, .. } = object {
            let _ = writeln!(out, "delete chain {t} {name}");
        }
    }
    for object in gone {
        if let Object::AffinitySet { name, .. } = object {
            let _ = writeln!(out, "delete set {t} {name}");
        }
    }
}

/// The whole table: per-Service-port objects, in an order where each is defined before it
/// is referenced, and the four verdict maps (name, key type, elements).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub objects: Vec<Object>,
    pub maps: [(&'static str, &'static str, BTreeMap<String, String>); 4],
}

impl Table {
    /// A table of `objects` and the elements of the [`MAPS`], in their order.
    pub fn new(name: &str, objects: Vec<Object>, maps: [BTreeMap<String, String>; 4]) -> Table {
        let [a, b, c, d] = maps;
        let [(na, ka), (nb, kb), (nc, kc), (nd, kd)] = MAPS;
        Table {
            name: name.to_string(),
            objects,
            maps: [(na, ka, a), (nb, kb, b), (nc, kc, c), (nd, kd, d)],
        }
    }
}

/// The fixed chains, ahead of the per-Service-port ones.
const HELPER_CHAINS: &[(&str, &[&str])] = &[(
    "reject-chain",
    &["meta l4proto tcp reject with tcp reset", "reject"],
)];

impl Table {
    /// The script that deletes and recreates the whole table.
    pub fn full_script(&self) -> String {
        let table = &self.name;
        let mut out = delete_script(table);
        let _ = writeln!(out, "table {FAMILY} {table} {{");
        for (name, rules) in HELPER_CHAINS {
            write_chain(&mut out, name, rules.iter().copied());
        }
        let mark = format!("meta mark set meta mark | {MASQUERADE_MARK:#x}");
        write_chain(&mut out, "mark-for-masquerade", [mark.as_str()]);
        let masquerading = [
            format!("meta mark & {MASQUERADE_MARK:#x} == 0 return"),
            format!("meta mark set meta mark ^ {MASQUERADE_MARK:#x}"),
            "masquerade fully-random".to_string(),
        ];
        write_chain(
            &mut out,
            "masquerading",
            masquerading.iter().map(String::as_str),
        );
        for object in &self.objects {
            match object {
                Object::AffinitySet { name, timeout } => {
                    let _ = writeln!(out, "\tset {name} {{");
                    let _ = writeln!(out, "\t\ttype ipv4_addr");
                    let _ = writeln!(out, "\t\tflags dynamic,timeout");
                    let _ = writeln!(out, "\t\ttimeout {timeout}s");
                    let _ = writeln!(out, "\t}}");
                }
                Object::Chain { name, rules } => {
                    write_chain(&mut out, name, rules.iter().map(String::as_str));
                }
            }
        }
        for (name, key_type, elements) in &self.maps {
            let _ = writeln!(out, "\tmap {name} {{");
            let _ = writeln!(out, "\t\ttype {key_type} : verdict");
            if !elements.is_empty() {
                let _ = writeln!(out, "\t\telements = {{");
                for (key, verdict) in elements {
                    let _ = writeln!(out, "\t\t\t{key} : {verdict},");
                }
                let _ = writeln!(out, "\t\t}}");
            }
            let _ = writeln!(out, "\t}}");
        }
        write_chain(
            &mut out,
            "services",
            [
                "ip daddr . meta l4proto . th dport vmap @service-ips",
                "fib daddr type local meta l4proto . th dport vmap @service-nodeports",
            ],
        );
        write_chain(
            &mut out,
            "service-endpoints-check",
            ["ip daddr . meta l4proto . th dport vmap @no-endpoint-services"],
        );
        write_chain(
            &mut out,
            "nodeport-endpoints-check",
            ["fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports"],
        );
        // Priorities as numbers (dstnat -100, srcnat 100; filter chains at -110, ahead of
        // DNAT): older nft accepts the keywords only on some hooks.
        for (name, hook, jump) in [
            ("filter-forward", "forward", "service-endpoints-check"),
            ("filter-output", "output", "service-endpoints-check"),
            ("filter-input", "input", "nodeport-endpoints-check"),
        ] {
            let base = format!("type filter hook {hook} priority -110; policy accept;");
            let rule = format!("ct state new jump {jump}");
            write_chain(&mut out, name, [base.as_str(), rule.as_str()]);
        }
        for (name, hook) in [("nat-prerouting", "prerouting"), ("nat-output", "output")] {
            let base = format!("type nat hook {hook} priority -100; policy accept;");
            write_chain(&mut out, name, [base.as_str(), "jump services"]);
        }
        write_chain(
            &mut out,
            "nat-postrouting",
            [
                "type nat hook postrouting priority 100; policy accept;",
                "jump masquerading",
            ],
        );
        let _ = writeln!(out, "}}");
        out
    }

    /// The script turning `applied` (the table as last applied) into this one, or `None`
    /// when only a full script can (another table name, or an affinity timeout changed).
    /// Empty when nothing changed.
    ///
    /// Order within the transaction: new sets and chains are declared; new and changed
    /// chains are (flushed and) filled; map elements are replaced; then chains and sets no
    /// longer used are flushed and deleted, once nothing refers to them.
    pub fn update_script(&self, applied: &Table) -> Option<String> {
        if self.name != applied.name {
            return None;
        }
        let t = format!("{FAMILY} {}", self.name);
        let before: HashMap<&str, &Object> =
            applied.objects.iter().map(|o| (o.name(), o)).collect();
        let now: HashMap<&str, &Object> = self.objects.iter().map(|o| (o.name(), o)).collect();
        let mut out = String::new();
        for object in &self.objects {
            object.declare(&mut out, &t, before.get(object.name()).copied())?;
        }
        for object in &self.objects {
            object.fill(&mut out, &t, before.get(object.name()).copied());
        }
        for ((map, _, elements), (_, _, old)) in self.maps.iter().zip(&applied.maps) {
            for (key, verdict) in old {
                if elements.get(key) != Some(verdict) {
                    let _ = writeln!(out, "delete element {t} {map} {{ {key} }}");
                }
            }
            for (key, verdict) in elements {
                if old.get(key) != Some(verdict) {
                    let _ = writeln!(out, "add element {t} {map} {{ {key} : {verdict} }}");
                }
            }
        }
        let gone: Vec<&Object> = applied
            .objects
            .iter()
            .filter(|o| !now.contains_key(o.name()))
            .collect();
        remove(&mut out, &t, &gone);
        Some(out)
    }
}

fn write_chain<'a>(out: &mut String, name: &str, rules: impl IntoIterator<Item = &'a str>) {
    let _ = writeln!(out, "\tchain {name} {{");
    for rule in rules {
        let _ = writeln!(out, "\t\t{rule}");
    }
    let _ = writeln!(out, "\t}}");
}
