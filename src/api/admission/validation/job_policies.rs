//! A Job's pod failure policy (actions, exit codes, pod conditions) and success policy
//! (succeeded indexes and counts), with upstream's index-list parsing.

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::Node;
use super::meta::nonnegative;
use super::names::label_key_errors;
use crate::api::field_error::{FieldError, Path};

pub(crate) fn pod_failure_policy(spec: &Node, errs: &mut Vec<FieldError>) {
    let policy = spec.field("podFailurePolicy");
    let rules = policy.field("rules");
    let items = rules.items(errs);
    if items.len() > 20 {
        errs.push(FieldError::too_many(rules.path(), items.len(), 20));
    }
    let mut ignored = Vec::new();
    let names: BTreeSet<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| spec.at(&["template", "spec", l]).items(&mut ignored))
        .map(|c| c.value().get("name").and_then(Value::as_str).unwrap_or(""))
        .collect();
    const ACTIONS: [&str; 4] = ["Count", "FailIndex", "FailJob", "Ignore"];
    for rule in items {
        let action = rule.field("action");
        match action.str(errs) {
            "" => errs.push(FieldError::required(
                action.path(),
                "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
            )),
            "FailIndex" if !spec.field("backoffLimitPerIndex").is_set() => {
                errs.push(FieldError::invalid(
                    action.path(),
                    &Value::from("FailIndex"),
                    "requires the backoffLimitPerIndex to be set",
                ))
            }
            a if !ACTIONS.contains(&a) => errs.push(FieldError::not_supported(
                action.path(),
                &Value::from(a),
                &ACTIONS,
            )),
            _ => {}
        }
        let on_codes = rule.field("onExitCodes");
        let on_conditions = rule.field("onPodConditions");
        if on_codes.is_set() {
            let op = on_codes.field("operator");
            match op.str(errs) {
                "" => errs.push(FieldError::required(
                    op.path(),
                    "valid values: [\"In\" \"NotIn\"]",
                )),
                "In" | "NotIn" => {}
                other => errs.push(FieldError::not_supported(
                    op.path(),
                    &Value::from(other),
                    &["In", "NotIn"],
                )),
            }
            let container = on_codes.field("containerName");
            if let Some(c) = container.opt_str(errs)
                && !names.contains(c)
            {
                errs.push(FieldError::invalid(
                    container.path(),
                    &Value::from(c),
                    "must be one of the container or initContainer names in the pod template",
                ));
            }
            let values = on_codes.field("values");
            let codes: Vec<i64> = values
                .items(errs)
                .iter()
                .map(|v| v.int(&mut Vec::new()))
                .collect();
            if codes.is_empty() {
                errs.push(FieldError::invalid(
                    values.path(),
                    values.value(),
                    "at least one value is required",
                ));
            } else if codes.len() > 255 {
                errs.push(FieldError::too_many(values.path(), codes.len(), 255));
            }
            let in_op = on_codes.field("operator").str(&mut ignored) == "In";
            let mut seen = BTreeSet::new();
            for (j, code) in codes.iter().enumerate() {
                if in_op && *code == 0 {
                    errs.push(FieldError::invalid(
                        values.path().index(j),
                        &Value::from(*code),
                        "must not be 0 for the In operator",
                    ));
                }
                if !seen.insert(*code) {
                    errs.push(FieldError::duplicate(
                        values.path().index(j),
                        &Value::from(*code),
                    ));
                }
            }
            if codes.windows(2).any(|w| w[0] > w[1]) {
                errs.push(FieldError::invalid(
                    values.path(),
                    values.value(),
                    "must be ordered",
                ));
            }
        }
        let patterns = on_conditions.items(errs);
        if patterns.len() > 20 {
            errs.push(FieldError::too_many(
                on_conditions.path(),
                patterns.len(),
                20,
            ));
        }
        for pattern in &patterns {
            let kind = pattern.field("type");
            let k = kind.str(errs);
            for msg in label_key_errors(k) {
                errs.push(FieldError::invalid(kind.path(), &Value::from(k), &msg));
            }
            let status = pattern.field("status");
            match status.str(errs) {
                "" => errs.push(FieldError::required(
                    status.path(),
                    "valid values: [\"False\" \"True\" \"Unknown\"]",
                )),
                "False" | "True" | "Unknown" => {}
                other => errs.push(FieldError::not_supported(
                    status.path(),
                    &Value::from(other),
                    &["False", "True", "Unknown"],
                )),
            }
        }
        if on_codes.is_set() && !patterns.is_empty() {
            errs.push(invalid_omitted(
                rule.path(),
                "specifying both OnExitCodes and OnPodConditions is not supported",
            ));
        }
        if !on_codes.is_set() && patterns.is_empty() {
            errs.push(invalid_omitted(
                rule.path(),
                "specifying one of OnExitCodes and OnPodConditions is required",
            ));
        }
    }
}

/// `Invalid value` without a value (upstream's `field.OmitValueType`).
pub(crate) fn invalid_omitted(path: &Path, detail: &str) -> FieldError {
    let base = FieldError::invalid(path, &Value::Null, detail);
    FieldError {
        message: format!("Invalid value: {detail}"),
        ..base
    }
}

fn indexes_total(text: &str, completions: i64) -> Result<i64, String> {
    if text.is_empty() {
        return Ok(0);
    }
    let mut last: Option<i64> = None;
    let mut total = 0;
    for interval in text.split(',') {
        let parts: Vec<&str> = interval.split('-').collect();
        if parts.len() > 2 {
            return Err(format!(
                "the fragment {interval:?} violates the requirement that an index interval can have at most two parts separated by '-'"
            ));
        }
        let parse = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| format!("cannot convert string to integer for index: {s:?}"))
                .and_then(|v| {
                    if v >= completions {
                        Err(format!("too large index: {s:?}"))
                    } else {
                        Ok(v)
                    }
                })
        };
        let x = parse(parts[0])?;
        let y = if parts.len() == 2 {
            parse(parts[1])?
        } else {
            x
        };
        if parts.len() == 2 && x >= y {
            return Err(format!("non-increasing order, previous: {x}, current: {y}"));
        }
        if let Some(l) = last
            && l >= x
        {
            return Err(format!("non-increasing order, previous: {l}, current: {x}"));
        }
        total += y - x + 1;
        last = Some(y);
    }
    Ok(total)
}

pub(crate) fn success_policy(spec: &Node, errs: &mut Vec<FieldError>) {
    let policy = spec.field("successPolicy");
    let rules = policy.field("rules");
    let items = rules.items(errs);
    if items.is_empty() {
        errs.push(FieldError::required(
            rules.path(),
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if items.len() > 20 {
        errs.push(FieldError::too_many(rules.path(), items.len(), 20));
    }
    let completions = spec.field("completions").int(&mut Vec::new());
    for rule in items {
        let (count, indexes) = (rule.field("succeededCount"), rule.field("succeededIndexes"));
        if !count.is_set() && !indexes.is_set() {
            errs.push(FieldError::required(
                rule.path(),
                "at least one of succeededCount or succeededIndexes must be specified",
            ));
        }
        let mut total = 0;
        if let Some(text) = indexes.opt_str(errs) {
            if text.len() > 64 * 1024 {
                errs.push(FieldError::too_long(indexes.path(), 64 * 1024));
            }
            match indexes_total(text, completions) {
                Ok(t) => total = t,
                Err(e) => errs.push(FieldError::invalid(
                    indexes.path(),
                    &Value::from(text),
                    &format!("error parsing succeededIndexes: {e}"),
                )),
            }
        }
        if let Some(c) = count.opt_int(errs) {
            nonnegative(&count, errs);
            if c > completions {
                errs.push(FieldError::invalid(count.path(), &Value::from(c), &format!("must be less than or equal to {completions} (the number of specified completions)")));
            }
            if indexes.is_set() && c > total {
                errs.push(FieldError::invalid(count.path(), &Value::from(c), &format!("must be less than or equal to {total} (the number of indexes in the specified succeededIndexes field)")));
            }
        }
    }
}
