//! Layer tarballs unpacked into snapshot directories (`snapshots/<diff-id hex>/fs`), one per
//! distinct layer, shared by every image that uses it, ready to be overlayfs lower dirs.
//!
//! Whiteouts are converted as containerd does for overlayfs: `.wh..wh..opq` makes its
//! directory opaque (xattr `trusted.overlay.opaque=y`), `.wh.NAME` becomes a 0/0 character
//! device NAME. Ownership, modes, xattrs, hard links, symlinks, device files and FIFOs are
//! kept. Without root (tests), ownership, `trusted.*` xattrs and device files cannot be made:
//! files belong to the caller, device files are skipped and whiteouts stay in their OCI form
//! (`.wh.NAME` empty files), which is enough to inspect a layer but not to mount it.
//!
//! A layer is unpacked into a temporary directory while the uncompressed stream is hashed;
//! only if the hash equals the diff id is it renamed into place, so a snapshot directory
//! that exists is complete.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps};

use super::digest::{Digest, HashingReader};
use super::error::{ImageError, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Unpacked layers by diff id.
#[derive(Debug, Clone)]
pub struct Snapshots {
    root: PathBuf,
    privileged: bool,
}

impl Snapshots {
    /// Opens (creating) `root`, removing what an interrupted unpack or removal left behind.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(ImageError::io("create", root))?;
        if let Ok(entries) = std::fs::read_dir(root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with("tmp-") || name.starts_with("trash-") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(Snapshots {
            root: root.to_path_buf(),
            privileged: rustix::process::geteuid().is_root(),
        })
    }

    /// Whether ownership, device files and overlay whiteouts are made (running as root).
    pub fn privileged(&self) -> bool {
        self.privileged
    }

    /// The directory of the snapshot of `diff_id`.
    pub fn dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join(diff_id.hex())
    }

    /// The unpacked files of `diff_id`: an overlayfs lower dir.
    pub fn fs(&self, diff_id: &Digest) -> PathBuf {
        self.dir(diff_id).join("fs")
    }

    pub fn has(&self, diff_id: &Digest) -> bool {
        self.fs(diff_id).is_dir()
    }

    /// Every complete snapshot.
    pub fn list(&self) -> Vec<Digest> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()
            })
            .collect()
    }

    /// Moves the snapshot out of the way (an atomic rename) and returns where it went, to be
    /// deleted with [`delete_trash`] outside of any lock.
    pub fn trash(&self, diff_id: &Digest) -> Option<PathBuf> {
        let trash = self
            .root
            .join(format!("trash-{}", uuid::Uuid::new_v4().simple()));
        std::fs::rename(self.dir(diff_id), &trash)
            .ok()
            .map(|()| trash)
    }

    /// Unpacks the layer tarball `blob` (gzip, zstd or plain) as the snapshot of `diff_id`,
    /// unless it exists already.
    ///
    /// # Errors
    /// An unreadable or corrupt tarball, a diff id mismatch, or a failed write.
    pub fn unpack(&self, blob: impl Read, diff_id: &Digest) -> Result<()> {
        if self.has(diff_id) {
            return Ok(());
        }
        let tmp = self
            .root
            .join(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        let fs = tmp.join("fs");
        let unpack_err = |source| ImageError::Unpack {
            layer: diff_id.clone(),
            source,
        };
        let result = (|| {
            std::fs::create_dir_all(&fs).map_err(ImageError::io("create", &fs))?;
            let stream =
                decompress(BufReader::with_capacity(256 * 1024, blob)).map_err(unpack_err)?;
            let mut hashing = HashingReader::new(stream);
            unpack_tar(&mut hashing, &fs, self.privileged).map_err(unpack_err)?;
            let (actual, _) = hashing.finish().map_err(unpack_err)?;
            if actual != *diff_id {
                return Err(ImageError::DigestMismatch {
                    what: format!("uncompressed layer {diff_id}"),
                    expected: diff_id.clone(),
                    actual,
                });
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let dst = self.dir(diff_id);
        if let Err(e) = std::fs::rename(&tmp, &dst) {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another unpack of the same layer finished first.
            if !self.has(diff_id) {
                return Err(ImageError::io("rename into place", dst)(e));
            }
        }
        Ok(())
    }
}

/// Deletes what [`Snapshots::trash`] moved away.
pub fn delete_trash(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete removed snapshot");
    }
}

/// Wraps `reader` in a decompressor chosen by the stream's magic bytes (gzip, zstd, or none).
///
/// # Errors
/// The stream cannot be read.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(ZstdReader::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// A zstd decoder (pure Rust, ruzstd) over any number of frames, skipping skippable frames.
pub struct ZstdReader<R> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdReader<R> {
    pub fn new(source: R) -> Self {
        ZstdReader {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.source.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.decoder.init(&mut self.source) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        io::copy(
                            &mut (&mut self.source).take(u64::from(length)),
                            &mut io::sink(),
                        )?;
                        continue;
                    }
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
            }
            while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                let wanted = buf.len() - self.decoder.can_collect();
                self.decoder
                    .decode_blocks(
                        &mut self.source,
                        ruzstd::decoding::BlockDecodingStrategy::UptoBytes(wanted),
                    )
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
            let n = self.decoder.read(buf)?;
            if n == 0 && self.decoder.is_finished() {
                self.in_frame = false;
                continue;
            }
            return Ok(n);
        }
    }
}

/// Unpacks the tar stream `reader` into `dst`.
fn unpack_tar(reader: &mut dyn Read, dst: &Path, privileged: bool) -> io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(privileged);
    archive.set_unpack_xattrs(privileged);
    archive.set_overwrite(true);
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    let mut skipped_devices = 0usize;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(relative) = sanitize(&entry.path()?) else {
            continue;
        };
        let Some(name) = relative
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
        else {
            continue;
        };
        let header = entry.header();
        let kind = header.entry_type();
        let (uid, gid) = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().unwrap_or(0);

        if name == OPAQUE_WHITEOUT || name.starts_with(WHITEOUT_PREFIX) {
            if !privileged {
                // Kept in OCI form: an empty file.
                let parent = ensure_parent(dst, &relative)?;
                std::fs::File::create(parent.join(&name))?;
                continue;
            }
            let parent = ensure_parent(dst, &relative)?;
            if name == OPAQUE_WHITEOUT {
                xattr::set(&parent, OPAQUE_XATTR, b"y")?;
            } else {
                let target = parent.join(&name[WHITEOUT_PREFIX.len()..]);
                remove_existing(&target)?;
                rustix::fs::mknodat(CWD, &target, FileType::CharacterDevice, Mode::empty(), 0)?;
                chown(&target, uid, gid)?;
            }
            continue;
        }

        match kind {
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let file_type = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if !privileged && file_type != FileType::Fifo {
                    skipped_devices += 1;
                    continue;
                }
                let parent = ensure_parent(dst, &relative)?;
                let target = parent.join(&name);
                remove_existing(&target)?;
                let dev = rustix::fs::makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                rustix::fs::mknodat(
                    CWD,
                    &target,
                    file_type,
                    Mode::from_bits_truncate(mode & 0o7777),
                    dev,
                )?;
                if privileged {
                    chown(&target, uid, gid)?;
                    rustix::fs::chmod(&target, Mode::from_bits_truncate(mode & 0o7777))?;
                }
                set_times(&target, mtime)?;
            }
            tar::EntryType::Directory => {
                entry.unpack_in(dst)?;
                if privileged {
                    set_pax_xattrs(&mut entry, &dst.join(&relative))?;
                }
                dir_times.push((dst.join(&relative), mtime));
            }
            _ => {
                entry.unpack_in(dst)?;
            }
        }
    }
    if skipped_devices > 0 {
        tracing::debug!(
            count = skipped_devices,
            "device files skipped: not running as root"
        );
    }
    // Entries written into directories changed their mtimes: set them last, deepest first.
    for (dir, mtime) in dir_times.iter().rev() {
        set_times(dir, *mtime)?;
    }
    Ok(())
}

/// The entry path without root, `.` or `..` components; `None` for one that climbs out.
fn sanitize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => return None,
            _ => {}
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Creates the parent directories of `relative` inside `dst`, refusing to pass through a
/// symlink (which could point out of the snapshot); returns the parent's path.
fn ensure_parent(dst: &Path, relative: &Path) -> io::Result<PathBuf> {
    let mut dir = dst.to_path_buf();
    if let Some(parent) = relative.parent() {
        for part in parent.components() {
            dir.push(part);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is not a directory", dir.display()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&dir)?,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(dir)
}

fn remove_existing(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn chown(path: &Path, uid: u64, gid: u64) -> io::Result<()> {
    let id = |v: u64| {
        u32::try_from(v)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "uid/gid out of range"))
    };
    rustix::fs::chownat(
        CWD,
        path,
        Some(rustix::fs::Uid::from_raw(id(uid)?)),
        Some(rustix::fs::Gid::from_raw(id(gid)?)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

fn set_times(path: &Path, mtime: u64) -> io::Result<()> {
    let t = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(0),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Applies `SCHILY.xattr.*` PAX records (tar applies them to files only; directories need
/// them too, e.g. an opaque marker in a layer made by an overlay-aware tool).
fn set_pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let Some(extensions) = entry.pax_extensions()? else {
        return Ok(());
    };
    for ext in extensions.flatten() {
        if let Some(key) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            xattr::set(path, std::ffi::OsStr::from_bytes(key), ext.value_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn layer(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(if *kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            header.set_size(data.len() as u64);
            header.set_mtime(1_000_000);
            header.set_uid(0);
            header.set_gid(0);
            if *kind == tar::EntryType::Link || *kind == tar::EntryType::Symlink {
                header.set_size(0);
                header
                    .set_link_name(std::str::from_utf8(data).unwrap())
                    .unwrap();
                builder.append_data(&mut header, path, &[][..]).unwrap();
            } else {
                builder.append_data(&mut header, path, *data).unwrap();
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn unpacks_files_links_and_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = Snapshots::open(dir.path()).unwrap();
        let tar = layer(&[
            ("etc/", tar::EntryType::Directory, b""),
            ("etc/motd", tar::EntryType::Regular, b"hello"),
            ("etc/motd2", tar::EntryType::Link, b"etc/motd"),
            ("etc/link", tar::EntryType::Symlink, b"motd"),
            ("etc/.wh.gone", tar::EntryType::Regular, b""),
            ("opaque/.wh..wh..opq", tar::EntryType::Regular, b""),
        ]);
        let diff_id = Digest::of(&tar);
        snapshots.unpack(&tar[..], &diff_id).unwrap();
        assert!(snapshots.has(&diff_id));
        let fs = snapshots.fs(&diff_id);
        assert_eq!(std::fs::read(fs.join("etc/motd")).unwrap(), b"hello");
        let a = std::fs::metadata(fs.join("etc/motd")).unwrap();
        let b = std::fs::metadata(fs.join("etc/motd2")).unwrap();
        assert_eq!(a.ino(), b.ino(), "hard link kept");
        assert_eq!(
            std::fs::read_link(fs.join("etc/link")).unwrap(),
            Path::new("motd")
        );
        assert_eq!(
            std::fs::metadata(fs.join("etc")).unwrap().mtime(),
            1_000_000
        );
        if snapshots.privileged() {
            let gone = std::fs::symlink_metadata(fs.join("etc/gone")).unwrap();
            assert!(gone.file_type().is_char_device());
            assert_eq!(gone.rdev(), 0);
            assert!(!fs.join("etc/.wh.gone").exists());
            let opaque = xattr::get(fs.join("opaque"), OPAQUE_XATTR).unwrap();
            assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
        } else {
            assert!(fs.join("etc/.wh.gone").exists());
        }
        // A second unpack of the same layer is a no-op.
        snapshots.unpack(&b"not a tar"[..], &diff_id).unwrap();
    }

    #[test]
    fn rejects_a_wrong_diff_id_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = Snapshots::open(dir.path()).unwrap();
        let tar = layer(&[("a", tar::EntryType::Regular, b"x")]);
        let wrong = Digest::of(b"wrong");
        assert!(matches!(
            snapshots.unpack(&tar[..], &wrong),
            Err(ImageError::DigestMismatch { .. })
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn refuses_paths_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let snapshots = Snapshots::open(dir.path()).unwrap();
        let target = outside.path().to_str().unwrap().as_bytes().to_vec();
        let tar = layer(&[
            ("evil", tar::EntryType::Symlink, &target),
            ("evil/file", tar::EntryType::Regular, b"x"),
        ]);
        assert!(snapshots.unpack(&tar[..], &Digest::of(&tar)).is_err());
        assert!(!outside.path().join("file").exists());
    }

    #[test]
    fn gzip_and_zstd_layers() {
        use std::io::Write;
        let tar = layer(&[("a", tar::EntryType::Regular, b"x")]);
        let diff_id = Digest::of(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let mut out = Vec::new();
        decompress(&gz[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, tar);
        // Two zstd frames of raw blocks with a skippable frame between them: hand-made, a
        // valid encoding any decoder must accept.
        let mut zst = Vec::new();
        let (first, second) = tar.split_at(tar.len() / 2);
        for (i, part) in [first, second].into_iter().enumerate() {
            if i == 1 {
                zst.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
            }
            // Single segment, 2-byte frame content size (stored minus 256).
            zst.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0x60]);
            zst.extend_from_slice(&((part.len() - 256) as u16).to_le_bytes());
            let block_header = ((part.len() as u32) << 3) | 1; // last block, raw
            zst.extend_from_slice(&block_header.to_le_bytes()[..3]);
            zst.extend_from_slice(part);
        }
        let mut out = Vec::new();
        decompress(&zst[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, tar);
        let dir = tempfile::tempdir().unwrap();
        let snapshots = Snapshots::open(dir.path()).unwrap();
        snapshots.unpack(&zst[..], &diff_id).unwrap();
        assert_eq!(
            std::fs::read(snapshots.fs(&diff_id).join("a")).unwrap(),
            b"x"
        );
    }
}
