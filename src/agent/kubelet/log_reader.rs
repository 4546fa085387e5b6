//! Reading a container's CRI log file (see [`crate::runtime::logs`]) as `kubectl logs` shows
//! it: the content of each entry (a `P` piece without its line end), optionally prefixed with
//! its timestamp, from `sinceTime`, the last `tailLines`, at most `limitBytes`, and — while
//! following — the entries appended later, across rotations, until the container stops.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;

use crate::api::streaming::LogOptions;
use crate::runtime::logs::parse_line;

/// How often a followed log is looked at when nothing new came.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Every how many idle polls the container's state is asked for.
const RUNNING_CHECK_EVERY: u32 = 5;

/// The bytes `kubectl logs` shows for one CRI log line, if the options keep it.
pub fn format_line(line: &str, options: &LogOptions) -> Option<Vec<u8>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let (time, _) = line.split_once(' ')?;
    let (_, tag, content) = parse_line(line)?;
    if let Some(since) = options.since {
        let at: Timestamp = time.parse().ok()?;
        if at < since {
            return None;
        }
    }
    let mut out = Vec::with_capacity(line.len() + 1);
    if options.timestamps {
        out.extend_from_slice(time.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(content.as_bytes());
    if tag != "P" {
        out.push(b'\n');
    }
    Some(out)
}

/// Where the output goes: `write` answers false once the client has gone; `limit` bytes at
/// most are written.
struct Output<'a> {
    write: &'a mut dyn FnMut(Vec<u8>) -> bool,
    remaining: Option<u64>,
}

impl Output<'_> {
    /// Writes `data`; false when the output is done (limit reached or client gone).
    fn send(&mut self, mut data: Vec<u8>) -> bool {
        if let Some(remaining) = self.remaining {
            let room = usize::try_from(remaining).unwrap_or(usize::MAX);
            if data.len() >= room {
                data.truncate(room);
                if !data.is_empty() {
                    (self.write)(data);
                }
                self.remaining = Some(0);
                return false;
            }
            self.remaining = Some(remaining - data.len() as u64);
        }
        (self.write)(data)
    }
}

/// Reads the complete lines available; an unfinished last line stays in `partial`.
fn read_lines(
    reader: &mut BufReader<File>,
    partial: &mut String,
    each: &mut dyn FnMut(&str) -> bool,
) -> io::Result<(usize, bool)> {
    let mut count = 0;
    loop {
        let read = reader.read_line(partial)?;
        if read == 0 || !partial.ends_with('\n') {
            return Ok((count, true));
        }
        count += 1;
        let keep_going = each(partial);
        partial.clear();
        if !keep_going {
            return Ok((count, false));
        }
    }
}

/// Streams the log at `path` to `write`. While following, `running` is asked now and then
/// whether the container still runs; the stream ends once it does not and the file is read.
///
/// # Errors
/// The log file cannot be opened or read.
pub fn stream(
    path: &Path,
    options: &LogOptions,
    write: &mut dyn FnMut(Vec<u8>) -> bool,
    running: &mut dyn FnMut() -> bool,
) -> io::Result<()> {
    let mut out = Output {
        write,
        remaining: options.limit_bytes,
    };
    let file = File::open(path)?;
    let mut inode = file.metadata()?.ino();
    let mut reader = BufReader::new(file);
    let mut partial = String::new();
    let mut kept: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    read_lines(&mut reader, &mut partial, &mut |line| {
        if let Some(bytes) = format_line(line, options) {
            kept.push_back(bytes);
            if let Some(tail) = options.tail_lines
                && kept.len() as u64 > tail
            {
                kept.pop_front();
            }
        }
        true
    })?;
    for bytes in kept {
        if !out.send(bytes) {
            return Ok(());
        }
    }
    if !options.follow {
        return Ok(());
    }
    let mut idle = 0u32;
    loop {
        let mut open = true;
        let (count, _) = read_lines(&mut reader, &mut partial, &mut |line| match format_line(
            line, options,
        ) {
            Some(bytes) => {
                open = out.send(bytes);
                open
            }
            None => true,
        })?;
        if !open {
            return Ok(());
        }
        if count > 0 {
            idle = 0;
            continue;
        }
        // Rotated: the rest of the old file is read, go on with the new one.
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.ino() != inode
        {
            let file = File::open(path)?;
            inode = file.metadata()?.ino();
            reader = BufReader::new(file);
            partial.clear();
            continue;
        }
        idle += 1;
        if idle.is_multiple_of(RUNNING_CHECK_EVERY) && !running() {
            // One last look: what was written before the container stopped.
            read_lines(&mut reader, &mut partial, &mut |line| {
                format_line(line, options).is_none_or(|bytes| out.send(bytes))
            })?;
            return Ok(());
        }
        // A client that went away is noticed at the next write; an empty one tells now.
        if !(out.write)(Vec::new()) {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LOG: &str = "\
2026-01-01T00:00:01.000000000Z stdout F one
2026-01-01T00:00:02.000000000Z stderr F two
2026-01-01T00:00:03.000000000Z stdout P thr
2026-01-01T00:00:03.000000001Z stdout F ee
2026-01-01T00:00:04.000000000Z stdout F four
";

    fn read(options: &LogOptions) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, LOG).unwrap();
        let mut got = Vec::new();
        stream(
            &path,
            options,
            &mut |bytes| {
                got.extend(bytes);
                true
            },
            &mut || false,
        )
        .unwrap();
        String::from_utf8(got).unwrap()
    }

    #[test]
    fn whole_log_joins_partial_lines() {
        assert_eq!(read(&LogOptions::default()), "one\ntwo\nthree\nfour\n");
    }

    #[test]
    fn tail_since_timestamps_and_limit() {
        let tail = LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(read(&tail), "ee\nfour\n");
        let none = LogOptions {
            tail_lines: Some(0),
            ..Default::default()
        };
        assert_eq!(read(&none), "");
        let since = LogOptions {
            since: Some("2026-01-01T00:00:02Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(read(&since), "two\nthree\nfour\n");
        let stamped = LogOptions {
            timestamps: true,
            tail_lines: Some(1),
            ..Default::default()
        };
        assert_eq!(read(&stamped), "2026-01-01T00:00:04.000000000Z four\n");
        let limited = LogOptions {
            limit_bytes: Some(6),
            ..Default::default()
        };
        assert_eq!(read(&limited), "one\ntw");
    }

    #[test]
    fn follow_reads_appended_lines_until_the_container_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "2026-01-01T00:00:01.000000000Z stdout F one\n").unwrap();
        let options = LogOptions {
            follow: true,
            ..Default::default()
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut checks = 0;
        let mut got = Vec::new();
        stream(
            &path,
            &options,
            &mut |bytes| {
                got.extend(bytes);
                true
            },
            &mut || {
                checks += 1;
                if checks == 1 {
                    file.write_all(b"2026-01-01T00:00:02.000000000Z stdout F two\n")
                        .unwrap();
                    // Half a line: written later, or never.
                    file.write_all(b"2026-01-01T00:00:03.0").unwrap();
                    return true;
                }
                false
            },
        )
        .unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), "one\ntwo\n");
    }

    #[test]
    fn follow_stops_when_the_client_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, LOG).unwrap();
        let options = LogOptions {
            follow: true,
            ..Default::default()
        };
        let mut writes = 0;
        stream(
            &path,
            &options,
            &mut |_| {
                writes += 1;
                writes < 5
            },
            &mut || true,
        )
        .unwrap();
        assert_eq!(writes, 5);
    }
}
