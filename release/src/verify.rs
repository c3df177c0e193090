//! Verification of a packed npm tarball: every required file present, the launcher and native
//! binaries executable, the runtime manifest's digest equal to the wheel's, its Requires-Python
//! and import packages equal to the wheel's METADATA and top-level packages, its `payload` (app
//! and one-shot module) equal to the wheel's `ktx_host/payload.json`, and the versions of
//! Cargo, npm, the manifest and the wheel equal; each native binary of its platform's format and
//! machine, recorded truthfully in `native/targets.json`, and every glibc build at or below the
//! glibc floor (read from its ELF symbol versions; the error names the symbols above it). Every
//! failure names the file in the tarball.
//!
//! A main tarball of the platforms layout (`npm_layout`) carries no binary: its
//! `optionalDependencies` must name exactly the platform packages whose tarballs lie beside it
//! (as `npm pack` names them), each at the main package's version, and each of those is checked
//! too (name, version, `os`/`cpu`/`libc` of its directory, repository, no scripts, one binary at
//! its root at 0755), its binary by the same per-binary checks as `native/<dir>/ktx`.

use anyhow::{bail, Context, Result};
use ktx_bootstrap::package::{BundledManifest, MANIFEST_PATH};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One file of a tarball.
pub(crate) struct Entry {
    pub(crate) mode: u32,
    pub(crate) bytes: Vec<u8>,
}

/// The files of a gzipped tarball by name (directories and links left out).
pub(crate) fn read_tarball(path: &Path) -> Result<BTreeMap<String, Entry>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive
        .entries()
        .with_context(|| format!("{} is not a gzipped tarball", path.display()))?
    {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.to_string_lossy().to_string();
        let mode = entry.header().mode()?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        out.insert(name, Entry { mode, bytes });
    }
    Ok(out)
}

/// A summary of what a verified tarball holds.
#[derive(Debug)]
pub struct Verified {
    pub version: String,
    pub files: usize,
    pub platforms: Vec<String>,
    /// Platforms layout: the platform tarballs checked beside the main one (empty for the
    /// single layout).
    pub platform_tarballs: Vec<std::path::PathBuf>,
}

/// Whether a glibc build above the glibc floor fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    /// It does: what `verify`, `check`, the smoke's `tarball` check and the release run.
    Enforce,
    /// It is reported only: `pack`'s own check, so that tests can pack a plain `cargo build`.
    Report,
}

/// Verify a tarball as a release: the glibc floor enforced.
pub fn verify_tarball(path: &Path) -> Result<Verified> {
    verify_tarball_as(path, Floor::Enforce, ktx_bootstrap::VERSION)
}

/// Verify with the glibc floor enforced or reported, every version required to be `version`.
pub fn verify_tarball_as(path: &Path, floor: Floor, version: &str) -> Result<Verified> {
    let entries = read_tarball(path)?;
    let get = |name: &str| -> Result<&Entry> {
        entries.get(&format!("package/{name}")).with_context(|| {
            format!("{}: package/{name} is missing from the tarball; check npm/package.json `files` and the pack staging", path.display())
        })
    };
    let pkg: serde_json::Value = serde_json::from_slice(&get("package.json")?.bytes)
        .context("package/package.json is not JSON")?;
    let npm_version = pkg["version"].as_str().unwrap_or_default().to_string();
    if pkg["bin"]["ktx"].as_str() != Some("./dist/bin.js") {
        bail!("package/package.json: bin.ktx must be ./dist/bin.js");
    }
    if !pkg["repository"]["url"]
        .as_str()
        .is_some_and(|u| u.contains("github.com/"))
    {
        bail!("package/package.json has no repository.url on GitHub; `npm publish --provenance` refuses a package whose repository is not the one that built it; hint: set it in npm/package.json");
    }
    // No install scripts: pnpm 12 fails an install whose dependency has one it did not approve
    // (ERR_PNPM_IGNORED_BUILDS), and npm 11 warns of them ahead of gating them too.
    if pkg
        .get("scripts")
        .is_some_and(|s| s.as_object().is_some_and(|o| !o.is_empty()))
    {
        bail!("package/package.json has scripts; @kaelio/ktx installs without any (pnpm 12 refuses unapproved install scripts); hint: remove them from npm/package.json");
    }
    if pkg["preferUnplugged"] != serde_json::Value::Bool(true) {
        bail!("package/package.json: preferUnplugged must be true, or Yarn Plug'n'Play keeps the native binaries zipped where they cannot run; hint: set it in npm/package.json");
    }
    let launcher = get("dist/bin.js")?;
    if launcher.mode & 0o111 == 0 {
        bail!(
            "package/dist/bin.js is not executable (mode {:o}); npx would fail with EACCES",
            launcher.mode
        );
    }
    let manifest: BundledManifest = serde_json::from_slice(&get(MANIFEST_PATH)?.bytes)
        .with_context(|| format!("package/{MANIFEST_PATH} is not a valid runtime manifest"))?;
    let wheel_name = format!("python/{}", manifest.wheel.file);
    let wheel = get(&wheel_name)?;
    let actual = crate::wheel::sha256_hex(&wheel.bytes);
    if actual != manifest.wheel.sha256 {
        bail!(
            "package/{wheel_name}: sha256 {actual} does not match {MANIFEST_PATH} ({}); the wheel was altered after it was built",
            manifest.wheel.sha256
        );
    }
    let facts = wheel_facts(&wheel.bytes)
        .with_context(|| format!("package/{wheel_name} has no readable METADATA"))?;
    let wheel_version = facts.version;
    if manifest.requires_python != facts.requires_python {
        bail!(
            "package/{MANIFEST_PATH}: requiresPython {:?} differs from the Requires-Python {:?} of package/{wheel_name}; repack",
            manifest.requires_python,
            facts.requires_python
        );
    }
    if manifest.packages.is_empty() || manifest.packages != facts.packages {
        bail!(
            "package/{MANIFEST_PATH}: packages {:?} differ from the top-level packages {:?} of package/{wheel_name}; repack",
            manifest.packages,
            facts.packages
        );
    }
    // What the runtime host runs: the manifest's `payload` is the wheel's ktx_host/payload.json.
    let raw: serde_json::Value = serde_json::from_slice(&get(MANIFEST_PATH)?.bytes)?;
    let declared = &raw["payload"];
    let host_file = format!("{}/payload.json", crate::payload::HOST_PACKAGE);
    let Some(in_wheel) = facts.payload else {
        bail!("package/{wheel_name} has no {host_file}, so the runtime host cannot find the payload's app; repack with `ktx-release pack`");
    };
    let want = serde_json::json!({"app": in_wheel["app"], "oneshot": in_wheel["oneshot"]});
    if *declared != want {
        bail!(
            "package/{MANIFEST_PATH}: payload {declared} differs from {want} in {host_file} of package/{wheel_name}; repack"
        );
    }
    if in_wheel["packages"] != serde_json::json!(facts.packages) {
        bail!(
            "package/{wheel_name}: {host_file} lists the packages {}, but the wheel holds {:?}; repack",
            in_wheel["packages"],
            facts.packages
        );
    }
    let cli = version;
    if npm_version != cli || manifest.version != cli || wheel_version != cli {
        bail!(
            "versions disagree: Cargo {cli}, package.json {npm_version}, {MANIFEST_PATH} {}, wheel {wheel_version}",
            manifest.version
        );
    }
    get("assets/demo/ktx.yaml")?;
    let record = get(crate::native::RECORD_PATH)?;
    let (platforms, platform_tarballs) = if crate::npm_layout::is_platforms_main(&pkg) {
        if let Some(name) = entries
            .keys()
            .find(|n| crate::native::binary_entry(n).is_some())
        {
            bail!("{name}: a main package that names platform packages in optionalDependencies carries no binary itself; hint: repack with `ktx-release pack --layout platforms`");
        }
        let platform_pkgs = read_platform_packages(path, &pkg, cli)?;
        let binaries = platform_pkgs
            .iter()
            .map(|p| (p.shown.clone(), p.dir.clone(), &p.binary))
            .collect::<Vec<_>>();
        let platforms = verify_natives(path, &binaries, record, floor)?;
        (
            platforms,
            platform_pkgs.into_iter().map(|p| p.tarball).collect(),
        )
    } else {
        let binaries = entries
            .iter()
            .filter_map(|(name, entry)| {
                let (dir, _) = crate::native::binary_entry(name)?;
                Some((name.clone(), dir.to_string(), entry))
            })
            .collect::<Vec<_>>();
        (verify_natives(path, &binaries, record, floor)?, Vec::new())
    };
    if manifest.uv.targets.is_empty() {
        bail!("package/{MANIFEST_PATH}: no uv pins");
    }
    Ok(Verified {
        version: npm_version,
        files: entries.len(),
        platforms,
        platform_tarballs,
    })
}

/// A checked platform package: its directory, its tarball and its binary.
struct PlatformPackage {
    dir: String,
    tarball: std::path::PathBuf,
    /// The binary as messages name it (`kaelio-ktx-linux-x64-0.1.0.tgz: package/ktx`).
    shown: String,
    binary: Entry,
}

/// The platform packages the main package.json `main` names, read from the tarballs beside
/// `path` and checked as packages; their binaries are left to `verify_natives`.
fn read_platform_packages(
    path: &Path,
    main: &serde_json::Value,
    version: &str,
) -> Result<Vec<PlatformPackage>> {
    use crate::npm_layout::{exe_name, platform_manifest, tarball_name, PLATFORM_PREFIX};
    let beside = path.parent().unwrap_or(Path::new("."));
    let optional = main["optionalDependencies"]
        .as_object()
        .context("package/package.json: optionalDependencies is not an object")?;
    let mut out = Vec::new();
    for (name, want) in optional {
        let Some(dir) = name.strip_prefix(PLATFORM_PREFIX) else {
            bail!("package/package.json: optionalDependencies names {name}, which is not a platform package ({PLATFORM_PREFIX}<platform>); hint: repack with `ktx-release pack --layout platforms`");
        };
        if want.as_str() != Some(version) {
            bail!("package/package.json: optionalDependencies asks {name}@{want}, not exactly {version} (the launcher runs only a platform package of its own version); hint: repack with `ktx-release pack --layout platforms`");
        }
        let file = beside.join(tarball_name(name, version));
        if !file.is_file() {
            bail!(
                "{}: optionalDependencies names {name}, but {} is missing beside it; hint: keep every tarball `ktx-release pack --layout platforms` wrote together",
                path.display(),
                file.display()
            );
        }
        let shown = |inner: &str| format!("{}: package/{inner}", file.display());
        let mut entries = read_tarball(&file)?;
        let pkg: serde_json::Value = serde_json::from_slice(
            &entries
                .get("package/package.json")
                .with_context(|| format!("{} is missing", shown("package.json")))?
                .bytes,
        )
        .with_context(|| format!("{} is not JSON", shown("package.json")))?;
        // Everything npm matches against the system, and what publishing needs, exactly as
        // `ktx-release pack` writes it from the main package.json.
        let expected = platform_manifest(main, dir).with_context(|| shown("package.json"))?;
        for field in [
            "name",
            "version",
            "os",
            "cpu",
            "libc",
            "license",
            "repository",
            "preferUnplugged",
        ] {
            if pkg.get(field) != expected.get(field) {
                bail!(
                    "{}: {field} is {}, expected {} for {name}; hint: repack with `ktx-release pack --layout platforms`",
                    shown("package.json"),
                    pkg.get(field).unwrap_or(&serde_json::Value::Null),
                    expected.get(field).unwrap_or(&serde_json::Value::Null)
                );
            }
        }
        if pkg
            .get("scripts")
            .is_some_and(|s| s.as_object().is_some_and(|o| !o.is_empty()))
        {
            bail!("{} has scripts; a platform package installs without any (pnpm 12 refuses unapproved install scripts); hint: repack with `ktx-release pack --layout platforms`", shown("package.json"));
        }
        let exe = exe_name(dir);
        let binary = entries
            .remove(&format!("package/{exe}"))
            .with_context(|| format!("{} is missing: {name} holds the {dir} binary at its root; hint: repack with `ktx-release pack --layout platforms`", shown(exe)))?;
        if binary.mode & 0o777 != 0o755 {
            bail!(
                "{} has mode {:o}, not 755; hint: repack with `ktx-release pack --layout platforms`, which sets 0755",
                shown(exe),
                binary.mode & 0o7777
            );
        }
        out.push(PlatformPackage {
            dir: dir.to_string(),
            tarball: file.clone(),
            shown: shown(exe),
            binary,
        });
    }
    Ok(out)
}

/// The native binaries, each `(name in messages, platform dir, entry)`: each executable, of its
/// platform's format and machine, recorded in `native/targets.json` as what it is, glibc builds
/// at or below the floor (`Floor::Enforce`).
fn verify_natives(
    path: &Path,
    binaries: &[(String, String, &Entry)],
    record: &Entry,
    floor: Floor,
) -> Result<Vec<String>> {
    let record_name = format!("package/{}", crate::native::RECORD_PATH);
    let record: crate::native::Record = serde_json::from_slice(&record.bytes).with_context(|| {
        format!("{record_name} is not a valid platform record; hint: repack with `ktx-release pack`")
    })?;
    let mut platforms = Vec::new();
    for (name, dir, entry) in binaries {
        let (name, dir) = (name.as_str(), dir.as_str());
        if !name.ends_with(".exe") && entry.mode & 0o111 == 0 {
            bail!(
                "{name} is not executable (mode {:o}); hint: repack with `ktx-release pack`, which sets 0755",
                entry.mode
            );
        }
        let inspected = crate::native::inspect(name, dir, &entry.bytes)?;
        if floor == Floor::Enforce {
            if let Some(above) = inspected.above_floor(name) {
                return Err(above.into());
            }
        }
        let want = inspected.entry();
        match record.get(dir) {
            Some(have) if *have == want => {}
            Some(have) => bail!(
                "{record_name} records native/{dir} as {have:?}, but {name} is {want:?}; hint: repack with `ktx-release pack`, which records what it packs"
            ),
            None => bail!(
                "{record_name} does not record native/{dir}, so the launcher cannot judge {name}; hint: repack with `ktx-release pack`"
            ),
        }
        platforms.push(dir.to_string());
    }
    if platforms.is_empty() {
        bail!(
            "{}: no native binary under package/native/<platform>/ktx; hint: pack one with `ktx-release pack --binary DIR=PATH`",
            path.display()
        );
    }
    if let Some(extra) = record.keys().find(|d| !platforms.contains(d)) {
        bail!(
            "{record_name} records native/{extra}, which the tarball does not carry; hint: repack with `ktx-release pack`"
        );
    }
    Ok(platforms)
}

/// What the manifest must agree with in a wheel.
struct WheelFacts {
    version: String,
    requires_python: Option<String>,
    /// Top-level import packages (directories and single modules), sorted.
    packages: Vec<String>,
    /// The runtime host's `payload.json`, when the wheel has one.
    payload: Option<serde_json::Value>,
}

fn wheel_facts(bytes: &[u8]) -> Result<WheelFacts> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let meta = names
        .iter()
        .find(|n| n.ends_with(".dist-info/METADATA"))
        .context("no .dist-info/METADATA")?;
    let mut text = String::new();
    zip.by_name(meta)?.read_to_string(&mut text)?;
    // The header ends at the first blank line; the readme follows it.
    let header: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    let field = |name: &str| {
        header
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let mut packages: Vec<String> = names
        .iter()
        .filter_map(|n| match n.split_once('/') {
            Some((top, _)) if !top.ends_with(".dist-info") && !top.ends_with(".data") => {
                Some(top.to_string())
            }
            None => n.strip_suffix(".py").map(str::to_string),
            _ => None,
        })
        .collect();
    packages.sort();
    packages.dedup();
    let host_file = format!("{}/payload.json", crate::payload::HOST_PACKAGE);
    let payload = match zip.by_name(&host_file) {
        Ok(mut f) => {
            let mut text = String::new();
            f.read_to_string(&mut text)?;
            Some(serde_json::from_str(&text).with_context(|| format!("{host_file} is not JSON"))?)
        }
        Err(_) => None,
    };
    Ok(WheelFacts {
        payload,
        version: field("Version: ").context("METADATA has no Version")?,
        requires_python: field("Requires-Python: "),
        packages,
    })
}
