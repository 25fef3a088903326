//! `cargo xtask`: the pre-flight in front of Gatehouse's run and test commands. On a fresh
//! Debian machine with only rustup, the real build would compile for minutes and then fail
//! on a missing system library; this checks first, in seconds, and installs what is missing
//! when it may (root, or passwordless sudo), else prints the one `apt-get install` line.
//!
//! - `needs.rs`: the table of system needs (check, Debian package, why, for which command).
//! - `apt.rs`: who may install, the install line, running apt-get.
//! - `node.rs`: a Node.js >= 20 for the test peers when Debian's (18) is too old, from the
//!   npm registry into `~/.cache/gatehouse/node`, first on the test command's `PATH`.
//! - here: the subcommands, the report, and the hand-over to cargo.
//!
//! It uses the standard library only, so it builds in seconds before the long compile it
//! guards. It never touches the project's sources or target folder.

mod apt;
mod needs;
mod node;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use apt::Installer;
use needs::{Need, Purpose, NEEDS};

const USAGE: &str = "\
usage: cargo xtask <command> [args…]

  serve [args…]   check (and install) what building Gatehouse needs, then
                  `cargo run --release -- serve [args…]`
  test [args…]    check (and install) what building and the test peers need, then
                  `cargo test [args…]`, with a Node.js >= 20 first on PATH
  doctor [--ci]   report what is present and missing; change nothing
  setup [--ci]    install what `serve` and `test` need (with --ci, also what .ci/run
                  needs: the PostgreSQL client and Debian's plugin toolchain), then report

Installing needs root or passwordless sudo and apt-get; otherwise the missing packages
are printed as one `sudo apt-get install -y …` line and the command stops (exit 1).
When the system's Node.js is older than 20 (Debian 12 has 18), `test` and `setup` install
a pinned Node.js from the npm registry, with npm, into ~/.cache/gatehouse/node (no root).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let ci = rest == ["--ci"];
    match (command.as_str(), rest.is_empty() || ci) {
        ("serve", _) => preflight(&[Purpose::Build], &args).map_or(ExitCode::FAILURE, |()| {
            hand_over(&["run", "--release", "--", "serve"], rest, None)
        }),
        ("test", _) => preflight(&[Purpose::Build, Purpose::Test], &args)
            .and_then(|()| node::provide())
            .map_or(ExitCode::FAILURE, |node| {
                hand_over(&["test"], rest, node.path())
            }),
        ("doctor", true) => report(&purposes(ci)),
        ("setup", true) => setup(&purposes(ci)),
        ("help" | "--help" | "-h", _) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn purposes(ci: bool) -> Vec<Purpose> {
    let mut purposes = vec![Purpose::Build, Purpose::Test];
    if ci {
        purposes.push(Purpose::Ci);
    }
    purposes
}

/// Ok when everything `purposes` need is present, installing it first if we may. Otherwise
/// says what is missing and the line that installs it; the caller stops.
fn preflight(purposes: &[Purpose], args: &[String]) -> Result<(), ()> {
    let missing = needs::missing(purposes);
    if missing.is_empty() {
        return Ok(());
    }
    let packages = apt::packages(&missing);
    let installer = Installer::detect();
    if installer != Installer::Nobody {
        eprintln!(
            "xtask: installing missing system packages: {}",
            packages.join(" ")
        );
        if installer.install(&packages) && needs::missing(purposes).is_empty() {
            return Ok(());
        }
        eprintln!("xtask: installing did not provide everything:");
        print_missing(&needs::missing(purposes));
        return Err(());
    }
    eprintln!("Gatehouse needs system packages that this machine lacks:\n");
    print_missing(&missing);
    if apt::has_apt() {
        eprintln!(
            "\nInstall them (or run this as root and it will), then run the command again:\n"
        );
        eprintln!("    {}", apt::install_line(&packages));
    } else {
        eprintln!("\nNo apt-get here: install the equivalents of these Debian packages, then run the command again:\n");
        eprintln!("    {}", packages.join(" "));
    }
    eprintln!("    {}", rerun(args));
    Err(())
}

fn print_missing(missing: &[&Need]) {
    for need in missing {
        eprintln!(
            "  {:<26} {:<40} {}",
            need.what,
            need.packages.join(" "),
            need.why
        );
    }
}

/// Installs what `purposes` need and is missing (the system packages, then Node.js if
/// Debian's is too old), then reports.
fn setup(purposes: &[Purpose]) -> ExitCode {
    let packages = apt::packages(&needs::missing(purposes));
    if !packages.is_empty() {
        match Installer::detect() {
            Installer::Nobody => eprintln!(
                "xtask: installing needs root or passwordless sudo, and apt-get; run:\n\n    {}\n",
                apt::install_line(&packages)
            ),
            installer => {
                if !installer.install(&packages) {
                    eprintln!("xtask: apt-get failed (its output is above)\n");
                }
            }
        }
    }
    if purposes.contains(&Purpose::Test) {
        // Its failure is said, and the report shows it missing.
        let _ = node::provide();
    }
    report(purposes)
}

/// Every need with present/missing; exit 1 if one of `purposes` is missing.
fn report(purposes: &[Purpose]) -> ExitCode {
    let mut missing = Vec::new();
    for need in NEEDS {
        let present = need.probe.passes();
        let wanted = purposes.contains(&need.purpose);
        let state = match (present, wanted) {
            (true, _) => "ok",
            (false, true) => "MISSING",
            (false, false) => "absent",
        };
        println!(
            "{state:<8} {:<6} {:<26} {:<40} {}",
            need.purpose.label(),
            need.what,
            need.packages.join(" "),
            need.why
        );
        if !present && wanted {
            missing.push(need);
        }
    }
    let node = node::find();
    let (state, found) = match &node {
        Ok(node) => ("ok", node.describe()),
        Err(_) => ("MISSING", node::spec()),
    };
    println!(
        "{state:<8} {:<6} {:<26} {found:<40} {}",
        Purpose::Test.label(),
        format!("node >= {}", node::MIN_MAJOR),
        node::WHY
    );
    if missing.is_empty() && node.is_ok() {
        println!("\nall present");
        return ExitCode::SUCCESS;
    }
    println!();
    if !missing.is_empty() {
        println!(
            "to install: {}",
            apt::install_line(&apt::packages(&missing))
        );
    }
    if let Err(lack) = node {
        println!("then: {}", node::explain(&lack));
    }
    ExitCode::FAILURE
}

/// Replaces this process with `cargo <command> <args>`, the same cargo that started us, with
/// `path` as its `PATH` when given.
fn hand_over(command: &[&str], args: &[String], path: Option<OsString>) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cargo = Command::new(cargo);
    if let Some(path) = path {
        cargo.env("PATH", path);
    }
    let error = cargo.args(command).args(args).exec();
    eprintln!("xtask: could not start cargo: {error}");
    ExitCode::FAILURE
}

/// `cargo xtask <args>`, quoted for a POSIX shell, to print after the install line.
fn rerun(args: &[String]) -> String {
    let quoted = args.iter().map(|arg| {
        let plain = !arg.is_empty()
            && arg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
        if plain {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    });
    std::iter::once("cargo xtask".to_owned())
        .chain(quoted)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rerun_repeats_the_command_as_typed() {
        assert_eq!(rerun(&strings(&["test"])), "cargo xtask test");
        assert_eq!(
            rerun(&strings(&["serve", "--config", "my gatehouse.toml"])),
            "cargo xtask serve --config 'my gatehouse.toml'"
        );
        assert_eq!(
            rerun(&strings(&["test", "it's"])),
            r"cargo xtask test 'it'\''s'"
        );
    }

    #[test]
    fn ci_needs_are_added_only_on_request() {
        assert_eq!(purposes(false), [Purpose::Build, Purpose::Test]);
        assert_eq!(purposes(true), [Purpose::Build, Purpose::Test, Purpose::Ci]);
    }
}
