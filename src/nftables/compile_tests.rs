//! Unit tests of the script compiler; the kernel tests comparing its tables with nft's are
//! with the renderers (`agent::proxy::rules`, `agent::network::nftables`).

use super::*;

fn kinds(script: &str) -> Vec<Kind> {
    compile(script).unwrap().iter().map(|m| m.kind).collect()
}

#[test]
fn a_table_block_creates_chains_and_sets_before_rules_and_elements() {
    let script = "table ip t\ndelete table ip t\ntable ip t {\n\tchain a {\n\t\tgoto b\n\t}\n\tchain b {\n\t\tdrop\n\t}\n\tmap m {\n\t\ttype inet_proto . inet_service : verdict\n\t\telements = {\n\t\t\ttcp . 80 : goto a,\n\t\t}\n\t}\n}\n";
    assert_eq!(
        kinds(script),
        [
            Kind::NewTable,
            Kind::DelTable,
            Kind::NewTable,
            Kind::NewChain,
            Kind::NewChain,
            Kind::NewSet,
            Kind::NewSetElem,
            Kind::NewRule,
            Kind::NewRule,
        ]
    );
}

#[test]
fn update_statements_map_to_one_message_each() {
    let script = "add chain ip t c\nflush chain ip t c\nadd rule ip t c ip saddr 10.0.0.1 jump d\n\
                  add element ip t m { 10.43.0.1 . udp . 53 : goto c }\n\
                  delete element ip t m { 10.43.0.1 . udp . 53 }\ndelete chain ip t c\n\
                  add set ip t s { type ipv4_addr; flags dynamic,timeout; timeout 30s; }\n\
                  delete set ip t s\n";
    assert_eq!(
        kinds(script),
        [
            Kind::NewChain,
            Kind::DelRule,
            Kind::NewRule,
            Kind::NewSetElem,
            Kind::DelSetElem,
            Kind::DelChain,
            Kind::NewSet,
            Kind::DelSet,
        ]
    );
}

#[test]
fn a_numgen_vmap_creates_its_anonymous_map_ahead_of_the_rule() {
    let messages =
        compile("add rule ip t c numgen random mod 2 vmap { 0 : goto a, 1 : goto b }").unwrap();
    let kinds: Vec<Kind> = messages.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [Kind::NewSet, Kind::NewSetElem, Kind::NewRule]);
}

#[test]
fn keys_are_encoded_by_how_each_field_is_written() {
    assert_eq!(
        encode_key("10.43.0.7 . tcp . 80").unwrap(),
        [10, 43, 0, 7, 6, 0, 0, 0, 0, 80, 0, 0]
    );
    assert_eq!(
        encode_key("udp . 30053").unwrap(),
        [17, 0, 0, 0, 0x75, 0x65, 0, 0]
    );
    assert_eq!(encode_key("10.0.0.1").unwrap(), [10, 0, 0, 1]);
    assert_eq!(encode_key("nonsense"), None);
}

#[test]
fn key_types_are_nfts_concatenations() {
    let key = KeyType::parse("ipv4_addr . inet_proto . inet_service").unwrap();
    assert_eq!(key.type_id(), 0x730d);
    assert_eq!(key.len(), 12);
    let key = KeyType::parse("ipv4_addr").unwrap();
    assert_eq!((key.type_id(), key.len()), (7, 4));
}

#[test]
fn what_kedge_does_not_write_is_refused_with_the_statement_named() {
    for script in [
        "add rule ip t c ip saddr 10.0.0.1 log prefix x",
        "add rule ip t c tcp flags syn accept",
        "add chain bridge t c",
        "insert rule ip t c accept",
        "table ip t {\n\tflowtable f {\n\t}\n}\n",
        "add rule ip t c ip saddr 10.0.0.0/33 accept",
    ] {
        let error = compile(script).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{script}");
        let first = script.lines().next().unwrap();
        assert!(
            error
                .to_string()
                .contains("cannot program nftables statement"),
            "{error}"
        );
        assert!(
            error.to_string().contains(first.trim()) || first.starts_with("table"),
            "{error}"
        );
    }
}

#[test]
fn prefixes_load_their_bytes_or_mask_the_whole_address() {
    let compiler = Compiler::default();
    let mut exprs = Vec::new();
    compiler
        .prefix_match(&mut exprs, 12, "10.42.0.0/16", CmpOp::Eq, "s")
        .unwrap();
    assert_eq!(
        exprs,
        [
            Expr::Payload {
                dreg: REG_1,
                base: NETWORK,
                offset: 12,
                len: 2
            },
            Expr::Cmp {
                sreg: REG_1,
                op: CmpOp::Eq,
                data: vec![10, 42]
            },
        ]
    );
    exprs.clear();
    compiler
        .prefix_match(&mut exprs, 16, "224.0.0.0/4", CmpOp::Eq, "s")
        .unwrap();
    assert_eq!(
        exprs[1],
        Expr::Bitwise {
            reg: REG_1,
            mask: vec![0xf0, 0, 0, 0],
            xor: vec![0; 4]
        }
    );
    assert_eq!(
        exprs[2],
        Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Eq,
            data: vec![224, 0, 0, 0]
        }
    );
    assert!(
        compiler
            .prefix_match(&mut exprs, 16, "0.0.0.0/0", CmpOp::Eq, "s")
            .is_err()
    );
}

#[test]
fn large_element_lists_are_split_into_messages_under_the_attribute_limit() {
    let elements: Vec<String> = (0..3000)
        .map(|i| format!("10.43.{}.{} . tcp . 80 : goto svc-{i}", i / 256, i % 256))
        .collect();
    let script = format!("add element ip t service-ips {{ {} }}", elements.join(", "));
    let messages = compile(&script).unwrap();
    assert!(messages.len() > 1, "{}", messages.len());
    assert!(messages.iter().all(|m| m.kind == Kind::NewSetElem));
    assert!(messages.iter().all(|m| m.attrs.0.len() < 40 * 1024));
}
