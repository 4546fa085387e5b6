//! The config file, with k3s's semantics: `/etc/kedge/config.yaml` (or `--config` /
//! `KEDGE_CONFIG_FILE`) then every `*.yaml`/`*.yml` in `<file>.d/`, alphabetically. Keys are
//! flag names without the dashes; repeatable flags take lists; a later file replaces a key,
//! or appends to it when the key ends in `+`. The values become flags inserted before the
//! command line's own, so the command line wins.
//!
//! A key that is a flag of another kedge command (a server-only key read by `kedge agent`) is
//! skipped, so servers and agents can share one file; a key that is no kedge flag at all is an
//! error naming it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ArgAction;
use serde_yaml_ng::Value;

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
    #[error("config file {path} must be a mapping of flag names to values")]
    NotAMapping { path: PathBuf },
    #[error(
        "config file {path}: unknown key {key:?}: it is not a flag of any kedge command (see `kedge {command} --help`)"
    )]
    UnknownKey {
        path: PathBuf,
        key: String,
        command: String,
    },
    #[error("config file {path}: key {key:?} {problem}")]
    BadValue {
        path: PathBuf,
        key: String,
        problem: String,
    },
    #[error("config file {path} does not exist (and {path}.d/ has no *.yaml files)")]
    Missing { path: PathBuf },
}

/// One key's value as read from the files, with the file it last came from.
struct Entry {
    key: String,
    values: Vec<Value>,
    is_list: bool,
    path: PathBuf,
}

/// Returns `args` with the config file's flags inserted after the subcommand, and the files
/// that were read.
pub fn merge(
    command: &clap::Command,
    args: Vec<OsString>,
) -> Result<(Vec<OsString>, Vec<PathBuf>), ConfigFileError> {
    let Some(sub_name) = args.get(1).and_then(|a| a.to_str()).map(str::to_string) else {
        return Ok((args, Vec::new()));
    };
    let Some(sub) = command.find_subcommand(&sub_name) else {
        return Ok((args, Vec::new()));
    };
    // Only the roles read the config file; `check-config` has none of its flags.
    if sub_name != "server" && sub_name != "agent" {
        return Ok((args, Vec::new()));
    }
    if args
        .iter()
        .any(|a| a == "--help" || a == "-h" || a == "--version" || a == "-V")
    {
        return Ok((args, Vec::new()));
    }
    let (path, explicit) = config_path(&args[2..]);
    let files = config_files(&path, explicit)?;
    let mut entries: Vec<Entry> = Vec::new();
    for file in &files {
        read_file(file, &mut entries)?;
    }
    let mut flags = Vec::new();
    for entry in entries {
        flags.extend(entry_flags(command, sub, entry)?);
    }
    let mut merged = args[..2].to_vec();
    merged.extend(flags.into_iter().map(OsString::from));
    merged.extend(args[2..].iter().cloned());
    Ok((merged, files))
}

/// The config file named by `KEDGE_CONFIG_FILE` or `--config`/`-c`, else the default.
fn config_path(args: &[OsString]) -> (PathBuf, bool) {
    if let Some(env) = std::env::var_os("KEDGE_CONFIG_FILE").filter(|v| !v.is_empty()) {
        return (PathBuf::from(env), true);
    }
    let mut iter = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--config" || arg == "-c" {
            if let Some(value) = iter.next() {
                return (PathBuf::from(value), true);
            }
        } else if let Some(value) = arg.strip_prefix("--config=") {
            return (PathBuf::from(value), true);
        }
    }
    (PathBuf::from(super::DEFAULT_CONFIG_FILE), false)
}

fn config_files(path: &Path, explicit: bool) -> Result<Vec<PathBuf>, ConfigFileError> {
    let mut files = Vec::new();
    // Not `is_file`: a FIFO or /dev/null is a valid (if unusual) config file.
    if path.exists() && !path.is_dir() {
        files.push(path.to_path_buf());
    }
    let mut dir = path.as_os_str().to_os_string();
    dir.push(".d");
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut dropins: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")
                    })
                })
                .collect();
            dropins.sort();
            files.extend(dropins);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ConfigFileError::Read {
                path: PathBuf::from(dir),
                source,
            });
        }
    }
    if files.is_empty() && explicit {
        return Err(ConfigFileError::Missing {
            path: path.to_path_buf(),
        });
    }
    Ok(files)
}

fn read_file(path: &Path, entries: &mut Vec<Entry>) -> Result<(), ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: Value = serde_yaml_ng::from_str(&text).map_err(|source| ConfigFileError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let mapping = match doc {
        Value::Null => return Ok(()),
        Value::Mapping(m) => m,
        _ => {
            return Err(ConfigFileError::NotAMapping {
                path: path.to_path_buf(),
            });
        }
    };
    for (key, value) in mapping {
        let key = match key {
            Value::String(s) => s,
            other => scalar_string(&other).ok_or_else(|| ConfigFileError::NotAMapping {
                path: path.to_path_buf(),
            })?,
        };
        let (key, append) = match key.strip_suffix('+') {
            Some(k) => (k.to_string(), true),
            None => (key, false),
        };
        let (values, is_list) = match value {
            Value::Sequence(items) => (items, true),
            other => (vec![other], false),
        };
        match entries.iter_mut().find(|e| e.key == key) {
            Some(entry) if append => {
                entry.values.extend(values);
                entry.is_list = true;
                entry.path = path.to_path_buf();
            }
            Some(entry) => {
                entry.values = values;
                entry.is_list = is_list;
                entry.path = path.to_path_buf();
            }
            None => entries.push(Entry {
                key,
                values,
                is_list: is_list || append,
                path: path.to_path_buf(),
            }),
        }
    }
    Ok(())
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn find_arg<'a>(command: &'a clap::Command, key: &str) -> Option<&'a clap::Arg> {
    command.get_arguments().find(|a| {
        a.get_long() == Some(key)
            || (key.chars().count() == 1 && a.get_short() == key.chars().next())
    })
}

/// The flags one entry stands for in `sub`, or nothing if it belongs to another command.
fn entry_flags(
    root: &clap::Command,
    sub: &clap::Command,
    entry: Entry,
) -> Result<Vec<String>, ConfigFileError> {
    let bad = |problem: String| ConfigFileError::BadValue {
        path: entry.path.clone(),
        key: entry.key.clone(),
        problem,
    };
    if entry.key == "config" || entry.key == "c" {
        return Err(bad("cannot be set in a config file".into()));
    }
    let Some(arg) = find_arg(sub, &entry.key) else {
        if root
            .get_subcommands()
            .any(|s| find_arg(s, &entry.key).is_some())
        {
            tracing::debug!(key = %entry.key, "config key is for another kedge command; skipped");
            return Ok(Vec::new());
        }
        return Err(ConfigFileError::UnknownKey {
            path: entry.path.clone(),
            key: entry.key.clone(),
            command: sub.get_name().to_string(),
        });
    };
    let long = arg.get_long().unwrap_or(&entry.key).to_string();
    let mut values = Vec::new();
    for value in &entry.values {
        match scalar_string(value) {
            Some(s) => values.push(s),
            None if value.is_null() => return Err(bad("has no value".into())),
            None => {
                return Err(bad(
                    "must be a string, number, boolean or a list of them".into()
                ));
            }
        }
    }
    match arg.get_action() {
        ArgAction::SetTrue => {
            if entry.is_list || values.len() != 1 {
                return Err(bad("takes true or false, not a list".into()));
            }
            match values[0].as_str() {
                "true" => Ok(vec![format!("--{long}")]),
                "false" => Ok(Vec::new()),
                other => Err(bad(format!("takes true or false, not {other:?}"))),
            }
        }
        ArgAction::Append => Ok(values
            .into_iter()
            .map(|v| format!("--{long}={v}"))
            .collect()),
        _ => {
            if entry.is_list {
                return Err(bad("takes one value, not a list".into()));
            }
            Ok(values
                .into_iter()
                .map(|v| format!("--{long}={v}"))
                .collect())
        }
    }
}
