//! Reading inputs within a size limit, and rewriting them without losing anything: only regular
//! files with a single link are replaced, only when they are still what was read, keeping their
//! owner, group, mode, extended attributes and ACLs, and no temporary file outlives an
//! interrupted run.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

use anyhow::{Context, bail};
use rayon::prelude::*;
use rustix::fs::{OFlags, XattrFlags};

use crate::fix;

/// The default of `--max-file-size`: 64 MiB. The largest real manifests (CRD bundles, rendered
/// charts) are a few MiB; a file of 64 MiB takes well under a second to read and a few hundred
/// MiB of memory to edit, so the limit stops `/dev/zero` or a stray dump long before it hurts.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

/// Reads a size for `--max-file-size`: bytes, or a number followed by `K`, `M` or `G` (also
/// `KiB`, `MiB`, `GiB`; powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit: u64 = match &text[digits.len()..] {
        "" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        other => return Err(format!("unknown unit `{other}`; use K, M or G")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            format!("`{text}` is not a size: a positive number, optionally followed by K, M or G")
        })
}

/// `limit` as a person would write it: in MiB or KiB when it is a whole number of them.
fn size_text(limit: u64) -> String {
    match limit {
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// A file as it was read: its bytes, and which version of which file they came from, so that a
/// rewrite can check that nobody changed it in between.
pub struct Snapshot {
    /// The content read.
    pub bytes: Vec<u8>,
    /// The file's identity when it was opened; `None` for standard input.
    version: Option<Version>,
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, PartialEq, Eq)]
struct Version {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
}

impl Version {
    fn of(meta: &std::fs::Metadata) -> Version {
        Version {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// Reads at most `limit` bytes of `reader`: an error if there are more.
/// `expected` is the size the reader is known to hold (a regular file's), so that the buffer is
/// allocated once rather than doubled up to it (a large input would cost up to twice its size).
fn read_bounded(reader: impl Read, limit: u64, expected: u64) -> std::io::Result<Vec<u8>> {
    // One byte more than expected, so that reading to the end needs no second allocation.
    let capacity = expected.min(limit).saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than the limit of {}; raise it with --max-file-size",
            size_text(limit)
        )));
    }
    Ok(bytes)
}

/// Reads standard input, at most `limit` bytes.
pub fn read_stdin(limit: u64) -> std::io::Result<Snapshot> {
    Ok(Snapshot {
        bytes: read_bounded(std::io::stdin().lock(), limit, 0)?,
        version: None,
    })
}

/// Reads the file at `path`, at most `limit` bytes, noting which version of it was read.
pub fn read_file(path: &Path, limit: u64) -> std::io::Result<Snapshot> {
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    let version = Version::of(&metadata);
    let bytes = match read_in_parts(&file, metadata.len(), limit) {
        Some(bytes) => bytes,
        None => read_bounded(&file, limit, metadata.len())?,
    };
    Ok(Snapshot {
        bytes,
        version: Some(version),
    })
}

/// The size from which a file is read in parts: reading a large stream is the first thing
/// done with it, while no other work can run beside it.
const READ_IN_PARTS_FROM: u64 = 1 << 22;

/// The size of each part of a file read in parts.
const PART: usize = 1 << 20;

/// `file`, of `len` bytes, read in parts at once on the cores of the current rayon pool, when
/// it is large and within `limit`. `None` when it is not, or when it does not read as `len`
/// bytes (it changed since): a plain read then tells what it holds.
fn read_in_parts(file: &File, len: u64, limit: u64) -> Option<Vec<u8>> {
    // On one thread a plain read is as fast, and it does not zero the buffer first.
    if len < READ_IN_PARTS_FROM || len > limit || !fix::in_pool_of_many() {
        return None;
    }
    // Zeroed on the cores, each page by the thread that first writes it: `vec![0; len]` would
    // zero it all on this one (calloc clears what it takes from the heap it keeps, which
    // `M_TOP_PAD` makes large), 40 to 50 ms of the 50 MB stream before any other work.
    let size = usize::try_from(len).ok()?;
    let mut bytes = Vec::with_capacity(size);
    bytes.par_extend(rayon::iter::repeat_n(0, size));
    bytes
        .par_chunks_mut(PART)
        .enumerate()
        .try_for_each(|(i, part)| file.read_exact_at(part, (i * PART) as u64))
        .ok()?;
    let grew = file.read_at(&mut [0], len).ok()? > 0;
    (!grew).then_some(bytes)
}

/// Replaces the file at `path`, read as `read`, with `contents`, given in pieces: a temporary
/// file in the same folder, given the original's owner, group, mode, extended attributes and
/// ACLs, renamed over it. Only a regular file with one link is replaced, and only if it is
/// still what was read; any failure leaves the original untouched and no temporary file behind.
pub fn write_atomically<'c>(
    path: &Path,
    read: &Snapshot,
    contents: impl IntoIterator<Item = &'c str>,
) -> anyhow::Result<()> {
    let kind = std::fs::symlink_metadata(path)
        .context("cannot read what it is")?
        .file_type();
    if !kind.is_file() {
        bail!(
            "it is {}, not a regular file; only regular files are rewritten",
            kind_name(kind)
        );
    }
    // No following links, and no waiting on a FIFO swapped in since the check above.
    let original = File::from(
        rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(std::io::Error::from)
        .context("cannot open it")?,
    );
    let meta = original.metadata().context("cannot read its metadata")?;
    if !meta.is_file() {
        bail!("it is no longer a regular file");
    }
    if meta.nlink() > 1 {
        // Renaming over one name would split the links; writing in place is not atomic.
        bail!(
            "it has {} hard links: a new file would split them and rewriting it in place could leave it half-written; fix a copy, or apply the diff of --dry-run",
            meta.nlink()
        );
    }
    ensure_unchanged(path, &original, read)?;
    let temp = LiveTemp::holding(path, contents)?;
    let file = temp.file();
    keep_owner(file, &meta)?;
    file.set_permissions(meta.permissions())
        .context("cannot copy the file's permissions")?;
    copy_extended_attributes(&original, file)?;
    file.sync_all().context("cannot flush the temporary file")?;
    ensure_unchanged(path, &original, read)?;
    temp.persist(path, true).context("cannot replace the file")
}

/// Writes `contents` into a new file at `path` (mode 0644) atomically: a temporary file in the
/// same folder, given the name only if nothing holds it yet, so that no file is ever replaced.
pub fn create_new(path: &Path, contents: &str) -> anyhow::Result<()> {
    let temp = LiveTemp::holding(path, [contents])?;
    let file = temp.file();
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .context("cannot set the file's permissions")?;
    file.sync_all().context("cannot flush the temporary file")?;
    temp.persist(path, false)
        .context("cannot create it (a file of that name appeared meanwhile?)")
}

/// An error unless the file at `path`, open as `file`, is the version `read` came from with
/// the same bytes.
fn ensure_unchanged(path: &Path, mut file: &File, read: &Snapshot) -> anyhow::Result<()> {
    let changed = || anyhow::anyhow!("it changed while kubeharden was working on it; run again");
    let now = std::fs::symlink_metadata(path).context("cannot read its metadata")?;
    if read.version.as_ref() != Some(&Version::of(&now)) {
        return Err(changed());
    }
    file.rewind().context("cannot read it again")?;
    // Compared a block at a time: a second copy of a large file is not worth its memory.
    let mut block = vec![0; 1 << 16];
    let mut compared = 0;
    loop {
        let n = match file.read(&mut block) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => read.map_err(|_| changed())?,
        };
        if n == 0 {
            break;
        }
        if read.bytes.get(compared..compared + n) != Some(&block[..n]) {
            return Err(changed());
        }
        compared += n;
    }
    match compared == read.bytes.len() {
        true => Ok(()),
        false => Err(changed()),
    }
}

/// Gives `file` the owner and group of `original` where they differ from its own.
fn keep_owner(file: &File, original: &std::fs::Metadata) -> anyhow::Result<()> {
    let own = file
        .metadata()
        .context("cannot read the temporary file's owner")?;
    let uid = (own.uid() != original.uid()).then(|| original.uid());
    let gid = (own.gid() != original.gid()).then(|| original.gid());
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    rustix::fs::fchown(
        file,
        uid.map(rustix::fs::Uid::from_raw),
        gid.map(rustix::fs::Gid::from_raw),
    )
    .map_err(std::io::Error::from)
    .with_context(|| {
        format!(
            "cannot keep its owner and group ({}:{})",
            original.uid(),
            original.gid()
        )
    })
}

/// Gives `file` the extended attributes of `original` (ACLs among them:
/// `system.posix_acl_access`), and no others (a folder's default ACL may have given it one).
fn copy_extended_attributes(original: &File, file: &File) -> anyhow::Result<()> {
    let wanted = attribute_names(original).context("cannot list its extended attributes")?;
    let present =
        attribute_names(file).context("cannot list the temporary file's extended attributes")?;
    for name in present.iter().filter(|name| !wanted.contains(name)) {
        rustix::fs::fremovexattr(file, name.as_slice())
            .map_err(std::io::Error::from)
            .with_context(|| {
                format!(
                    "cannot leave out the extended attribute {}, which it does not have",
                    String::from_utf8_lossy(name)
                )
            })?;
    }
    for name in &wanted {
        let shown = String::from_utf8_lossy(name);
        let value = attribute(original, name)
            .map_err(std::io::Error::from)
            .with_context(|| format!("cannot read its extended attribute {shown}"))?;
        // A value given on creation (an SELinux label) may already be right.
        if attribute(file, name).ok().as_ref() == Some(&value) {
            continue;
        }
        rustix::fs::fsetxattr(file, name.as_slice(), &value, XattrFlags::empty())
            .map_err(std::io::Error::from)
            .with_context(|| format!("cannot keep its extended attribute {shown}"))?;
    }
    Ok(())
}

/// The names of `file`'s extended attributes; none on a file system without them.
fn attribute_names(file: &File) -> std::io::Result<Vec<Vec<u8>>> {
    let list = || -> rustix::io::Result<Vec<u8>> {
        let mut names = vec![0; rustix::fs::flistxattr_query(file)?];
        let len = rustix::fs::flistxattr(file, &mut names[..])?;
        names.truncate(len);
        Ok(names)
    };
    match list() {
        Ok(names) => Ok(names
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(<[u8]>::to_vec)
            .collect()),
        Err(e) if e == rustix::io::Errno::NOTSUP => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The value of `file`'s extended attribute `name`.
fn attribute(file: &File, name: &[u8]) -> rustix::io::Result<Vec<u8>> {
    let mut value = vec![0; rustix::fs::fgetxattr_query(file, name)?];
    let len = rustix::fs::fgetxattr(file, name, &mut value[..])?;
    value.truncate(len);
    Ok(value)
}

/// What a file that is not regular is, for a message.
fn kind_name(kind: std::fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// The temporary files being written now, removed by the signal handler.
static LIVE_TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The registry, even if a thread panicked while holding it (the list stays valid).
fn live_temps() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// On SIGINT or SIGTERM, removes the temporary files being written, then ends the process as
/// the signal would have. The handler runs on its own thread (signal-hook's self-pipe), so it
/// may take the registry's lock; a file is created and registered under that lock, and renamed
/// and unregistered under it, so none escapes.
fn remove_temps_on_signals() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let live = live_temps();
                for path in live.iter() {
                    let _ = std::fs::remove_file(path);
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    });
}

/// A temporary file that is removed when dropped or when the process gets SIGINT or SIGTERM.
struct LiveTemp {
    /// `None` once renamed.
    temp: Option<tempfile::NamedTempFile>,
}

impl LiveTemp {
    fn new_in(folder: &Path) -> std::io::Result<LiveTemp> {
        remove_temps_on_signals();
        let mut live = live_temps();
        let temp = tempfile::NamedTempFile::new_in(folder)?;
        live.push(temp.path().to_path_buf());
        Ok(LiveTemp { temp: Some(temp) })
    }

    /// A temporary file in the folder of `path`, holding `contents`, given in pieces.
    fn holding<'c>(
        path: &Path,
        contents: impl IntoIterator<Item = &'c str>,
    ) -> anyhow::Result<LiveTemp> {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = LiveTemp::new_in(folder).context("cannot create a temporary file beside it")?;
        // Buffered: the pieces of an edited stream are many and small.
        let mut file = std::io::BufWriter::new(temp.file());
        contents
            .into_iter()
            .try_for_each(|piece| file.write_all(piece.as_bytes()))
            .and_then(|()| file.flush())
            .context("cannot write the temporary file")?;
        drop(file);
        Ok(temp)
    }

    fn file(&self) -> &File {
        self.temp
            .as_ref()
            .map(tempfile::NamedTempFile::as_file)
            .expect("a live temporary file is not renamed yet")
    }

    /// Renames the file to `path`; over a file there when `replace`, else only if there is none.
    fn persist(mut self, path: &Path, replace: bool) -> std::io::Result<()> {
        let mut live = live_temps();
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        live.retain(|p| p != temp.path());
        // On failure the error's file is dropped, so removed, while the lock is held.
        let persisted = match replace {
            true => temp.persist(path),
            false => temp.persist_noclobber(path),
        };
        persisted.map(drop).map_err(|e| e.error)
    }
}

impl Drop for LiveTemp {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let mut live = live_temps();
            live.retain(|p| p != temp.path());
            drop(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large file read in parts on a pool's cores holds what a plain read gives, its last,
    /// shorter part included; over the limit, it is refused as a plain read refuses it.
    #[test]
    fn a_large_file_read_in_parts_is_read_whole() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("large.yaml");
        let len = READ_IN_PARTS_FROM as usize + PART / 3;
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("written");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        let file = File::open(&path).expect("opened");
        let in_parts = pool.install(|| read_in_parts(&file, len as u64, DEFAULT_MAX_FILE_SIZE));
        assert!(in_parts.is_some_and(|read| read == bytes));
        let read = pool.install(|| read_file(&path, DEFAULT_MAX_FILE_SIZE));
        assert!(read.expect("read").bytes == bytes);
        let small_limit = pool.install(|| read_file(&path, len as u64 - 1));
        assert!(small_limit.is_err_and(|e| e.to_string().contains("larger than the limit")));
    }

    #[test]
    fn sizes_read_with_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12T").is_err());
        assert!(parse_size("M").is_err());
        assert_eq!(size_text(DEFAULT_MAX_FILE_SIZE), "64 MiB");
        assert_eq!(size_text(1536), "1536 bytes");
    }

    #[test]
    fn only_regular_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.yaml");
        std::fs::write(&target, "a: 1\n").unwrap();
        let read = read_file(&target, DEFAULT_MAX_FILE_SIZE).unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = write_atomically(&link, &read, ["a: 2\n"]).unwrap_err();
        assert!(
            format!("{error:#}").contains("a symbolic link, not a regular file"),
            "{error:#}"
        );
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "a: 1\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
