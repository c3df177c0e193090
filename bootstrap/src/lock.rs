//! Advisory file locks (flock / LockFileEx through std): released when the `Lock` is dropped or
//! the process dies, so a killed ktx never leaves a lock behind. A shared lock on a runtime
//! that cannot be written (a read-only filesystem, another user's files) is taken on a
//! read-only handle, or not at all: nothing can change such a runtime under its readers.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

#[derive(Debug)]
pub struct Lock {
    _file: Option<File>,
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("cannot open the lock file", path, e))
}

/// Take the lock exclusively, calling `on_wait` once if another process holds it.
pub fn exclusive(path: &Path, on_wait: impl FnOnce()) -> Result<Lock> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => return Ok(Lock { _file: Some(file) }),
        Err(TryLockError::WouldBlock) => on_wait(),
        Err(TryLockError::Error(e)) => return Err(Error::io("cannot lock", path, e)),
    }
    wait_for(path, || file.lock())?;
    Ok(Lock { _file: Some(file) })
}

/// A blocking lock call, resumed when a signal that does not stop ktx interrupts it; a SIGINT
/// or SIGTERM (`process::interrupted`) ends the wait with `Error::Interrupted` (exit 130).
fn wait_for(path: &Path, mut take: impl FnMut() -> std::io::Result<()>) -> Result<()> {
    loop {
        match take() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if crate::process::interrupted().is_some() {
                    return Err(Error::Interrupted {
                        state: format!(
                            "stopped while waiting for the lock {}; nothing was changed",
                            path.display()
                        ),
                    });
                }
            }
            Err(e) => return Err(Error::io("cannot lock", path, e)),
        }
    }
}

/// Take the lock exclusively only if nobody holds it.
pub fn try_exclusive(path: &Path) -> Result<Option<Lock>> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Lock { _file: Some(file) })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io("cannot lock", path, e)),
    }
}

/// Take the lock shared (many holders; excludes an exclusive holder).
pub fn shared(path: &Path) -> Result<Lock> {
    let file = match open(path) {
        Ok(f) => f,
        Err(e) => match File::open(path) {
            Ok(f) => f,
            // Cannot be created here: a read-only runtime, which no one can change either.
            Err(_) if !writable_dir(path.parent()) => return Ok(Lock { _file: None }),
            Err(_) => return Err(e),
        },
    };
    wait_for(path, || file.lock_shared())?;
    Ok(Lock { _file: Some(file) })
}

/// Whether files can be created in `dir` (false on a read-only filesystem).
fn writable_dir(dir: Option<&Path>) -> bool {
    dir.is_some_and(|d| tempfile::tempfile_in(d).is_ok())
}
