//! The `pattern` keyword. Upstream compiles patterns with Go's `regexp` (RE2 syntax, not
//! ECMA-262: no lookaround, no backreferences), and the `regex` crate implements the same
//! family. Where the two differ, the pattern is rewritten before compiling so it means what Go
//! makes of it:
//!
//! - `\d \s \w \b` (and negations) are ASCII-only in Go, Unicode-aware in Rust: rewritten to
//!   ASCII classes (Go's `\s` is `[\t\n\f\r ]`);
//! - inside a class, Go takes `[`, `&&`, `--` and `~~` literally where Rust nests or combines
//!   classes: escaped (POSIX `[:alpha:]` is kept);
//! - a `{` that does not start a valid repetition is a literal in Go, an error in Rust: escaped;
//! - `\Q…\E` quoting, which Rust lacks, becomes escaped literals.
//!
//! Compiled patterns are cached process-wide.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

/// Patterns kept compiled; the cache is emptied when it grows past this.
const CACHE_LIMIT: usize = 512;

const ASCII_DIGIT: &str = "0-9";
const ASCII_SPACE: &str = r"\t\n\x0C\r ";
const ASCII_WORD: &str = "0-9A-Za-z_";

/// A pattern compiled as Go would read it.
///
/// # Errors
/// The compiler's message when the pattern is not a valid regular expression.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(cached) = cache.lock()
        && let Some(regex) = cached.get(pattern)
    {
        return Ok(regex.clone());
    }
    let regex = Regex::new(&translate(pattern)).map_err(|err| describe(&err))?;
    if let Ok(mut cached) = cache.lock() {
        if cached.len() >= CACHE_LIMIT {
            cached.clear();
        }
        cached.insert(pattern.to_string(), regex.clone());
    }
    Ok(regex)
}

/// Whether `text` matches `pattern` somewhere (Go's `MatchString`).
///
/// # Errors
/// When the pattern does not compile.
pub fn is_match(pattern: &str, text: &str) -> Result<bool, String> {
    compile(pattern).map(|regex| regex.is_match(text))
}

/// A compile error in Go's words: `error parsing regexp: <what>`.
fn describe(err: &regex::Error) -> String {
    let text = err.to_string();
    let what = text
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .unwrap_or(text.trim());
    format!("error parsing regexp: {what}")
}

/// Rewrites Go RE2 syntax into the `regex` crate's syntax with the same meaning.
pub fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    // Position right after a class's opening `[` or `[^`, where `]` is a literal.
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        let at_class_start = class_start;
        class_start = false;
        if c == '\\' {
            let Some(&next) = chars.get(i + 1) else {
                out.push('\\');
                break;
            };
            if next == 'Q' {
                let rest: String = chars[i + 2..].iter().collect();
                let (quoted, terminator) = match rest.find("\\E") {
                    Some(end) => (&rest[..end], 2),
                    None => (rest.as_str(), 0),
                };
                out.push_str(&escape_literal(quoted, in_class));
                i += 2 + quoted.chars().count() + terminator;
                continue;
            }
            out.push_str(&translate_escape(next, in_class));
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' if !at_class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // POSIX class `[:alpha:]`: copy through its closing `:]`.
                    let rest: String = chars[i..].iter().collect();
                    match rest.find(":]") {
                        Some(end) => {
                            out.push_str(&rest[..end + 2]);
                            i += rest[..end + 2].chars().count();
                            continue;
                        }
                        None => out.push_str("\\["),
                    }
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if chars.get(i + 1) == Some(&'-') => out.push_str("-\\"),
                _ => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = true;
            }
            '{' => match repetition_len(&chars[i..]) {
                Some(len) => {
                    out.extend(&chars[i..i + len]);
                    i += len;
                    continue;
                }
                None => out.push_str("\\{"),
            },
            '}' => out.push_str("\\}"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// The Rust spelling of Go's `\<c>`.
fn translate_escape(c: char, in_class: bool) -> String {
    let (class, negated) = match c {
        'd' => (ASCII_DIGIT, false),
        'D' => (ASCII_DIGIT, true),
        's' => (ASCII_SPACE, false),
        'S' => (ASCII_SPACE, true),
        'w' => (ASCII_WORD, false),
        'W' => (ASCII_WORD, true),
        'b' if !in_class => return r"(?-u:\b)".to_string(),
        'B' if !in_class => return r"(?-u:\B)".to_string(),
        other => return format!("\\{other}"),
    };
    match (in_class, negated) {
        (true, false) => class.to_string(),
        (_, true) => format!("[^{class}]"),
        (false, false) => format!("[{class}]"),
    }
}

fn escape_literal(text: &str, in_class: bool) -> String {
    if !in_class {
        return regex::escape(text);
    }
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The length of a Go repetition `{n}`, `{n,}` or `{n,m}` at the start of `chars`.
fn repetition_len(chars: &[char]) -> Option<usize> {
    let close = chars.iter().position(|&c| c == '}')?;
    let body: String = chars[1..close].iter().collect();
    let (min, max) = match body.split_once(',') {
        Some((min, max)) => (min, Some(max)),
        None => (body.as_str(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let valid = digits(min) && max.is_none_or(|max| max.is_empty() || digits(max));
    valid.then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_like_go() {
        assert!(is_match(r"^\d+$", "123").unwrap_or(false));
        assert!(!is_match(r"^\d+$", "١٢٣").unwrap_or(true));
        assert!(!is_match(r"^\w+$", "é").unwrap_or(true));
        assert!(is_match(r"^[\w-]+$", "a-b_c").unwrap_or(false));
        assert!(is_match(r"^[^\d]+$", "abc").unwrap_or(false));
        assert!(is_match(r"\bword\b", "a word here").unwrap_or(false));
    }

    #[test]
    fn go_literals_survive() {
        assert!(is_match(r"^[[]$", "[").unwrap_or(false));
        assert!(is_match(r"^{.*}$", "{x}").unwrap_or(false));
        assert!(is_match(r"^a{2,3}$", "aaa").unwrap_or(false));
        assert!(is_match(r"^[a&&b]+$", "&a").unwrap_or(false));
        assert!(is_match(r"^[[:alpha:]]+$", "abc").unwrap_or(false));
        assert!(is_match(r"^\Qa.b\E$", "a.b").unwrap_or(false));
        assert!(!is_match(r"^\Qa.b\E$", "axb").unwrap_or(true));
        assert!(is_match(r"^[]a]+$", "]a").unwrap_or(false));
    }

    #[test]
    fn cron_pattern_compiles() {
        let cron = r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$";
        assert!(is_match(cron, "*/5 * * * *").unwrap_or(false));
        assert!(!is_match(cron, "every minute").unwrap_or(true));
    }

    #[test]
    fn bad_patterns_are_reported() {
        let err = compile("[a-").err().unwrap_or_default();
        assert!(err.starts_with("error parsing regexp: "), "{err}");
        assert!(compile("(?=x)").is_err());
    }
}
