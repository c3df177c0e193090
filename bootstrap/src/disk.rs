//! Disk space and trees on disk: what is free where the runtime lives, what a tree takes, how
//! to say it in MB, and taking a tree out of the way so that it can never be mistaken for live.

use crate::error::{Error, Result};
use std::path::Path;

/// Bytes available to this user on the filesystem holding `path` (or its nearest existing
/// ancestor).
#[cfg(unix)]
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = path.to_path_buf();
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: c is a valid NUL-terminated path and s a writable statvfs.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0)
        .then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn free_bytes(_: &Path) -> Option<u64> {
    None
}

/// What a tree takes (files' lengths; symlinks are not followed).
pub fn tree_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

/// 1.5 GiB, 12.0 MiB, 3.2 KiB, 17 B.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub fn mb(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// Take `path` out of the way: rename it to `.trash-*` beside it (atomic, even if an orphan of
/// a killed ktx still writes into it), then delete it as far as possible. Whatever cannot be
/// deleted now stays under a name nothing reads, for a later `discard` to finish.
pub fn discard(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let trash = if name.starts_with(crate::paths::LEFTOVER_TRASH) {
        path.to_path_buf()
    } else {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let t = parent.join(format!(
            "{}{}-{nanos}-{}",
            crate::paths::LEFTOVER_TRASH,
            std::process::id(),
            name.trim_start_matches('.')
        ));
        std::fs::rename(path, &t).map_err(|e| Error::io("cannot remove", path, e))?;
        t
    };
    let _ = std::fs::remove_dir_all(&trash).or_else(|_| std::fs::remove_file(&trash));
    Ok(())
}

/// Clear the group and other write bits in a tree, whatever the umask was when it was made.
#[cfg(unix)]
pub fn restrict_writes(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & !0o022));
    }
    if meta.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                restrict_writes(&e.path());
            }
        }
    }
}

#[cfg(not(unix))]
pub fn restrict_writes(_: &Path) {}

/// Create `dir` and any missing parents, giving exactly `mode` (whatever the umask) to each
/// directory this call creates. A directory that already exists keeps its mode and owner: a
/// 0700 home, a sticky /tmp or a setgid team directory used as the runtime root is not ktx's
/// to re-permission.
pub fn create_dir(dir: &Path, mode: u32) -> Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_err())
        .collect();
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => set_mode(d, mode)?,
            // Made meanwhile by another ktx: not ours to change.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("cannot create", d, e)),
        }
    }
    if !dir.is_dir() {
        return Err(Error::io(
            "cannot create",
            dir,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "not a directory"),
        ));
    }
    Ok(())
}

/// Give a directory ktx just created exactly `mode`.
fn set_mode(dir: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("cannot set the mode of", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = (dir, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_renames_out_of_the_way_then_deletes() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join(".staging-1");
        std::fs::create_dir_all(victim.join("a/b")).unwrap();
        std::fs::write(victim.join("a/b/c"), "x").unwrap();
        discard(&victim).unwrap();
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        discard(&victim).unwrap(); // nothing there: fine
    }

    #[cfg(unix)]
    #[test]
    fn restrict_writes_clears_group_and_other_write_bits() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        restrict_writes(d.path());
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            std::fs::metadata(d.path()).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[cfg(unix)]
    #[test]
    fn create_dir_keeps_the_mode_of_what_exists_and_sets_it_on_what_it_makes() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let d = tempfile::tempdir().unwrap();
        for existing in [0o700, 0o1777, 0o2770] {
            let root = d.path().join(format!("root-{existing:o}"));
            std::fs::create_dir(&root).unwrap();
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(existing)).unwrap();
            create_dir(&root.join("a/b"), 0o755).unwrap();
            assert_eq!(
                mode(&root),
                existing,
                "the existing root was re-permissioned"
            );
            assert_eq!(mode(&root.join("a")), 0o755);
            assert_eq!(mode(&root.join("a/b")), 0o755);
            create_dir(&root, 0o755).unwrap();
            assert_eq!(mode(&root), existing);
        }
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human(17), "17 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(mb(1), 1);
        assert_eq!(mb(5 << 20), 5);
    }
}
