//! The kubectl scenario suite (`tests/kubectl/scenarios.py`), run against a fresh kedge
//! server with every kubectl found on the machine (1.27–1.33 and 1.35 in CI).

mod common;

use common::{Cluster, kubectls};

#[test]
fn kubectl_scenarios_with_every_version() {
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kubectl/scenarios.py");
    let mut failures = Vec::new();
    for kubectl in kubectls() {
        let cluster = Cluster::start();
        let out = cluster.run(
            std::path::Path::new("python3"),
            &[
                suite,
                "--kubectl",
                kubectl.path.to_str().unwrap(),
                "--kubeconfig",
                cluster.kubeconfig().to_str().unwrap(),
            ],
        );
        eprintln!("kubectl {}:\n{}{}", kubectl.version, out.stdout, out.stderr);
        if out.code != 0 {
            failures.push(kubectl.version.clone());
        }
    }
    assert!(
        failures.is_empty(),
        "scenarios failed with kubectl {failures:?}"
    );
}
