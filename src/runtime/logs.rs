//! Container logs in the CRI format, written by the shim:
//! `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<attempt>.log`, one line per output line:
//!
//! ```text
//! 2024-01-01T00:00:00.000000000Z stdout F a whole line
//! 2024-01-01T00:00:00.000000000Z stderr P the first 16 KiB of a longer line
//! ```
//! `F` ends a line, `P` is a piece of a line longer than [`MAX_LINE`] (the rest follows). A
//! line cut off at the end of the stream is written as `F`, as containerd does.
//!
//! Rotation is by size, as the kubelet does it: past `max_size` the file is renamed to
//! `<attempt>.log.<YYYYMMDD-HHMMSS>` and a new one opened; only the newest `max_files - 1`
//! rotated files are kept (the kubelet also compresses older ones; this does not).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::runtime::state::now_rfc3339;

/// The longest piece of a line written as one log entry (containerd's default 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;
/// kubelet's `containerLogMaxSize` default.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// kubelet's `containerLogMaxFiles` default.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// Which output a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// The log file of one container attempt.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
    /// Bytes of an unfinished line, per stream.
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    /// Opens (appending to) `path`, creating its directory. A `max_size` of 0 and a
    /// `max_files` of 0 take kubelet's defaults.
    ///
    /// # Errors
    /// The directory or file cannot be created.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size: if max_size == 0 {
                DEFAULT_MAX_SIZE
            } else {
                max_size
            },
            max_files: if max_files == 0 {
                DEFAULT_MAX_FILES
            } else {
                max_files.max(1)
            },
            pending: [Vec::new(), Vec::new()],
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logs output of `stream`; whole lines are written at once, the rest waits for its end.
    ///
    /// # Errors
    /// Writing or rotating the file failed.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    let mut line = std::mem::take(&mut self.pending[stream.index()]);
                    line.extend_from_slice(&data[..end]);
                    data = &data[end + 1..];
                    self.emit_long(stream, &line)?;
                }
                None => {
                    self.pending[stream.index()].extend_from_slice(data);
                    data = &[];
                    while self.pending[stream.index()].len() >= MAX_LINE {
                        let rest = self.pending[stream.index()].split_off(MAX_LINE);
                        let piece = std::mem::replace(&mut self.pending[stream.index()], rest);
                        self.emit(stream, 'P', &piece)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes what is left of an unfinished line of `stream` (its end of file).
    ///
    /// # Errors
    /// Writing failed.
    pub fn finish(&mut self, stream: Stream) -> io::Result<()> {
        let rest = std::mem::take(&mut self.pending[stream.index()]);
        if !rest.is_empty() {
            self.emit_long(stream, &rest)?;
        }
        Ok(())
    }

    fn emit_long(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        let mut chunks = line.chunks(MAX_LINE).peekable();
        if chunks.peek().is_none() {
            return self.emit(stream, 'F', &[]);
        }
        while let Some(chunk) = chunks.next() {
            let tag = if chunks.peek().is_some() { 'P' } else { 'F' };
            self.emit(stream, tag, chunk)?;
        }
        Ok(())
    }

    fn emit(&mut self, stream: Stream, tag: char, content: &[u8]) -> io::Result<()> {
        let mut entry = format!("{} {} {tag} ", now_rfc3339(), stream.name()).into_bytes();
        entry.extend_from_slice(content);
        entry.push(b'\n');
        if self.size > 0 && self.size + entry.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&entry)?;
        self.size += entry.len() as u64;
        Ok(())
    }

    /// Renames the current file aside, opens a new one and drops the oldest rotated files.
    ///
    /// # Errors
    /// Renaming or opening failed.
    pub fn rotate(&mut self) -> io::Result<()> {
        let stamp = {
            let dt = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now());
            format!(
                "{:04}{:02}{:02}-{:02}{:02}{:02}",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            )
        };
        let base = self.path.as_os_str().to_string_lossy().into_owned();
        let mut target = PathBuf::from(format!("{base}.{stamp}"));
        let mut n = 1;
        while target.exists() {
            target = PathBuf::from(format!("{base}.{stamp}.{n}"));
            n += 1;
        }
        std::fs::rename(&self.path, &target)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        for old in rotated_files(&self.path)?
            .into_iter()
            .rev()
            .skip(self.max_files.saturating_sub(1) as usize)
        {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }
}

/// The rotated files of `path`, oldest first.
///
/// # Errors
/// The directory cannot be read.
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let modified = entry.metadata()?.modified()?;
            files.push((modified, entry.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Parses one CRI log line into (stream, tag, content).
pub fn parse_line(line: &str) -> Option<(&str, &str, &str)> {
    let mut parts = line.splitn(4, ' ');
    let _time = parts.next()?;
    let stream = parts.next()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or("");
    Some((stream, tag, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn whole_and_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app/0.log");
        let mut log = LogWriter::open(&path, 0, 0).unwrap();
        log.write(Stream::Stdout, b"hello\nwor").unwrap();
        log.write(Stream::Stderr, b"oops\n").unwrap();
        log.write(Stream::Stdout, b"ld\n\nend").unwrap();
        log.finish(Stream::Stdout).unwrap();
        let got: Vec<(String, String, String)> = lines(&path)
            .iter()
            .map(|l| {
                let (s, t, c) = parse_line(l).unwrap();
                (s.to_string(), t.to_string(), c.to_string())
            })
            .collect();
        let want = [
            ("stdout", "F", "hello"),
            ("stderr", "F", "oops"),
            ("stdout", "F", "world"),
            ("stdout", "F", ""),
            ("stdout", "F", "end"),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2.as_str()), w);
        }
        let first = &lines(&path)[0];
        assert_eq!(
            first.len(),
            "2024-01-01T00:00:00.000000000Z stdout F hello".len()
        );
        assert!(first.as_bytes()[29] == b'Z');
    }

    #[test]
    fn long_lines_are_split_into_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut log = LogWriter::open(&path, 0, 0).unwrap();
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        log.write(Stream::Stdout, &long).unwrap();
        log.write(Stream::Stdout, b"\n").unwrap();
        let tags: Vec<String> = lines(&path)
            .iter()
            .map(|l| parse_line(l).unwrap().1.to_string())
            .collect();
        assert_eq!(tags, ["P", "P", "F"]);
    }

    #[test]
    fn rotation_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut log = LogWriter::open(&path, 200, 3).unwrap();
        for i in 0..40 {
            log.write(Stream::Stdout, format!("line number {i}\n").as_bytes())
                .unwrap();
        }
        let rotated = rotated_files(&path).unwrap();
        assert_eq!(rotated.len(), 2);
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        let last = lines(&path);
        assert!(last.last().unwrap().ends_with("line number 39"));
    }
}
