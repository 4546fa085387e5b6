//! From an nft script to nf_tables messages: [`compile`] reads the statements kedge's
//! renderers write — a whole table (`table … { chain … set … map … }`), the statements of an
//! update (`add|flush|delete chain`, `add rule`, `add|delete set`, `add|delete element`),
//! `delete table` — and the rule syntax they use, and turns each into the messages `nft -f`
//! would send. Anything else is refused with the statement named, never guessed at: the
//! unit tests compile every script the renderers produce.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use super::netlink::{self, *};

/// The messages of `script`, in the order they must be applied.
///
/// # Errors
/// `InvalidInput` naming the statement and what in it is not understood.
pub fn compile(script: &str) -> io::Result<Vec<Message>> {
    let mut compiler = Compiler::default();
    let mut lines = script.lines().map(str::trim).filter(|l| !l.is_empty());
    while let Some(line) = lines.next() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(header) = line
            .strip_suffix('{')
            .filter(|_| line.starts_with("table "))
        {
            let words: Vec<&str> = header.split_whitespace().collect();
            let [_, family, name] = words[..] else {
                return Err(unsupported(
                    line,
                    "a table header is `table <family> <name> {`",
                ));
            };
            let table = compiler.table(family, name, line)?;
            let mut block = Vec::new();
            let mut depth = 1;
            for line in lines.by_ref() {
                depth += line.matches('{').count();
                depth -= line.matches('}').count();
                if depth == 0 {
                    break;
                }
                block.push(line);
            }
            compiler.table_block(&table, &block)?;
        } else {
            compiler.statement(line)?;
        }
    }
    Ok(compiler.messages)
}

fn unsupported(statement: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot program nftables statement `{statement}`: {why}"),
    )
}

/// A table: its family and name.
#[derive(Clone, Debug)]
struct Table {
    family: u8,
    name: String,
}

#[derive(Default)]
struct Compiler {
    messages: Vec<Message>,
    next_set_id: u32,
    /// Sets created in this batch, by table and name: references name their id.
    set_ids: HashMap<(String, String), u32>,
}

fn family(word: &str) -> Option<u8> {
    match word {
        "ip" => Some(NFPROTO_IPV4),
        "ip6" => Some(NFPROTO_IPV6),
        "inet" => Some(NFPROTO_INET),
        _ => None,
    }
}

impl Compiler {
    fn push(&mut self, kind: Kind, flags: u16, table: &Table, attrs: Attrs, statement: &str) {
        self.messages.push(Message {
            kind,
            flags,
            family: table.family,
            attrs,
            statement: statement.to_string(),
        });
    }

    /// Declares a table (`table <family> <name>`), as `nft` does for `table … {`.
    fn table(&mut self, family_word: &str, name: &str, statement: &str) -> io::Result<Table> {
        let family = family(family_word)
            .ok_or_else(|| unsupported(statement, "the family must be ip, ip6 or inet"))?;
        let table = Table {
            family,
            name: name.to_string(),
        };
        let mut attrs = Attrs::default();
        attrs.string(NFTA_TABLE_NAME, name);
        attrs.u32(NFTA_TABLE_FLAGS, 0);
        self.push(Kind::NewTable, NLM_F_CREATE, &table, attrs, statement);
        Ok(table)
    }

    fn table_of(&self, family_word: &str, name: &str, statement: &str) -> io::Result<Table> {
        let family = family(family_word)
            .ok_or_else(|| unsupported(statement, "the family must be ip, ip6 or inet"))?;
        Ok(Table {
            family,
            name: name.to_string(),
        })
    }

    /// One statement outside a table block.
    fn statement(&mut self, line: &str) -> io::Result<()> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["table" | "add", "table", family, name] | ["table", family, name] => {
                self.table(family, name, line)?;
            }
            ["delete", "table", family, name] => {
                let table = self.table_of(family, name, line)?;
                let mut attrs = Attrs::default();
                attrs.string(NFTA_TABLE_NAME, name);
                self.push(Kind::DelTable, 0, &table, attrs, line);
            }
            ["add", "chain", family, table, chain] => {
                let table = self.table_of(family, table, line)?;
                self.chain(&table, chain, None, line)?;
            }
            [verb @ ("flush" | "delete"), "chain", family, table, chain] => {
                let table = self.table_of(family, table, line)?;
                let mut attrs = Attrs::default();
                let kind = if verb == "flush" {
                    attrs.string(NFTA_RULE_TABLE, &table.name);
                    attrs.string(NFTA_RULE_CHAIN, chain);
                    Kind::DelRule
                } else {
                    attrs.string(NFTA_CHAIN_TABLE, &table.name);
                    attrs.string(NFTA_CHAIN_NAME, chain);
                    Kind::DelChain
                };
                self.push(kind, 0, &table, attrs, line);
            }
            ["add", "rule", family, table, chain, ..] => {
                let table = self.table_of(family, table, line)?;
                self.rule(&table, chain, &words[5..], line)?;
            }
            ["add", "set", family, table, name, "{", ..] => {
                let table = self.table_of(family, table, line)?;
                let body = body_between_braces(line)
                    .ok_or_else(|| unsupported(line, "the set's body must be in braces"))?;
                let properties: Vec<&str> = body.split(';').map(str::trim).collect();
                self.set(&table, name, false, &properties, line)?;
            }
            ["delete", "set", family, table, name] => {
                let table = self.table_of(family, table, line)?;
                let mut attrs = Attrs::default();
                attrs.string(NFTA_SET_TABLE, &table.name);
                attrs.string(NFTA_SET_NAME, name);
                self.push(Kind::DelSet, 0, &table, attrs, line);
            }
            [
                verb @ ("add" | "delete"),
                "element",
                family,
                table,
                set,
                "{",
                ..,
            ] => {
                let table = self.table_of(family, table, line)?;
                let body = body_between_braces(line)
                    .ok_or_else(|| unsupported(line, "the elements must be in braces"))?;
                let elements: Vec<&str> = body.split(',').map(str::trim).collect();
                self.elements(&table, set, verb == "delete", &elements, line)?;
            }
            _ => return Err(unsupported(line, "not a statement kedge writes")),
        }
        Ok(())
    }

    /// The content of `table … { … }`: chains and sets are created first (rules and map
    /// elements may refer to any of them), then map elements, then the rules in order.
    fn table_block(&mut self, table: &Table, lines: &[&str]) -> io::Result<()> {
        let mut chains: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut sets: Vec<(&str, bool, Vec<&str>)> = Vec::new();
        let mut i = 0;
        while let Some(line) = lines.get(i) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let body_end = |from: usize| {
                let mut depth = 1usize;
                let mut j = from;
                while let Some(l) = lines.get(j) {
                    depth += l.matches('{').count();
                    depth = depth.saturating_sub(l.matches('}').count());
                    if depth == 0 {
                        return Ok(j);
                    }
                    j += 1;
                }
                Err(unsupported(line, "the block is not closed"))
            };
            match words[..] {
                ["chain", name, "{"] => {
                    let end = body_end(i + 1)?;
                    chains.push((name, lines[i + 1..end].to_vec()));
                    i = end + 1;
                }
                [kind @ ("set" | "map"), name, "{"] => {
                    let end = body_end(i + 1)?;
                    sets.push((name, kind == "map", lines[i + 1..end].to_vec()));
                    i = end + 1;
                }
                _ => return Err(unsupported(line, "a table holds chains, sets and maps")),
            }
        }
        for (name, body) in &chains {
            let base = body.first().filter(|l| l.starts_with("type "));
            self.chain(table, name, base.copied(), &format!("chain {name}"))?;
        }
        for (name, map, body) in &sets {
            // `elements = { … }` may span lines: everything after it is the elements.
            let at = body.iter().position(|l| l.starts_with("elements"));
            let properties = &body[..at.unwrap_or(body.len())];
            let statement = format!("{} {name}", if *map { "map" } else { "set" });
            self.set(table, name, *map, properties, &statement)?;
            if let Some(at) = at {
                let text = body[at..].join(" ");
                let inner = body_between_braces(&text)
                    .ok_or_else(|| unsupported(&statement, "elements must be in braces"))?;
                let elements: Vec<&str> = inner.split(',').map(str::trim).collect();
                self.elements(table, name, false, &elements, &statement)?;
            }
        }
        for (name, body) in &chains {
            for rule in body.iter().filter(|l| !l.starts_with("type ")) {
                let words: Vec<&str> = rule.split_whitespace().collect();
                self.rule(table, name, &words, rule)?;
            }
        }
        Ok(())
    }

    /// Creates a chain; `base` is its `type … hook … priority …; policy …;` line.
    fn chain(
        &mut self,
        table: &Table,
        name: &str,
        base: Option<&str>,
        statement: &str,
    ) -> io::Result<()> {
        let mut attrs = Attrs::default();
        attrs.string(NFTA_CHAIN_TABLE, &table.name);
        attrs.string(NFTA_CHAIN_NAME, name);
        if let Some(base) = base {
            let words: Vec<&str> = base
                .split(|c: char| c.is_whitespace() || c == ';')
                .filter(|w| !w.is_empty())
                .collect();
            let [
                "type",
                kind,
                "hook",
                hook,
                "priority",
                priority,
                "policy",
                policy,
            ] = words[..]
            else {
                return Err(unsupported(
                    base,
                    "a base chain is `type <type> hook <hook> priority <n>; policy <policy>;`",
                ));
            };
            let hook = match hook {
                "prerouting" => 0,
                "input" => 1,
                "forward" => 2,
                "output" => 3,
                "postrouting" => 4,
                _ => return Err(unsupported(base, "unknown hook")),
            };
            let priority: i32 = match priority {
                "dstnat" => -100,
                "filter" => 0,
                "srcnat" => 100,
                n => n
                    .parse()
                    .map_err(|_| unsupported(base, "unknown priority"))?,
            };
            let policy = match policy {
                "accept" => 1,
                "drop" => 0,
                _ => return Err(unsupported(base, "the policy is accept or drop")),
            };
            attrs.nested(NFTA_CHAIN_HOOK, |h| {
                h.u32(NFTA_HOOK_HOOKNUM, hook);
                h.u32(NFTA_HOOK_PRIORITY, priority as u32);
            });
            attrs.u32(NFTA_CHAIN_POLICY, policy);
            attrs.string(NFTA_CHAIN_TYPE, kind);
        }
        self.push(Kind::NewChain, NLM_F_CREATE, table, attrs, statement);
        Ok(())
    }

    fn new_set_id(&mut self) -> u32 {
        self.next_set_id += 1;
        self.next_set_id
    }

    fn set_id(&self, table: &Table, name: &str) -> Option<u32> {
        self.set_ids
            .get(&(table.name.clone(), name.to_string()))
            .copied()
    }

    /// Creates a named set or verdict map from its properties (`type …`, `flags …`,
    /// `timeout Ns`).
    fn set(
        &mut self,
        table: &Table,
        name: &str,
        map: bool,
        properties: &[&str],
        statement: &str,
    ) -> io::Result<()> {
        let mut key: Option<KeyType> = None;
        let mut flags = if map { NFT_SET_MAP } else { 0 };
        let mut timeout_ms: Option<u64> = None;
        for property in properties.iter().filter(|p| !p.is_empty()) {
            if let Some(types) = property.strip_prefix("type ") {
                let key_types = if map {
                    types
                        .strip_suffix(": verdict")
                        .map(str::trim)
                        .ok_or_else(|| {
                            unsupported(statement, "maps kedge writes map to verdicts")
                        })?
                } else {
                    types
                };
                key = Some(
                    KeyType::parse(key_types)
                        .ok_or_else(|| unsupported(statement, "unknown key type"))?,
                );
            } else if let Some(list) = property.strip_prefix("flags ") {
                for flag in list.split(',').map(str::trim) {
                    flags |= match flag {
                        "dynamic" => NFT_SET_EVAL,
                        "timeout" => NFT_SET_TIMEOUT,
                        _ => return Err(unsupported(statement, "unknown set flag")),
                    };
                }
            } else if let Some(seconds) = property
                .strip_prefix("timeout ")
                .and_then(|t| t.strip_suffix('s'))
            {
                let seconds: u64 = seconds
                    .parse()
                    .map_err(|_| unsupported(statement, "the timeout is in seconds (`10s`)"))?;
                timeout_ms = Some(seconds * 1000);
            } else {
                return Err(unsupported(statement, "unknown set property"));
            }
        }
        let key = key.ok_or_else(|| unsupported(statement, "the set has no type"))?;
        let id = self.new_set_id();
        self.set_ids
            .insert((table.name.clone(), name.to_string()), id);
        let mut attrs = Attrs::default();
        attrs.string(NFTA_SET_TABLE, &table.name);
        attrs.string(NFTA_SET_NAME, name);
        attrs.u32(NFTA_SET_FLAGS, flags);
        attrs.u32(NFTA_SET_KEY_TYPE, key.type_id());
        attrs.u32(NFTA_SET_KEY_LEN, key.len());
        if map {
            attrs.u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT);
            attrs.u32(NFTA_SET_DATA_LEN, 0);
        }
        attrs.u32(NFTA_SET_ID, id);
        if let Some(ms) = timeout_ms {
            attrs.u64(NFTA_SET_TIMEOUT, ms);
        }
        self.push(Kind::NewSet, NLM_F_CREATE, table, attrs, statement);
        Ok(())
    }

    /// Adds or deletes elements (`key` or `key : verdict`) of a set or map created earlier in
    /// this script or already in the kernel; each key field's type is told by how it is
    /// written (an address, a protocol name, a port number).
    fn elements(
        &mut self,
        table: &Table,
        set: &str,
        delete: bool,
        elements: &[&str],
        statement: &str,
    ) -> io::Result<()> {
        let mut list = Vec::new();
        for element in elements.iter().filter(|e| !e.is_empty()) {
            let (key, verdict) = match element.split_once(" : ") {
                Some((key, verdict)) => (key.trim(), Some(verdict.trim())),
                None => (element.trim(), None),
            };
            let key = encode_key(key).ok_or_else(|| unsupported(statement, "unknown key"))?;
            let verdict =
                match verdict.filter(|_| !delete) {
                    Some(v) => {
                        let words: Vec<&str> = v.split_whitespace().collect();
                        Some(parse_verdict(&words).ok_or_else(|| {
                            unsupported(statement, "an element maps to a verdict")
                        })?)
                    }
                    None => None,
                };
            let mut encoded = Attrs::default();
            netlink::element(&mut encoded, &key, verdict.as_ref());
            list.push(encoded);
        }
        let id = self.set_id(table, set);
        self.push_elements(table, set, id, delete, &list, statement);
        Ok(())
    }

    /// Element messages for `set`: as many as keep each list of elements within a netlink
    /// attribute's 64 KiB (a map of 1,000 Services does not fit in one).
    fn push_elements(
        &mut self,
        table: &Table,
        set: &str,
        set_id: Option<u32>,
        delete: bool,
        elements: &[Attrs],
        statement: &str,
    ) {
        let (kind, flags) = if delete {
            (Kind::DelSetElem, 0)
        } else {
            (Kind::NewSetElem, NLM_F_CREATE)
        };
        let mut rest = elements;
        while !rest.is_empty() {
            let mut size = 0;
            let count = rest
                .iter()
                .take_while(|e| {
                    size += e.0.len();
                    size <= MAX_ELEMENTS_BYTES
                })
                .count()
                .max(1);
            let (chunk, after) = rest.split_at(count.min(rest.len()));
            rest = after;
            let mut attrs = Attrs::default();
            attrs.string(NFTA_SET_ELEM_LIST_TABLE, &table.name);
            attrs.string(NFTA_SET_ELEM_LIST_SET, set);
            if let Some(id) = set_id {
                attrs.u32(NFTA_SET_ELEM_LIST_SET_ID, id);
            }
            attrs.nested(NFTA_SET_ELEM_LIST_ELEMENTS, |l| {
                for element in chunk {
                    l.0.extend_from_slice(&element.0);
                }
            });
            self.push(kind, flags, table, attrs, statement);
        }
    }

    /// Appends a rule to `chain`.
    fn rule(
        &mut self,
        table: &Table,
        chain: &str,
        words: &[&str],
        statement: &str,
    ) -> io::Result<()> {
        let exprs = self.expressions(table, words, statement)?;
        let mut attrs = Attrs::default();
        attrs.string(NFTA_RULE_TABLE, &table.name);
        attrs.string(NFTA_RULE_CHAIN, chain);
        expressions(&mut attrs, &exprs);
        self.push(
            Kind::NewRule,
            NLM_F_CREATE | NLM_F_APPEND,
            table,
            attrs,
            statement,
        );
        Ok(())
    }
}

/// The text between the first `{` and the last `}`.
fn body_between_braces(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    text.get(start + 1..end).map(str::trim)
}

/// A set's key: one field or a concatenation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyType(Vec<Field>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Ipv4,
    Ipv6,
    Protocol,
    Service,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        match name {
            "ipv4_addr" => Some(Field::Ipv4),
            "ipv6_addr" => Some(Field::Ipv6),
            "inet_proto" => Some(Field::Protocol),
            "inet_service" => Some(Field::Service),
            _ => None,
        }
    }

    fn type_id(self) -> u32 {
        match self {
            Field::Ipv4 => TYPE_IPADDR,
            Field::Ipv6 => TYPE_IPADDR + 1,
            Field::Protocol => TYPE_INET_PROTOCOL,
            Field::Service => TYPE_INET_SERVICE,
        }
    }

    fn len(self) -> u32 {
        match self {
            Field::Ipv4 => 4,
            Field::Ipv6 => 16,
            Field::Protocol => 1,
            Field::Service => 2,
        }
    }
}

impl KeyType {
    fn parse(text: &str) -> Option<KeyType> {
        text.split(" . ")
            .map(|f| Field::parse(f.trim()))
            .collect::<Option<Vec<_>>>()
            .map(KeyType)
    }

    fn type_id(&self) -> u32 {
        concat_type(&self.0.iter().map(|f| f.type_id()).collect::<Vec<_>>())
    }

    /// A single field has its own length; in a concatenation each takes whole registers.
    fn len(&self) -> u32 {
        match &self.0[..] {
            [one] => one.len(),
            fields => fields.iter().map(|f| f.len().div_ceil(4) * 4).sum(),
        }
    }
}

fn protocol_number(name: &str) -> Option<u8> {
    match name {
        "tcp" => Some(6),
        "udp" => Some(17),
        "sctp" => Some(132),
        n => n.parse().ok(),
    }
}

/// A key as written (`10.43.0.7 . tcp . 80`): addresses, protocol names and port numbers.
fn encode_key(text: &str) -> Option<Vec<u8>> {
    let fields: Vec<&str> = text.split(" . ").map(str::trim).collect();
    let mut out = Vec::new();
    for field in &fields {
        let bytes = if let Ok(ip) = field.parse::<IpAddr>() {
            match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            }
        } else if let Ok(port) = field.parse::<u16>() {
            port.to_be_bytes().to_vec()
        } else {
            vec![protocol_number(field)?]
        };
        out.extend_from_slice(&bytes);
        if fields.len() > 1 {
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
    }
    Some(out)
}

/// `drop`, `accept`, `return`, `jump <chain>`, `goto <chain>`.
fn parse_verdict(words: &[&str]) -> Option<Verdict> {
    match words {
        ["drop"] => Some(Verdict::Drop),
        ["accept"] => Some(Verdict::Accept),
        ["return"] => Some(Verdict::Return),
        ["jump", chain] => Some(Verdict::Jump(chain.trim_end_matches(',').to_string())),
        ["goto", chain] => Some(Verdict::Goto(chain.trim_end_matches(',').to_string())),
        _ => None,
    }
}

/// An address with an optional prefix length.
fn parse_prefix(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

const NETWORK: u32 = 1;
const TRANSPORT: u32 = 2;
const META_MARK: u32 = 3;
const META_IIFNAME: u32 = 6;
const META_OIFNAME: u32 = 7;
const META_NFPROTO: u32 = 15;
const META_L4PROTO: u32 = 16;
const CT_STATE: u32 = 0;
const CT_STATUS: u32 = 2;
const CT_STATE_NEW: u32 = 8;
const IPS_DST_NAT: u32 = 0x20;
const RTN_LOCAL: u32 = 2;
const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 0x10;

fn ne32(value: u32) -> Vec<u8> {
    value.to_ne_bytes().to_vec()
}

fn load_meta(exprs: &mut Vec<Expr>, key: u32) {
    exprs.push(Expr::Meta { dreg: REG_1, key });
}

fn cmp(exprs: &mut Vec<Expr>, op: CmpOp, data: Vec<u8>) {
    exprs.push(Expr::Cmp {
        sreg: REG_1,
        op,
        data,
    });
}

/// `reg 1 & mask != 0`: a flag is set.
fn flag_set(exprs: &mut Vec<Expr>, mask: u32) {
    exprs.push(Expr::Bitwise {
        reg: REG_1,
        mask: ne32(mask),
        xor: ne32(0),
    });
    cmp(exprs, CmpOp::Neq, ne32(0));
}

impl Compiler {
    /// The expressions of one rule (and, first, the anonymous maps it uses).
    fn expressions(
        &mut self,
        table: &Table,
        words: &[&str],
        statement: &str,
    ) -> io::Result<Vec<Expr>> {
        let bad = |why: &str| unsupported(statement, why);
        let mut exprs = Vec::new();
        // In an inet table, a match on an IP header first checks the packet's family.
        let mut checked_family: Option<u8> = None;
        let mut i = 0;
        while i < words.len() {
            let rest = &words[i..];
            match rest {
                [ip @ ("ip" | "ip6"), dir @ ("saddr" | "daddr"), ..] => {
                    let v6 = *ip == "ip6";
                    let nfproto = if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 };
                    if table.family == NFPROTO_INET && checked_family != Some(nfproto) {
                        load_meta(&mut exprs, META_NFPROTO);
                        cmp(&mut exprs, CmpOp::Eq, vec![nfproto]);
                        checked_family = Some(nfproto);
                    }
                    let (offset, len) = match (v6, *dir) {
                        (false, "saddr") => (12, 4),
                        (false, _) => (16, 4),
                        (true, "saddr") => (8, 16),
                        (true, _) => (24, 16),
                    };
                    let load = |dreg: u32, len: u32| Expr::Payload {
                        dreg,
                        base: NETWORK,
                        offset,
                        len,
                    };
                    match &rest[2..] {
                        // ip daddr . meta l4proto . th dport vmap @map
                        [".", "meta", "l4proto", ".", "th", "dport", "vmap", map, ..] => {
                            exprs.push(load(REG_1, len));
                            let next = REG32_00 + len / 4;
                            exprs.push(Expr::Meta {
                                dreg: next,
                                key: META_L4PROTO,
                            });
                            exprs.push(Expr::Payload {
                                dreg: next + 1,
                                base: TRANSPORT,
                                offset: 2,
                                len: 2,
                            });
                            exprs.push(self.lookup(table, map, Some(REG_VERDICT), statement)?);
                            i += 10;
                        }
                        [set, ..] if set.starts_with('@') => {
                            exprs.push(load(REG_1, len));
                            exprs.push(self.lookup(table, set, None, statement)?);
                            i += 3;
                        }
                        [op @ ("!=" | "=="), prefix, ..] => {
                            let op = if *op == "!=" { CmpOp::Neq } else { CmpOp::Eq };
                            self.prefix_match(&mut exprs, offset, prefix, op, statement)?;
                            i += 4;
                        }
                        [prefix, ..] => {
                            self.prefix_match(&mut exprs, offset, prefix, CmpOp::Eq, statement)?;
                            i += 3;
                        }
                        [] => return Err(bad("an address match needs an address")),
                    }
                }
                ["meta", "l4proto", ".", "th", "dport", "vmap", map, ..] => {
                    load_meta(&mut exprs, META_L4PROTO);
                    exprs.push(Expr::Payload {
                        dreg: REG32_00 + 1,
                        base: TRANSPORT,
                        offset: 2,
                        len: 2,
                    });
                    exprs.push(self.lookup(table, map, Some(REG_VERDICT), statement)?);
                    i += 7;
                }
                ["meta", "l4proto", proto, ..] => {
                    let number = protocol_number(proto).ok_or_else(|| bad("unknown protocol"))?;
                    load_meta(&mut exprs, META_L4PROTO);
                    cmp(&mut exprs, CmpOp::Eq, vec![number]);
                    i += 3;
                }
                ["meta", "nfproto", proto, ..] => {
                    let number = match *proto {
                        "ipv4" => NFPROTO_IPV4,
                        "ipv6" => NFPROTO_IPV6,
                        _ => return Err(bad("meta nfproto is ipv4 or ipv6")),
                    };
                    load_meta(&mut exprs, META_NFPROTO);
                    cmp(&mut exprs, CmpOp::Eq, vec![number]);
                    checked_family = Some(number);
                    i += 3;
                }
                ["meta", "mark", "&", mask, "==", value, ..] => {
                    let mask = parse_u32(mask).ok_or_else(|| bad("the mask is a number"))?;
                    let value = parse_u32(value).ok_or_else(|| bad("the value is a number"))?;
                    load_meta(&mut exprs, META_MARK);
                    exprs.push(Expr::Bitwise {
                        reg: REG_1,
                        mask: ne32(mask),
                        xor: ne32(0),
                    });
                    cmp(&mut exprs, CmpOp::Eq, ne32(value));
                    i += 6;
                }
                [
                    "meta",
                    "mark",
                    "set",
                    "meta",
                    "mark",
                    op @ ("|" | "^"),
                    value,
                    ..,
                ] => {
                    let value = parse_u32(value).ok_or_else(|| bad("the value is a number"))?;
                    let mask = if *op == "|" { !value } else { u32::MAX };
                    load_meta(&mut exprs, META_MARK);
                    exprs.push(Expr::Bitwise {
                        reg: REG_1,
                        mask: ne32(mask),
                        xor: ne32(value),
                    });
                    exprs.push(Expr::MetaSet {
                        sreg: REG_1,
                        key: META_MARK,
                    });
                    i += 7;
                }
                ["fib", dir @ ("saddr" | "daddr"), "type", "local", ..] => {
                    let flags = if *dir == "saddr" { 1 } else { 2 };
                    exprs.push(Expr::FibAddrType { dreg: REG_1, flags });
                    cmp(&mut exprs, CmpOp::Eq, ne32(RTN_LOCAL));
                    i += 4;
                }
                ["ct", "state", "new", ..] => {
                    exprs.push(Expr::Ct {
                        dreg: REG_1,
                        key: CT_STATE,
                    });
                    flag_set(&mut exprs, CT_STATE_NEW);
                    i += 3;
                }
                ["ct", "status", "dnat", ..] => {
                    exprs.push(Expr::Ct {
                        dreg: REG_1,
                        key: CT_STATUS,
                    });
                    flag_set(&mut exprs, IPS_DST_NAT);
                    i += 3;
                }
                [dir @ ("iifname" | "oifname"), name, ..] => {
                    let name = name.trim_matches('"');
                    let mut data = name.as_bytes().to_vec();
                    data.push(0);
                    let key = if *dir == "iifname" {
                        META_IIFNAME
                    } else {
                        META_OIFNAME
                    };
                    load_meta(&mut exprs, key);
                    cmp(&mut exprs, CmpOp::Eq, data);
                    i += 2;
                }
                [proto @ ("tcp" | "udp" | "sctp"), "dport", port, ..] => {
                    let port: u16 = port.parse().map_err(|_| bad("the port is a number"))?;
                    load_meta(&mut exprs, META_L4PROTO);
                    cmp(
                        &mut exprs,
                        CmpOp::Eq,
                        vec![protocol_number(proto).unwrap_or(0)],
                    );
                    exprs.push(Expr::Payload {
                        dreg: REG_1,
                        base: TRANSPORT,
                        offset: 2,
                        len: 2,
                    });
                    cmp(&mut exprs, CmpOp::Eq, port.to_be_bytes().to_vec());
                    i += 3;
                }
                ["reject", "with", "tcp", "reset", ..] => {
                    exprs.push(Expr::Reject { kind: 1, code: 0 });
                    i += 4;
                }
                ["reject", ..] => {
                    // ICMP port unreachable; in an inet table the family-neutral ICMPX one.
                    exprs.push(if table.family == NFPROTO_INET {
                        Expr::Reject { kind: 2, code: 1 }
                    } else {
                        Expr::Reject { kind: 0, code: 3 }
                    });
                    i += 1;
                }
                ["masquerade", "fully-random", ..] => {
                    exprs.push(Expr::Masquerade {
                        flags: NF_NAT_RANGE_PROTO_RANDOM_FULLY,
                    });
                    i += 2;
                }
                ["masquerade", ..] => {
                    exprs.push(Expr::Masquerade { flags: 0 });
                    i += 1;
                }
                ["update", set, "{", "ip", "saddr", "}", ..] => {
                    let name = set
                        .strip_prefix('@')
                        .ok_or_else(|| bad("update names a set with @"))?;
                    exprs.push(Expr::Payload {
                        dreg: REG_1,
                        base: NETWORK,
                        offset: 12,
                        len: 4,
                    });
                    exprs.push(Expr::DynsetUpdate {
                        set: name.to_string(),
                        set_id: self.set_id(table, name),
                        sreg: REG_1,
                    });
                    i += 6;
                }
                ["dnat", "to", target, ..] => {
                    self.dnat(&mut exprs, table, target, statement)?;
                    i += 3;
                }
                ["dnat", "ip" | "ip6", "to", target, ..] => {
                    self.dnat(&mut exprs, table, target, statement)?;
                    i += 4;
                }
                ["numgen", "random", "mod", modulus, "vmap", "{", ..] => {
                    let modulus: u32 = modulus.parse().map_err(|_| bad("mod takes a number"))?;
                    let close = rest
                        .iter()
                        .position(|w| *w == "}")
                        .ok_or_else(|| bad("the vmap is not closed"))?;
                    let inner = rest[6..close].join(" ");
                    let id = self.anonymous_map(table, &inner, statement)?;
                    exprs.push(Expr::NumgenRandom {
                        dreg: REG_1,
                        modulus,
                    });
                    exprs.push(Expr::Lookup {
                        set: ANONYMOUS_MAP.to_string(),
                        set_id: Some(id),
                        sreg: REG_1,
                        dreg: Some(REG_VERDICT),
                    });
                    i += close + 1;
                }
                [verdict @ ("drop" | "accept" | "return"), ..] => {
                    exprs.push(Expr::Verdict(
                        parse_verdict(&[verdict]).unwrap_or(Verdict::Drop),
                    ));
                    i += 1;
                }
                [kind @ ("jump" | "goto"), chain, ..] => {
                    exprs.push(Expr::Verdict(
                        parse_verdict(&[kind, chain]).unwrap_or(Verdict::Drop),
                    ));
                    i += 2;
                }
                _ => {
                    return Err(bad(&format!(
                        "`{}` is not a match or statement kedge writes",
                        rest.join(" ")
                    )));
                }
            }
        }
        Ok(exprs)
    }

    /// A lookup in a named set (`@name`), into the verdict register for a map.
    fn lookup(
        &self,
        table: &Table,
        set: &str,
        dreg: Option<u32>,
        statement: &str,
    ) -> io::Result<Expr> {
        let name = set
            .strip_prefix('@')
            .ok_or_else(|| unsupported(statement, "a set is named with @"))?;
        Ok(Expr::Lookup {
            set: name.to_string(),
            set_id: self.set_id(table, name),
            sreg: REG_1,
            dreg,
        })
    }

    /// `addr[/len]` at `offset` of the network header.
    fn prefix_match(
        &self,
        exprs: &mut Vec<Expr>,
        offset: u32,
        prefix: &str,
        op: CmpOp,
        statement: &str,
    ) -> io::Result<()> {
        let (ip, len) =
            parse_prefix(prefix).ok_or_else(|| unsupported(statement, "not an address"))?;
        if len == 0 {
            return Err(unsupported(statement, "a /0 prefix matches everything"));
        }
        // As nft does: a byte-aligned prefix loads only its bytes; another loads the whole
        // address and masks it.
        let mut value = octets(ip);
        let aligned = len % 8 == 0;
        let bytes = if aligned {
            usize::from(len / 8)
        } else {
            value.len()
        };
        value.truncate(bytes);
        exprs.push(Expr::Payload {
            dreg: REG_1,
            base: NETWORK,
            offset,
            len: bytes as u32,
        });
        if !aligned {
            let mask: Vec<u8> = (0..bytes)
                .map(|i| {
                    let bits = usize::from(len).saturating_sub(i * 8).min(8);
                    if bits == 0 { 0 } else { 0xffu8 << (8 - bits) }
                })
                .collect();
            for (v, m) in value.iter_mut().zip(&mask) {
                *v &= m;
            }
            exprs.push(Expr::Bitwise {
                reg: REG_1,
                mask,
                xor: vec![0; bytes],
            });
        }
        cmp(exprs, op, value);
        Ok(())
    }

    /// `dnat to addr:port` (`[addr]:port` for IPv6).
    fn dnat(
        &self,
        exprs: &mut Vec<Expr>,
        table: &Table,
        target: &str,
        statement: &str,
    ) -> io::Result<()> {
        let bad = || unsupported(statement, "dnat goes to <address>:<port>");
        let (addr, port) = target.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let family = match ip {
            IpAddr::V4(_) => NFPROTO_IPV4,
            IpAddr::V6(_) => NFPROTO_IPV6,
        };
        if table.family != NFPROTO_INET && table.family != family {
            return Err(unsupported(statement, "the address is of another family"));
        }
        exprs.push(Expr::Immediate {
            dreg: REG_1,
            data: octets(ip),
        });
        exprs.push(Expr::Immediate {
            dreg: REG_2,
            data: port.to_be_bytes().to_vec(),
        });
        exprs.push(Expr::Dnat {
            family,
            addr: REG_1,
            proto: REG_2,
        });
        Ok(())
    }

    /// A constant anonymous verdict map from integers (`0 : goto a, 1 : goto b`), created
    /// ahead of the rule using it; returns its id in the batch.
    fn anonymous_map(&mut self, table: &Table, inner: &str, statement: &str) -> io::Result<u32> {
        let mut list = Vec::new();
        let mut count = 0u32;
        for element in inner.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, verdict) = element
                .split_once(" : ")
                .ok_or_else(|| unsupported(statement, "a vmap element is `<n> : <verdict>`"))?;
            let key: u32 = key
                .trim()
                .parse()
                .map_err(|_| unsupported(statement, "numgen keys are numbers"))?;
            let words: Vec<&str> = verdict.split_whitespace().collect();
            let verdict = parse_verdict(&words)
                .ok_or_else(|| unsupported(statement, "a vmap element maps to a verdict"))?;
            let mut encoded = Attrs::default();
            netlink::element(&mut encoded, &ne32(key), Some(&verdict));
            list.push(encoded);
            count += 1;
        }
        let id = self.new_set_id();
        let mut attrs = Attrs::default();
        attrs.string(NFTA_SET_TABLE, &table.name);
        attrs.string(NFTA_SET_NAME, ANONYMOUS_MAP);
        attrs.u32(
            NFTA_SET_FLAGS,
            NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP,
        );
        attrs.u32(NFTA_SET_KEY_TYPE, TYPE_INTEGER);
        attrs.u32(NFTA_SET_KEY_LEN, 4);
        attrs.u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT);
        attrs.u32(NFTA_SET_DATA_LEN, 0);
        attrs.u32(NFTA_SET_ID, id);
        attrs.nested(NFTA_SET_DESC, |d| d.u32(NFTA_SET_DESC_SIZE, count));
        // For `nft list`: the keys are in host byte order (nftnl's user data, type 0 =
        // key byte order, 1 = host endian); the kernel does not read it.
        let mut user_data = vec![0u8, 4];
        user_data.extend_from_slice(&1u32.to_ne_bytes());
        attrs.put(NFTA_SET_USERDATA, &user_data);
        self.push(Kind::NewSet, NLM_F_CREATE, table, attrs, statement);
        self.push_elements(table, ANONYMOUS_MAP, Some(id), false, &list, statement);
        Ok(id)
    }
}

/// The most bytes of elements one message carries (a netlink attribute holds < 64 KiB).
const MAX_ELEMENTS_BYTES: usize = 32 * 1024;

/// The name the kernel numbers an anonymous set by.
const ANONYMOUS_MAP: &str = "__map%d";

/// `0x4000` or `16384`.
fn parse_u32(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
