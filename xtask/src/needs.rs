//! What Gatehouse needs from the system, in one table: for each need, how to tell it is there,
//! the Debian package that provides it, why it is needed, and which command needs it. This
//! module only looks; installing is `apt`'s job, and nothing here changes the machine.

use std::path::Path;
use std::process::{Command, Stdio};

/// Which command a need serves, so `serve` does not ask for the test peers nor `test` for
/// CI's plugin toolchain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Compiling and running Gatehouse (`cargo run`, and every `cargo test`).
    Build,
    /// The independent peers the integration tests start (`cargo test`).
    Test,
    /// What only `.ci/run` uses: the PostgreSQL suite and the check that `plugins/dist`
    /// matches a fresh build with Debian's pinned toolchain.
    Ci,
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Build => "build",
            Purpose::Test => "test",
            Purpose::Ci => "ci",
        }
    }
}

/// How to tell that a need is met: cheap, and precise enough that a pass means the build or
/// test step that depends on it will find it.
#[derive(Clone, Copy, Debug)]
pub enum Probe {
    /// A program on `PATH`.
    OnPath(&'static str),
    /// A `pkg-config` module (which also needs `pkg-config` itself).
    PkgConfig(&'static str),
    /// A file, directory or symbolic link (dangling or not: the link is what its package
    /// installs) at a fixed place.
    Exists(&'static str),
    /// A `libclang*.so` where bindgen's loader (clang-sys) looks on Debian.
    LibClang,
    /// Python modules `python3` can import.
    PythonImports(&'static str),
}

/// One row of the table.
#[derive(Debug)]
pub struct Need {
    /// What is checked, as the report shows it.
    pub what: &'static str,
    pub probe: Probe,
    /// The Debian 12 packages that provide it (installed together).
    pub packages: &'static [&'static str],
    /// Why Gatehouse needs it: which step fails without it.
    pub why: &'static str,
    pub purpose: Purpose,
}

/// Every system package Gatehouse's run, tests and CI use. The one list: `.ci/run` installs
/// through `cargo xtask setup --ci` and the README points here.
pub const NEEDS: &[Need] = &[
    Need {
        what: "cc",
        probe: Probe::OnPath("cc"),
        packages: &["build-essential"],
        why: "links every Rust program; compiles the C in SQLite, ring and OpenSSL's bindings",
        purpose: Purpose::Build,
    },
    Need {
        what: "pkg-config",
        probe: Probe::OnPath("pkg-config"),
        packages: &["pkg-config"],
        why: "how the build scripts of samael and openssl-sys find libxmlsec1 and OpenSSL",
        purpose: Purpose::Build,
    },
    Need {
        what: "pkg-config xmlsec1",
        probe: Probe::PkgConfig("xmlsec1"),
        packages: &["libxmlsec1-dev", "libxml2-dev", "libssl-dev"],
        why: "SAML signature checks link libxmlsec1 (samael), built on libxml2 and OpenSSL",
        purpose: Purpose::Build,
    },
    Need {
        what: "libclang",
        probe: Probe::LibClang,
        packages: &["libclang-dev"],
        why: "samael's build script generates the xmlsec bindings with bindgen, which loads libclang",
        purpose: Purpose::Build,
    },
    Need {
        what: "xmlsec1",
        probe: Probe::OnPath("xmlsec1"),
        packages: &["xmlsec1"],
        why: "the test SAML IdP (pysaml2) signs its responses with the xmlsec1 command",
        purpose: Purpose::Test,
    },
    Need {
        what: "oathtool",
        probe: Probe::OnPath("oathtool"),
        packages: &["oathtool"],
        why: "the MFA tests check our TOTP codes against an independent implementation",
        purpose: Purpose::Test,
    },
    Need {
        what: "rsyslogd",
        probe: Probe::Exists("/usr/sbin/rsyslogd"),
        packages: &["rsyslog"],
        why: "the audit stream tests deliver to a real syslog receiver on loopback",
        purpose: Purpose::Test,
    },
    Need {
        what: "rsyslog's OpenSSL driver",
        probe: Probe::Exists("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so"),
        packages: &["rsyslog-openssl"],
        why: "the audit stream tests deliver syslog over TLS to rsyslogd",
        purpose: Purpose::Test,
    },
    Need {
        what: "python3 venv, ensurepip",
        probe: Probe::PythonImports("venv, ensurepip"),
        packages: &["python3-venv"],
        why: "the tests make a virtual environment for the Python peers (pysaml2, Authlib, scim2-tester, pyotp)",
        purpose: Purpose::Test,
    },
    Need {
        what: "node",
        probe: Probe::OnPath("node"),
        packages: &["nodejs"],
        why: "runs npm; the peers need Node.js >= 20, added by node.rs when this one is older",
        purpose: Purpose::Test,
    },
    Need {
        what: "npm",
        probe: Probe::OnPath("npm"),
        packages: &["npm"],
        why: "installs the Node peers from tests/peers/node/package-lock.json (npm ci)",
        purpose: Purpose::Test,
    },
    Need {
        what: "chromium",
        probe: Probe::OnPath("chromium"),
        packages: &["chromium"],
        why: "the page tests drive Debian's Chromium headless; no browser is downloaded",
        purpose: Purpose::Test,
    },
    Need {
        what: "psql",
        probe: Probe::OnPath("psql"),
        packages: &["postgresql-client"],
        why: "CI checks the PostgreSQL server the second suite runs on",
        purpose: Purpose::Ci,
    },
    Need {
        what: "pg_isready",
        probe: Probe::OnPath("pg_isready"),
        packages: &["postgresql-client"],
        why: "CI waits for that server to accept connections",
        purpose: Purpose::Ci,
    },
    Need {
        what: "/usr/bin/rustc",
        probe: Probe::Exists("/usr/bin/rustc"),
        packages: &["rustc-web"],
        why: "CI rebuilds the built-in plugins with Debian's pinned compiler to check plugins/dist",
        purpose: Purpose::Ci,
    },
    Need {
        what: "/usr/bin/cargo",
        probe: Probe::Exists("/usr/bin/cargo"),
        packages: &["cargo-web"],
        why: "drives that plugin build",
        purpose: Purpose::Ci,
    },
    Need {
        what: "/usr/lib/rustlib/src/rust",
        probe: Probe::Exists("/usr/lib/rustlib/src/rust"),
        packages: &["rust-web-src"],
        why: "the standard library's source: the plugins build it for wasm32 (-Z build-std)",
        purpose: Purpose::Ci,
    },
    Need {
        what: "/usr/bin/rust-lld",
        probe: Probe::Exists("/usr/bin/rust-lld"),
        packages: &["rust-web-llvm"],
        why: "rust-lld and wasm-component-ld: link the plugins and wrap them as components",
        purpose: Purpose::Ci,
    },
    Need {
        what: "/usr/bin/lld-22",
        probe: Probe::Exists("/usr/bin/lld-22"),
        packages: &["lld-22"],
        why: "the LLVM linker itself: Debian's rust-lld is a link to it",
        purpose: Purpose::Ci,
    },
    Need {
        what: "/usr/lib/wasm32-wasi",
        probe: Probe::Exists("/usr/lib/wasm32-wasi"),
        packages: &["wasi-libc"],
        why: "the C library the plugins link for WASI",
        purpose: Purpose::Ci,
    },
];

/// Where bindgen's loader finds libclang on Debian (versioned LLVM folders, then multiarch).
const LIBCLANG_DIRS: &[&str] = &[
    "/usr/lib/llvm-*/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
];

impl Probe {
    /// Whether the need is met on this machine. Runs at most one short command.
    pub fn passes(self) -> bool {
        match self {
            Probe::OnPath(program) => on_path(program),
            Probe::PkgConfig(module) => {
                succeeds(Command::new("pkg-config").args(["--exists", module]))
            }
            Probe::Exists(path) => Path::new(path).symlink_metadata().is_ok(),
            Probe::LibClang => LIBCLANG_DIRS.iter().any(|dir| has_libclang(dir)),
            Probe::PythonImports(modules) => {
                succeeds(Command::new("python3").args(["-c", &format!("import {modules}")]))
            }
        }
    }
}

/// The needs of the given purposes that this machine does not meet, in table order.
pub fn missing(purposes: &[Purpose]) -> Vec<&'static Need> {
    NEEDS
        .iter()
        .filter(|need| purposes.contains(&need.purpose) && !need.probe.passes())
        .collect()
}

fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `dir` may end in one `*` path component (as `/usr/lib/llvm-*/lib`).
fn has_libclang(dir: &str) -> bool {
    let dirs: Vec<std::path::PathBuf> = match dir.split_once('*') {
        None => vec![dir.into()],
        Some((prefix, suffix)) => {
            let parent = Path::new(prefix).parent().unwrap_or(Path::new("/"));
            let stem = Path::new(prefix)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let Ok(entries) = parent.read_dir() else {
                return false;
            };
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
                .map(|e| e.path().join(suffix.trim_start_matches('/')))
                .collect()
        }
    };
    dirs.iter().any(|dir| {
        dir.read_dir().is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| is_libclang(&e.file_name().to_string_lossy()))
        })
    })
}

/// `libclang.so`, `libclang-14.so`, `libclang.so.1`, `libclang-14.so.13`: what clang-sys
/// accepts; not `libclang-cpp`, which is a different library.
fn is_libclang(file: &str) -> bool {
    let Some(rest) = file.strip_prefix("libclang") else {
        return false;
    };
    let Some((version, after)) = rest.split_once(".so") else {
        return false;
    };
    let version_ok = version.is_empty()
        || version.strip_prefix('-').is_some_and(|v| {
            v.starts_with(|c: char| c.is_ascii_digit())
                && v.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
    version_ok && (after.is_empty() || after.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libclang_names_are_the_ones_clang_sys_loads() {
        for name in [
            "libclang.so",
            "libclang.so.1",
            "libclang-14.so",
            "libclang-14.so.13",
            "libclang-14.0.6.so",
        ] {
            assert!(is_libclang(name), "{name}");
        }
        for name in [
            "libclang-cpp.so.14",
            "libclang.a",
            "libclangBasic.a",
            "libclang-14.a",
        ] {
            assert!(!is_libclang(name), "{name}");
        }
    }

    #[test]
    fn every_need_names_a_package_and_a_reason() {
        for need in NEEDS {
            assert!(!need.packages.is_empty(), "{}", need.what);
            assert!(!need.why.is_empty(), "{}", need.what);
        }
    }
}
