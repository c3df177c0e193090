//! `ktx setup demo`: copies the package's demo project (assets/demo) into a directory.
//! Pure: no Python, no runtime.

use crate::error::{Error, Result};
use crate::package::Package;
use std::path::Path;

pub fn demo(dir: &Path, force: bool) -> Result<()> {
    let pkg = Package::locate()?;
    let src = pkg.demo_dir();
    if !src.join("ktx.yaml").is_file() {
        return Err(Error::other(
            format!("the package has no demo project at {}", src.display()),
            "the package is damaged; reinstall @kaelio/ktx",
        ));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
        && !force
    {
        return Err(Error::usage(
            format!("{} already exists and is not empty", dir.display()),
            "choose another --dir, or pass --force to overwrite the demo files in it",
        ));
    }
    // Copy into a temporary sibling, then rename: an interrupted setup leaves no half demo.
    let parent = super::absolute(dir)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ".".into());
    std::fs::create_dir_all(&parent).map_err(|e| Error::io("cannot create", &parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".ktx-demo-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("cannot write in", &parent, e))?;
    copy_tree(&src, tmp.path())?;
    if dir.exists() {
        copy_tree(tmp.path(), dir)?;
    } else {
        std::fs::rename(tmp.path(), dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    println!("Wrote the demo project to {}", dir.display());
    println!("Try:");
    println!(
        "  ktx sl query --project-dir {} --connection-id warehouse --measure orders.revenue --dimension customers.country --execute --format table",
        dir.display()
    );
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("cannot create", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io("cannot read", from, e))? {
        let entry = entry.map_err(|e| Error::io("cannot read", from, e))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| Error::io("cannot write", &target, e))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644));
            }
        }
    }
    Ok(())
}
