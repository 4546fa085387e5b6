//! Tests with the official Python client (PyPI `kubernetes`), in `tests/python/`, run by
//! pytest against a fresh kedge server.

mod common;

use common::Cluster;

#[test]
fn python_client_suite() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import kubernetes, pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Python client is missing (run scripts/test-tools.sh)"
        );
        eprintln!("skipped: pip install kubernetes pytest (scripts/test-tools.sh does)");
        return;
    }
    let cluster = Cluster::start();
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
    let out = cluster.run(
        std::path::Path::new("python3"),
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", tests],
    );
    eprintln!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "the Python client tests failed");
}
