//! `ktx-release download-sizes`: the same package packed three ways (PLATFORM's binary alone,
//! every binary in one tarball, the platforms layout) and the bytes a first `npx @kaelio/ktx`
//! fetches on PLATFORM in each.

use crate::flags;
use anyhow::{Context, Result};
use ktx_release::layout::ReleaseLayout;
use ktx_release::npm_layout::{self, platform_package, tarball_name, DownloadRow, Layout};
use ktx_release::pipeline::{native_binaries, Pipeline};
use std::path::{Path, PathBuf};

pub fn run(layout: &ReleaseLayout, args: flags::DownloadSizes) -> Result<()> {
    let table = table(layout, &args.binaries, &args.platform)?;
    println!("{table}");
    Ok(())
}

fn table(layout: &ReleaseLayout, binaries: &[String], platform: &str) -> Result<String> {
    let own = binaries
        .iter()
        .find(|b| b.split_once('=').map(|(d, _)| d) == Some(platform))
        .with_context(|| format!("no --binary {platform}=PATH given"))?;
    let projects = [PathBuf::from(ktx_release::pack::DEFAULT_PROJECT)];
    let pipeline = Pipeline::new(layout, &projects);
    let mut rows = Vec::new();
    for (label, dir, bins, npm) in [
        (
            "one binary (single)",
            "one",
            vec![own.clone()],
            Layout::Single,
        ),
        (
            "every binary in one tarball (single)",
            "all",
            binaries.to_vec(),
            Layout::Single,
        ),
        (
            "one package per platform (platforms)",
            "platforms",
            binaries.to_vec(),
            Layout::Platforms,
        ),
    ] {
        let dest = layout.out.join("download-sizes").join(dir);
        let _ = std::fs::remove_dir_all(&dest);
        let natives = native_binaries(&layout.repo, &bins)?;
        let packed = pipeline.build(&natives, &dest, None, npm)?;
        let mut tarballs = vec![size(&packed.main)?];
        if npm == Layout::Platforms {
            let version = ktx_release::workspace::Workspace::load(&layout.repo)?.version;
            let name = tarball_name(&platform_package(platform), &version);
            let mine = packed
                .platforms
                .iter()
                .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy() == name))
                .with_context(|| format!("the platforms layout has no {name}"))?;
            tarballs.push(size(mine)?);
        }
        rows.push(DownloadRow {
            layout: format!("{label}, {} binaries packed", bins.len()),
            tarballs,
        });
    }
    Ok(npm_layout::download_table(platform, &rows))
}

/// A tarball's file name and size.
fn size(p: &Path) -> Result<(String, u64)> {
    Ok((
        p.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string(),
        std::fs::metadata(p)
            .with_context(|| format!("cannot stat {}", p.display()))?
            .len(),
    ))
}
