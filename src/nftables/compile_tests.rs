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

/// The kernel's refusal names the statement, and nothing of the batch is applied. Needs
/// root; skips without it, fails in CI.
#[test]
fn a_refused_batch_names_the_statement_and_changes_nothing() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "needs root in CI");
        eprintln!("skipped: needs root");
        return;
    }
    let scripts = vec![
        "table ip kedge-t {\n\tchain a {\n\t\tdrop\n\t}\n}\n".to_string(),
        "add chain ip kedge-t b\n".to_string(),
    ];
    let listed = super::super::listings(&scripts, "ip kedge-t", |script| {
        if script.starts_with("add chain") {
            // A rule jumping to a chain that does not exist: the kernel refuses it.
            let error =
                super::super::apply(&format!("{script}add rule ip kedge-t a jump nowhere\n"))
                    .unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("nf_tables refused `add rule ip kedge-t a jump nowhere`"),
                "{error}"
            );
            Ok(())
        } else {
            super::super::apply(script)
        }
    });
    assert!(listed[0].contains("chain a"), "{}", listed[0]);
    // Chain b came in the refused batch: it is not there.
    assert_eq!(listed[1], listed[0]);
}

/// `kedge delete-nftables` (kedge-killall.sh without the `nft` command) removes kedge's two
/// tables and nothing else, and is content when they are gone. Needs root; skips without it,
/// fails in CI.
#[test]
fn kedges_tables_are_deleted_and_others_kept() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "needs root in CI");
        eprintln!("skipped: needs root");
        return;
    }
    let scripts = vec![
        "table inet kedge\ntable ip kedge-proxy\ntable ip other\n".to_string(),
        String::new(),
        String::new(),
    ];
    let listed = std::sync::Mutex::new(0);
    let listings = super::super::listings(&scripts, "ip other", move |script| {
        let mut step = listed.lock().unwrap();
        *step += 1;
        match *step {
            1 => super::super::apply(script),
            // The tables exist, then they are gone already.
            _ => super::super::delete_kedge_tables(),
        }
    });
    assert!(
        listings.iter().all(|l| l.contains("table ip other")),
        "{listings:?}"
    );
    // Listed from inside the same namespace, kedge's tables are gone after the first delete.
    let gone = super::super::listings(
        &["table inet kedge\n".to_string(), String::new()],
        "inet kedge",
        {
            let step = std::sync::Mutex::new(0);
            move |script| {
                let mut n = step.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    super::super::apply(script)
                } else {
                    super::super::delete_kedge_tables()
                }
            }
        },
    );
    assert!(gone[0].contains("table inet kedge"), "{gone:?}");
    assert_eq!(gone[1], "");
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

/// Without `CAP_NET_ADMIN` the kernel refuses the batch as a whole: the error comes at once
/// (it used to wait for the answer timeout). Needs root (to drop the capability from a
/// thread of its own); skips without it, fails in CI.
#[test]
fn a_batch_refused_as_a_whole_fails_at_once() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "needs root in CI");
        eprintln!("skipped: needs root");
        return;
    }
    let outcome = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        // Capabilities are per thread: this one keeps none.
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let header = Header {
            version: 0x2008_0522,
            pid: 0,
        };
        let data = [
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
        ];
        // SAFETY: capset reads the two structures, which live across the call.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
        assert_eq!(rc, 0, "capset: {}", io::Error::last_os_error());
        let started = std::time::Instant::now();
        let result = super::super::apply("table ip kedge-t\n");
        (result, started.elapsed())
    })
    .join()
    .unwrap();
    let error = outcome.0.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied, "{error}");
    assert!(
        error.to_string().contains("refused the whole transaction"),
        "{error}"
    );
    assert!(
        outcome.1 < std::time::Duration::from_secs(10),
        "{:?}",
        outcome.1
    );
}
