//! Installing what `needs` found missing, with Debian's apt: who may install (root, or
//! passwordless sudo), the `apt-get install` line, and running it. Knows nothing about why a
//! package is needed; the table in `needs` does.

use std::process::{Command, Stdio};

use crate::needs::Need;

/// Who can run apt-get here without typing a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Installer {
    /// We are root: run apt-get directly.
    Root,
    /// `sudo -n true` works: run apt-get through sudo.
    Sudo,
    /// Nobody: print the line for a person to run.
    Nobody,
}

impl Installer {
    /// Finds out by asking `id -u`, then `sudo -n true` (non-interactive: never prompts).
    /// Without apt-get it is always `Nobody`: this is not a Debian machine.
    pub fn detect() -> Installer {
        if !has_apt() {
            return Installer::Nobody;
        }
        let uid = Command::new("id").arg("-u").output();
        if uid.is_ok_and(|out| out.stdout.trim_ascii() == b"0") {
            return Installer::Root;
        }
        let sudo = Command::new("sudo")
            .args(["-n", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if sudo.is_ok_and(|status| status.success()) {
            Installer::Sudo
        } else {
            Installer::Nobody
        }
    }

    /// Runs `apt-get update` then `apt-get install` for `packages`; false if either fails.
    pub fn install(self, packages: &[&str]) -> bool {
        let prefix: &[&str] = match self {
            Installer::Root => &[],
            Installer::Sudo => &["sudo", "-n"],
            Installer::Nobody => return false,
        };
        let run = |args: &[&str]| {
            let mut argv = prefix.to_vec();
            argv.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-qq"]);
            argv.extend(args);
            eprintln!("+ {}", argv.join(" "));
            Command::new(argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        run(&["update"]) && run(&[&["install", "-y"], packages].concat())
    }
}

pub fn has_apt() -> bool {
    std::path::Path::new("/usr/bin/apt-get").exists()
}

/// The packages that provide `missing`, each once, in table order.
pub fn packages(missing: &[&Need]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for package in missing.iter().flat_map(|need| need.packages) {
        if !packages.contains(package) {
            packages.push(package);
        }
    }
    packages
}

/// The line a person without the rights to install runs, exactly as printed.
pub fn install_line(packages: &[&str]) -> String {
    format!("sudo apt-get install -y {}", packages.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::{Probe, Purpose};

    fn need(packages: &'static [&'static str]) -> Need {
        Need {
            what: "x",
            probe: Probe::OnPath("x"),
            packages,
            why: "x",
            purpose: Purpose::Build,
        }
    }

    #[test]
    fn packages_come_once_each_in_table_order() {
        let psql = need(&["postgresql-client"]);
        let xmlsec = need(&["libxmlsec1-dev", "libxml2-dev", "libssl-dev"]);
        let cc = need(&["build-essential"]);
        let missing = [&cc, &xmlsec, &psql, &psql];
        assert_eq!(
            packages(&missing),
            [
                "build-essential",
                "libxmlsec1-dev",
                "libxml2-dev",
                "libssl-dev",
                "postgresql-client"
            ]
        );
    }

    #[test]
    fn the_install_line_is_one_copyable_command() {
        assert_eq!(
            install_line(&["build-essential", "libclang-dev"]),
            "sudo apt-get install -y build-essential libclang-dev"
        );
    }

    #[test]
    fn nothing_missing_means_no_packages() {
        assert!(packages(&[]).is_empty());
    }
}
