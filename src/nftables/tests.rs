//! Tests of applying scripts in the kernel, as root in private network namespaces: without
//! root they skip, or fail when `CI` is set. The compiler's own tests are in
//! `compile_tests.rs`.

use super::*;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "needs root in CI");
        eprintln!("skipped: needs root");
        return false;
    }
    true
}

/// The kernel's refusal names the statement, and nothing of the batch is applied. Needs
/// root; skips without it, fails in CI.
#[test]
fn a_refused_batch_names_the_statement_and_changes_nothing() {
    if !root() {
        return;
    }
    let scripts = vec![
        "table ip kedge-t {\n\tchain a {\n\t\tdrop\n\t}\n}\n".to_string(),
        "add chain ip kedge-t b\n".to_string(),
    ];
    let listed = listings(&scripts, "ip kedge-t", |script| {
        if script.starts_with("add chain") {
            // A rule jumping to a chain that does not exist: the kernel refuses it.
            let error =
                apply(&format!("{script}add rule ip kedge-t a jump nowhere\n")).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("nf_tables refused `add rule ip kedge-t a jump nowhere`"),
                "{error}"
            );
            Ok(())
        } else {
            apply(script)
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
    if !root() {
        return;
    }
    let listed = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        apply("table inet kedge\ntable ip kedge-proxy\ntable ip other\n").unwrap();
        delete_kedge_tables().unwrap();
        delete_kedge_tables().unwrap();
        let out = std::process::Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .join()
    .unwrap();
    assert_eq!(listed.trim(), "table ip other");
}

/// Without `CAP_NET_ADMIN` the kernel refuses the batch as a whole: the error comes at once
/// (it used to wait for the answer timeout). Needs root (to drop the capability from a
/// thread of its own); skips without it, fails in CI.
#[test]
fn a_batch_refused_as_a_whole_fails_at_once() {
    if !root() {
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
        let result = apply("table ip kedge-t\n");
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
