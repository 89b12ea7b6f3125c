//! `auth.json` on disk: where it really is, how a new version replaces it, and what an
//! interrupted replacement left behind. No OAuth here ([`crate::auth`] decides what to write).
//!
//! - A symlinked `auth.json` is written through: the new file goes into the link target's
//!   directory and replaces the target, so the link stays and points at the new tokens.
//! - A new version is first written to a temp file next to the target (random name, created
//!   exclusively with mode 0600, so nothing planted there can be reused or clobbered), synced,
//!   then renamed over the target. [`Pending`] creates that temp file and reserves room in it
//!   before the caller does anything irreversible (spends a refresh token).
//! - Only a temp file this process created is ever removed, and never once it holds the only
//!   copy of new tokens: if the rename fails (or the process is killed before it), the next
//!   start or refresh adopts it ([`adopt_leftover`]).

use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::Error;

/// What identifies one version of the file: modification time and length.
pub type Stamp = (SystemTime, u64);

/// The version of `path` on disk now (following links).
pub fn stamp(path: &Path) -> io::Result<Stamp> {
    let meta = fs::metadata(path)?;
    Ok((meta.modified().unwrap_or(UNIX_EPOCH), meta.len()))
}

/// The file `path` stands for: itself, or the end of its chain of symlinks (which need not exist
/// yet). Directories on the way are not resolved; a rename within the target's directory works
/// whatever they are.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) => dir.join(to),
                    None => to,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// The file whose lock serialises the writers of `target` (refreshes, `login`, `logout`). Unix:
/// the token file itself (advisory locks; it must exist). Windows locks are mandatory, so a lock
/// on the token file would make every other reader fail while it is held (request threads, the
/// Codex CLI): there it is `auth.json.lock` beside it.
pub fn open_lock(target: &Path) -> io::Result<File> {
    #[cfg(not(windows))]
    let file = File::open(target)?;
    #[cfg(windows)]
    let file = {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(target.with_file_name(name))?
    };
    Ok(file)
}

/// Locks `file` (from [`open_lock`] on `target`), waiting at most `wait` for another process.
pub fn lock_within(file: File, target: &Path, wait: std::time::Duration) -> Result<File, Error> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Overloaded(format!(
                    "{} stayed locked by another program for {} s; retry shortly",
                    target.display(),
                    wait.as_secs()
                )));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(Error::Auth(format!(
                    "cannot lock {}: {e}",
                    target.display()
                )));
            }
        }
    }
}

/// Renames `from` over `to`. Windows refuses while another program holds `to` open without
/// delete sharing (a virus scanner, the search indexer, an editor): retried for up to a second.
fn replace(from: &Path, to: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::rename(from, to) {
            Err(e)
                if cfg!(windows) && e.kind() == io::ErrorKind::PermissionDenied && tries < 20 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// A temp file next to `target`, ready to replace it.
pub struct Pending {
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    /// Set once the temp file holds a complete new version: from then on it is never removed.
    complete: bool,
}

/// A failed save: the error, and the temp file left in place when it holds the complete new
/// version (the rename failed), for a later retry or for [`adopt_leftover`].
#[derive(Debug)]
pub struct SaveError {
    pub error: Error,
    pub kept: Option<PathBuf>,
}

impl From<SaveError> for Error {
    fn from(e: SaveError) -> Error {
        match e.kept {
            Some(kept) => Error::Auth(format!(
                "{} (the new version is kept in {}; it is used on the next start)",
                e.error,
                kept.display()
            )),
            None => e.error,
        }
    }
}

impl Pending {
    /// Creates the temp file for `target` (already [`resolve`]d) and reserves `reserve` bytes in
    /// it, so that a full disk or a read-only directory shows up now rather than after a refresh
    /// token was spent.
    pub fn create(target: &Path, reserve: usize) -> Result<Pending, Error> {
        let dir = target.parent().unwrap_or(Path::new("."));
        let mut last = None;
        // A collision of 64 random bits means someone is guessing; try a few more.
        for _ in 0..4 {
            let tmp = dir.join(temp_name(target)?);
            match crate::private::create_new(&tmp) {
                Ok(file) => {
                    let mut pending = Pending {
                        target: target.to_path_buf(),
                        tmp,
                        file: Some(file),
                        complete: false,
                    };
                    pending.reserve(reserve)?;
                    return Ok(pending);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(cannot_save(target, "create a temp file", &e)),
            }
        }
        let e = last.unwrap_or_else(|| io::Error::other("name collision"));
        Err(cannot_save(target, "create a temp file", &e))
    }

    fn reserve(&mut self, bytes: usize) -> Result<(), Error> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.write_all(&vec![b' '; bytes])
            .and_then(|()| file.sync_data())
            .map_err(|e| cannot_save(&self.target, "write a temp file", &e))
    }

    /// Writes `doc` (pretty-printed, as the Codex CLI does), syncs it and renames it over the
    /// target; a crash leaves the old or the new file, never a truncated one.
    pub fn commit(mut self, doc: &Value) -> Result<(), SaveError> {
        let mut bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
        bytes.push(b'\n');
        let plain = |error| SaveError { error, kept: None };
        let mut file = self
            .file
            .take()
            .ok_or_else(|| plain(Error::Auth("temp file already used".into())))?;
        file.rewind()
            .and_then(|()| file.write_all(&bytes))
            .and_then(|()| file.set_len(bytes.len() as u64))
            .and_then(|()| file.sync_all())
            .map_err(|e| plain(cannot_save(&self.target, "write a temp file", &e)))?;
        drop(file);
        self.complete = true;
        if let Err(e) = replace(&self.tmp, &self.target) {
            return Err(SaveError {
                error: cannot_save(&self.target, "replace it", &e),
                kept: Some(self.tmp.clone()),
            });
        }
        sync_dir(&self.target);
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.complete {
            // Ours (created exclusively above), and holding nothing of value.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `doc` to `path` (through a symlink, see the module doc) atomically.
pub fn write_atomic(path: &Path, doc: &Value) -> Result<(), Error> {
    let target = resolve(path).map_err(|e| cannot_save(path, "resolve it", &e))?;
    Pending::create(&target, 0)?.commit(doc)?;
    Ok(())
}

fn cannot_save(path: &Path, what: &str, e: &io::Error) -> Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        // Creating or renaming needs the directory to be writable, not just the file.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        return Error::Auth(permission_problem("saving", dir.unwrap_or(path)));
    }
    Error::Auth(format!("cannot save {}: {what}: {e}", path.display()))
}

/// Makes a rename in `file`'s directory durable.
fn sync_dir(file: &Path) {
    if let Some(dir) = file.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// `.auth.json.<16 random hex digits>.tmp`: hidden, next to the target, unguessable.
fn temp_name(target: &Path) -> Result<String, Error> {
    let random = crate::private::random_hex(8)
        .map_err(|e| Error::Auth(format!("cannot pick a temp file name: {e}")))?;
    Ok(format!("{}{random}.tmp", leftover_prefix(target)))
}

fn leftover_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// After a save was interrupted (killed between sync and rename, or the rename failed), the
/// newest tokens may be in a temp file beside `target`. Renames the newest such file over the
/// target when it is newer than the target, ours, and `valid`; returns its name. Others are left
/// alone (they may not be ours to delete). Call it holding the lock on the target.
pub fn adopt_leftover(target: &Path, valid: &dyn Fn(&Value) -> bool) -> Option<PathBuf> {
    let dir = target.parent()?;
    let prefix = leftover_prefix(target);
    let current = stamp(target).map(|s| s.0).ok();
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) || !name.ends_with(".tmp") {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        if !meta.is_file()
            || !owned_by_us(&meta)
            || current.is_some_and(|c| modified <= c)
            || best.as_ref().is_some_and(|(t, _)| *t >= modified)
        {
            continue;
        }
        let doc = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if doc.as_ref().is_some_and(valid) {
            best = Some((modified, path));
        }
    }
    let (_, path) = best?;
    match replace(&path, target) {
        Ok(()) => {
            sync_dir(target);
            Some(path)
        }
        Err(e) => {
            log::warn!(
                "{} holds newer tokens than {} but cannot replace it: {e}",
                path.display(),
                target.display()
            );
            None
        }
    }
}

fn owned_by_us(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.uid()) == crate::private::euid()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

/// What is wrong with who may read or change the login: `auth.json` (the target) open to
/// group or others or owned by someone else, or a directory holding it that others may write
/// to (they could replace the file). A directory others may only list is fine: the file's own
/// mode protects its content.
pub fn permission_warnings(codex_home: &Path, target: &Path) -> Vec<String> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut out = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = fs::metadata(target) {
            if m.mode() & 0o077 != 0 {
                out.push(format!(
                    "{} is readable or writable by other users (mode {:o}); run: chmod 600 {}",
                    target.display(),
                    m.mode() & 0o777,
                    target.display()
                ));
            }
            if !owned_by_us(&m) && m.uid() != 0 {
                out.push(format!(
                    "{} belongs to another user (uid {})",
                    target.display(),
                    m.uid()
                ));
            }
        }
        let mut dirs = vec![codex_home.to_path_buf()];
        if let Some(d) = target.parent().filter(|d| *d != codex_home) {
            dirs.push(d.to_path_buf());
        }
        for dir in dirs {
            if let Ok(m) = fs::metadata(&dir)
                && m.mode() & 0o022 != 0
                && m.mode() & 0o1000 == 0
            {
                out.push(format!(
                    "{} is writable by other users (mode {:o}), who could replace your login; run: chmod 700 {}",
                    dir.display(),
                    m.mode() & 0o777,
                    dir.display()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (codex_home, target);
    out
}

/// Why this process may not use `path` (`doing`: "reading", "saving"…), and the fix: whose file
/// (or directory) it is, which user the proxy runs as, and how to run it as the owner.
pub fn permission_problem(doing: &str, path: &Path) -> String {
    let mut why = format!("permission denied {doing} {}", path.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The file itself, or the first directory above it this process can look at (a private
        // directory hides its files).
        if let Some((p, meta)) = path
            .ancestors()
            .find_map(|p| std::fs::metadata(p).ok().map(|m| (p, m)))
        {
            if let Some(me) = running_uid() {
                why.push_str(&format!(": the proxy runs as uid {me}, and"));
            } else {
                why.push(':');
            }
            why.push_str(&format!(
                " {} belongs to uid {} (mode {:04o})",
                p.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ));
        }
    }
    why.push_str(
        ". Run the proxy as the user who signed in (Docker: `docker run --user \"$(id -u):$(id -g)\" …`), \
         or give it a CODEX_HOME it may read and write",
    );
    why
}

/// The effective uid of this process, from the owner of `/proc/self` (Linux; no `unsafe`).
#[cfg(unix)]
fn running_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ccp-tokenfile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_save_refused_by_permissions_says_whose_directory_and_the_fix() {
        let dir = scratch("perm");
        let target = dir.join("auth.json");
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let msg = cannot_save(&target, "create a temp file", &denied).to_string();
        assert!(
            msg.starts_with(&format!("permission denied saving {}", dir.display())),
            "{msg}"
        );
        assert!(msg.contains("--user"), "{msg}");
        #[cfg(unix)]
        assert!(msg.contains("belongs to uid"), "{msg}");
        let other = cannot_save(&target, "replace it", &io::Error::other("disk full")).to_string();
        assert!(other.starts_with("cannot save"), "{other}");
        let _ = fs::remove_dir_all(&dir);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn atomic_write_is_private_and_complete() {
        let dir = scratch("atomic");
        let path = dir.join("auth.json");
        fs::write(&path, "{}").unwrap();
        write_atomic(&path, &json!({"a": 1, "keep": {"x": true}})).unwrap();
        assert_eq!(read(&path), json!({"a": 1, "keep": {"x": true}}));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(names(&dir), ["auth.json"], "no temp file left behind");
        // A write that cannot complete (here: the target is a directory) changes nothing.
        let blocked = dir.join("blocked");
        fs::create_dir(&blocked).unwrap();
        assert!(write_atomic(&blocked, &json!({"a": 2})).is_err());
        assert!(blocked.is_dir());
        assert_eq!(read(&path)["a"], 1, "the old file is untouched");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_are_random_and_never_reuse_a_planted_file() {
        let dir = scratch("names");
        let target = dir.join("auth.json");
        // The old predictable names, planted.
        let planted = dir.join(format!(".auth.json.{}.0.tmp", std::process::id()));
        fs::write(&planted, "someone else's").unwrap();
        let a = Pending::create(&target, 10).unwrap();
        let b = Pending::create(&target, 10).unwrap();
        assert_ne!(a.tmp, b.tmp);
        assert!(a.tmp.file_name().unwrap().len() > ".auth.json..tmp".len() + 15);
        drop(a);
        b.commit(&json!({"v": 1})).unwrap();
        assert_eq!(read(&target), json!({"v": 1}));
        assert_eq!(fs::read_to_string(&planted).unwrap(), "someone else's");
        assert_eq!(names(&dir).len(), 2, "{:?}", names(&dir));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_rename_keeps_the_complete_temp_file() {
        let dir = scratch("kept");
        let target = dir.join("auth.json");
        fs::create_dir(&target).unwrap(); // rename(file, dir) fails
        fs::write(target.join("x"), "").unwrap();
        let err = Pending::create(&target, 0)
            .unwrap()
            .commit(&json!({"new": true}))
            .err()
            .unwrap();
        let kept = err.kept.unwrap();
        assert_eq!(read(&kept), json!({"new": true}));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_written_through() {
        let dir = scratch("link");
        let real = dir.join("real");
        fs::create_dir(&real).unwrap();
        fs::write(real.join("tokens.json"), "{}").unwrap();
        let home = dir.join("home");
        fs::create_dir(&home).unwrap();
        let link = home.join("auth.json");
        std::os::unix::fs::symlink("../real/tokens.json", &link).unwrap();
        assert_eq!(resolve(&link).unwrap(), home.join("../real/tokens.json"));
        write_atomic(&link, &json!({"v": 2})).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(read(&real.join("tokens.json")), json!({"v": 2}));
        assert_eq!(names(&real), ["tokens.json"]);
        assert_eq!(names(&home), ["auth.json"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn leftovers_are_adopted_when_newer_and_valid() {
        let dir = scratch("adopt");
        let target = dir.join("auth.json");
        fs::write(&target, r#"{"v": 0}"#).unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let valid = |v: &Value| v["v"].is_u64();
        // Older than the target, invalid, or not ours by name: left alone.
        let stale = dir.join(".auth.json.1111111111111111.tmp");
        fs::write(&stale, r#"{"v": 1}"#).unwrap();
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old - std::time::Duration::from_secs(5))
            .unwrap();
        let junk = dir.join(".auth.json.2222222222222222.tmp");
        fs::write(&junk, "   ").unwrap();
        let other = dir.join(".other.json.3333333333333333.tmp");
        fs::write(&other, r#"{"v": 3}"#).unwrap();
        assert_eq!(adopt_leftover(&target, &valid), None);
        // A complete, newer one is adopted.
        let newer = dir.join(".auth.json.4444444444444444.tmp");
        fs::write(&newer, r#"{"v": 4}"#).unwrap();
        assert_eq!(adopt_leftover(&target, &valid), Some(newer.clone()));
        assert_eq!(read(&target), json!({"v": 4}));
        assert!(!newer.exists() && stale.exists() && junk.exists() && other.exists());
        assert_eq!(adopt_leftover(&target, &valid), None, "nothing newer now");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_held_lock_is_waited_for_within_a_bound() {
        let dir = scratch("lock");
        let target = dir.join("auth.json");
        fs::write(&target, "{}").unwrap();
        let holder = open_lock(&target).unwrap();
        holder.lock().unwrap();
        let wait = std::time::Duration::from_millis(100);
        let e = lock_within(open_lock(&target).unwrap(), &target, wait).unwrap_err();
        assert_eq!(e.status(), 529, "{e}");
        drop(holder);
        assert!(lock_within(open_lock(&target).unwrap(), &target, wait).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("perms");
        let target = dir.join("auth.json");
        fs::write(&target, "{}").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(permission_warnings(&dir, &target).is_empty());
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let w = permission_warnings(&dir, &target);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("chmod 600") && w[1].contains("chmod 700"),
            "{w:?}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
