//! Files only this user may read, made safely in directories others may write to (`/tmp`):
//! random names, exclusive creation with mode 0600, opens that never follow a symlink, and
//! ownership checks on what was opened.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The effective user id (`None` where there is no such thing).
pub fn euid() -> Option<u32> {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Some(unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `n` bytes from the operating system's generator (Linux `getrandom`, macOS `getentropy`,
/// Windows `BCryptGenRandom`), through the crate ring already uses.
pub fn random_bytes(n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(buf)
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> io::Result<String> {
    Ok(random_bytes(n)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Creates `path`, which must not exist yet (not even as a symlink), readable and writable by
/// this user only.
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

/// Opens `path` for appending, creating it 0600; refuses a symlink, anything but a regular file,
/// a file owned by someone else, or one with other hard links (all ways to make us write where
/// someone else reads). An existing file we own is made 0600.
pub fn open_append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a planted FIFO must not hang the open (no effect on regular files).
        opts.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(|e| {
        if e.raw_os_error() == Some(ELOOP) {
            io::Error::other("it is a symbolic link")
        } else {
            e
        }
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if Some(meta.uid()) != euid() {
            return Err(io::Error::other(format!(
                "it belongs to another user (uid {})",
                meta.uid()
            )));
        }
        if meta.nlink() != 1 {
            return Err(io::Error::other("it has other hard links"));
        }
        if meta.mode() & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

#[cfg(unix)]
const ELOOP: i32 = libc::ELOOP;
#[cfg(not(unix))]
const ELOOP: i32 = -1;

/// A directory `name` inside `parent` that only this user can enter, created 0700 if missing;
/// an existing one must be a real directory (not a link), ours, and closed to others.
pub fn private_dir(parent: &Path, name: &str) -> io::Result<PathBuf> {
    let dir = parent.join(name);
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(&dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if Some(meta.uid()) != euid() || meta.mode() & 0o077 != 0 {
            return Err(io::Error::other(format!(
                "{} belongs to another user or is open to others",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ccp-private-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn random_names_differ() {
        let a = random_hex(8).unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, random_hex(8).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn append_refuses_links_and_tightens_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("append");
        let victim = dir.join("victim");
        fs::write(&victim, "keep").unwrap();
        let link = dir.join("log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = open_append(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        // A dangling link is not created through either.
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(open_append(&dangling).is_err());
        assert!(!dir.join("nowhere").exists());
        // A hard link to a file of ours.
        let hard = dir.join("hard");
        fs::hard_link(&victim, &hard).unwrap();
        assert!(open_append(&hard).is_err());
        // A world-readable file of ours becomes private.
        let loose = dir.join("loose");
        fs::write(&loose, "").unwrap();
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).unwrap();
        open_append(&loose).unwrap();
        let mode = fs::metadata(&loose).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let fresh = dir.join("fresh");
        open_append(&fresh).unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_dirs_must_be_closed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("dir");
        let made = private_dir(&dir, "mine").unwrap();
        let mode = fs::metadata(&made).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(private_dir(&dir, "mine").unwrap(), made, "reused");
        fs::create_dir(dir.join("open")).unwrap();
        fs::set_permissions(dir.join("open"), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&dir, "open").is_err());
        std::os::unix::fs::symlink(&made, dir.join("link")).unwrap();
        assert!(private_dir(&dir, "link").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
