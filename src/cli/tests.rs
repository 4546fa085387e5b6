//! Config file semantics, checked against k3s's: keys are flag names, later files replace,
//! `key+` appends, repeatable flags take lists, the command line wins.

use std::path::Path;

use super::{Command, parse_from};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn server(config: &Path, extra: &[&str]) -> Result<super::ServerArgs, super::CliError> {
    let mut args = vec!["kedge", "server", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    match parse_from(args)?.command {
        Command::Server(args) => Ok(*args),
        other => panic!("parsed {other:?}"),
    }
}

#[test]
fn file_values_apply_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    write(
        &file,
        "https-listen-port: 7443\nwrite-kubeconfig-mode: \"0644\"\nnode-label:\n  - a=1\n  - b=2\ndisable-agent: true\ndisable-scheduler: false\n",
    );
    let args = server(&file, &[]).unwrap();
    assert_eq!(args.https_listen_port, 7443);
    assert_eq!(args.write_kubeconfig_mode, "0644");
    assert_eq!(args.node.node_label, ["a=1", "b=2"]);
    assert!(args.disable_agent);
    assert!(!args.disable_scheduler);

    let args = server(
        &file,
        &["--https-listen-port", "8443", "--node-label", "c=3"],
    )
    .unwrap();
    assert_eq!(args.https_listen_port, 8443);
    // As in k3s, a repeatable flag on the command line adds to the file's list.
    assert_eq!(args.node.node_label, ["a=1", "b=2", "c=3"]);
}

#[test]
fn dropins_replace_or_append_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    write(
        &file,
        "node-name: base\ntls-san: [one]\nnode-taint: [x=y:NoSchedule]\n",
    );
    write(
        &dir.path().join("config.yaml.d/20-late.yaml"),
        "node-name: late\ntls-san+: [three]\n",
    );
    write(
        &dir.path().join("config.yaml.d/10-early.yml"),
        "node-name: early\ntls-san+: two\nnode-taint: [z=w:NoExecute]\n",
    );
    write(
        &dir.path().join("config.yaml.d/30-ignored.txt"),
        "not: [yaml",
    );
    let args = server(&file, &[]).unwrap();
    assert_eq!(args.node.node_name.as_deref(), Some("late"));
    assert_eq!(args.tls_san, ["one", "two", "three"]);
    assert_eq!(args.node.node_taint, ["z=w:NoExecute"]);
}

#[test]
fn dropins_alone_are_enough() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    write(
        &dir.path().join("config.yaml.d/a.yaml"),
        "cluster-domain: example.internal\n",
    );
    assert_eq!(
        server(&file, &[]).unwrap().cluster_domain,
        "example.internal"
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    write(
        &file,
        "https-listen-port: 7443\nclutser-cidr: 10.0.0.0/16\n",
    );
    let error = server(&file, &[]).unwrap_err().to_string();
    assert!(error.contains("unknown key \"clutser-cidr\""), "{error}");
    assert!(error.contains(file.to_str().unwrap()), "{error}");
}

#[test]
fn keys_of_another_command_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    write(
        &file,
        "cluster-cidr: 10.0.0.0/16\nnode-name: worker-1\nserver: https://10.0.0.1:6443\n",
    );
    let parsed = parse_from(["kedge", "agent", "--config", file.to_str().unwrap()]).unwrap();
    let Command::Agent(args) = parsed.command else {
        panic!()
    };
    assert_eq!(args.node.node_name.as_deref(), Some("worker-1"));
    assert_eq!(args.server.as_deref(), Some("https://10.0.0.1:6443"));
}

#[test]
fn bad_values_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    for (text, needle) in [
        ("https-listen-port: [1, 2]\n", "takes one value, not a list"),
        ("disable-agent: maybe\n", "takes true or false"),
        ("node-name:\n", "has no value"),
        ("node-name: {a: b}\n", "must be a string"),
        ("- a\n- b\n", "must be a mapping"),
        ("config: /other.yaml\n", "cannot be set in a config file"),
        ("https-listen-port: [\n", "not valid YAML"),
        ("https-listen-port: http\n", "invalid value 'http'"),
    ] {
        write(&file, text);
        let error = server(&file, &[]).unwrap_err().to_string();
        assert!(error.contains(needle), "{text:?}: {error}");
    }
}

#[test]
fn an_explicit_missing_file_is_an_error() {
    let error = server(Path::new("/nonexistent/kedge.yaml"), &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");
}

#[test]
fn set_flags_exclude_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    write(&file, "node-taint: [a=b:NoSchedule]\n");
    let parsed = parse_from([
        "kedge",
        "server",
        "--config",
        file.to_str().unwrap(),
        "--tls-san",
        "x",
    ])
    .unwrap();
    assert!(parsed.set.contains("node-taint"));
    assert!(parsed.set.contains("tls-san"));
    assert!(!parsed.set.contains("https-listen-port"));
}
