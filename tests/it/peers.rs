//! Independent protocol peers the tests talk to, started once per test binary on 127.0.0.1:
//! a SAML 2.0 IdP built on pysaml2 (`tests/peers/saml_idp.py`). Python peers live in a
//! virtual environment the setup creates from `tests/peers/requirements.txt`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// The virtual environment's python, created (once per requirements version) if missing.
fn python() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let requirements = peers_dir().join("requirements.txt");
        let text = std::fs::read_to_string(&requirements).expect("requirements.txt");
        let tag: u64 = text.bytes().fold(1469598103934665603u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        });
        let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
        let venv = PathBuf::from(home)
            .join(".cache/gatehouse/peers")
            .join(format!("venv-{tag:016x}"));
        let python = venv.join("bin/python");
        if !venv.join(".ready").exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 -m venv")
                .success();
            assert!(ok, "creating the peers' virtual environment failed");
            let ok = Command::new(&python)
                .args(["-m", "pip", "install", "-q", "-r"])
                .arg(&requirements)
                .status()
                .expect("pip install")
                .success();
            assert!(
                ok,
                "installing the peers from {} failed",
                requirements.display()
            );
            std::fs::write(venv.join(".ready"), "").expect("mark venv ready");
        }
        python
    })
    .clone()
}

/// A running peer process; killed when the test binary exits (it dies with its pipe).
struct Peer {
    _child: Child,
    port: u16,
}

fn start(script: &str) -> Peer {
    let mut child = Command::new(python())
        .arg(peers_dir().join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {script}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("peer port");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{script} said {line:?}"));
    Peer {
        _child: child,
        port: v["port"].as_u64().expect("port") as u16,
    }
}

/// The base URL of the shared pysaml2 IdP.
pub fn saml_idp() -> String {
    static IDP: OnceLock<Mutex<Peer>> = OnceLock::new();
    let peer = IDP.get_or_init(|| Mutex::new(start("saml_idp.py")));
    let port = peer.lock().expect("idp").port;
    format!("http://127.0.0.1:{port}")
}

/// Runs a one-shot Python peer script with `args` (off the test's runtime thread, which
/// must keep serving the app the script talks to); returns its JSON output.
pub async fn run_python(script: &str, args: &[&str]) -> Value {
    let script = script.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking({
        let script = script.clone();
        move || {
            Command::new(python())
                .arg(peers_dir().join(&script))
                .args(&args)
                .output()
        }
    })
    .await
    .expect("peer thread")
    .unwrap_or_else(|e| panic!("running {script}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!(
            "{script} printed {text:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
