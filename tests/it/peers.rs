//! Independent protocol peers the tests talk to, started once per test binary on 127.0.0.1:
//! a SAML 2.0 IdP built on pysaml2 (`tests/peers/saml_idp.py`) and an OpenID Connect
//! provider built on the npm package `oidc-provider` (`tests/peers/node/oidc_op.mjs`); and,
//! per call, a real browser (Debian's Chromium driven by playwright-core,
//! `tests/peers/node/browser.mjs`); and two independent TOTP implementations, PyPI's
//! `pyotp` and Debian's `oathtool`, called per code. Python peers live in a virtual
//! environment the setup creates from `tests/peers/requirements.txt`; the Node peers'
//! packages are installed with `npm ci` from `tests/peers/node/package-lock.json`. Both are
//! cached under `~/.cache/gatehouse/peers`, one folder per version of the file they are
//! made from.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// `~/.cache/gatehouse/peers/{prefix}-{hash of the file}`: a cache folder per version of `file`.
fn cache_dir(prefix: &str, file: &Path) -> PathBuf {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let tag: u64 = bytes.iter().fold(1469598103934665603u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(1099511628211)
    });
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(home)
        .join(".cache/gatehouse/peers")
        .join(format!("{prefix}-{tag:016x}"))
}

/// The virtual environment's python, created (once per requirements version) if missing.
fn python() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let requirements = peers_dir().join("requirements.txt");
        let venv = cache_dir("venv", &requirements);
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

/// The Node peers' folder: their packages installed (once per package-lock.json version) by
/// `npm ci`. The scripts are copied next to node_modules (once per test binary, so edits
/// take effect), since an ES module resolves packages from where the script is, not from
/// NODE_PATH.
fn node_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = peers_dir().join("node");
        let dir = cache_dir("node", &src.join("package-lock.json"));
        if !dir.join(".ready").exists() {
            std::fs::create_dir_all(&dir).expect("node peer folder");
            for file in ["package.json", "package-lock.json"] {
                std::fs::copy(src.join(file), dir.join(file))
                    .unwrap_or_else(|e| panic!("copying {file}: {e}"));
            }
            let ok = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm ci")
                .success();
            assert!(ok, "installing the Node peer's packages failed");
            std::fs::write(dir.join(".ready"), "").expect("mark node peer ready");
        }
        for script in ["oidc_op.mjs", "browser.mjs"] {
            std::fs::copy(src.join(script), dir.join(script))
                .unwrap_or_else(|e| panic!("copying {script}: {e}"));
        }
        dir
    })
    .clone()
}

/// A running peer process; killed when the test binary exits (it dies with its pipe).
struct Peer {
    _child: Child,
    port: u16,
    /// The JSON line the peer printed once listening.
    said: Value,
}

fn start(mut command: Command, what: &str) -> Peer {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("peer port");
    let said: Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("{what} said {line:?}"));
    Peer {
        _child: child,
        port: said["port"].as_u64().expect("port") as u16,
        said,
    }
}

fn start_python(script: &str) -> Peer {
    let mut command = Command::new(python());
    command.arg(peers_dir().join(script));
    start(command, script)
}

/// The base URL of the shared pysaml2 IdP.
pub fn saml_idp() -> String {
    static IDP: OnceLock<Mutex<Peer>> = OnceLock::new();
    let peer = IDP.get_or_init(|| Mutex::new(start_python("saml_idp.py")));
    let port = peer.lock().expect("idp").port;
    format!("http://127.0.0.1:{port}")
}

/// The shared SMTP receiver (aiosmtpd): its SMTP port and the URL listing what it received.
pub fn smtp_sink() -> (u16, String) {
    static SINK: OnceLock<Mutex<Peer>> = OnceLock::new();
    let peer = SINK.get_or_init(|| Mutex::new(start_python("smtp_sink.py")));
    let peer = peer.lock().expect("smtp sink");
    let http = peer.said["http"].as_u64().expect("http port");
    (peer.port, format!("http://127.0.0.1:{http}/messages"))
}

/// The messages the SMTP receiver got for `to`, waiting up to 10 s for at least `count`.
pub async fn smtp_messages(listing: &str, to: &str, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let all: Vec<Value> = reqwest::get(listing)
            .await
            .expect("smtp sink listing")
            .json()
            .await
            .expect("smtp sink JSON");
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|m| {
                m["rcpt_tos"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|a| a == to))
            })
            .collect();
        if mine.len() >= count {
            return mine;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Vec::new()
}

/// The issuer URL (`http://127.0.0.1:PORT`) of the shared `oidc-provider` OpenID Connect
/// provider. Its discovery document is at `{issuer}/.well-known/openid-configuration`.
pub fn oidc_op() -> String {
    static OP: OnceLock<Mutex<Peer>> = OnceLock::new();
    let peer = OP.get_or_init(|| {
        let dir = node_dir();
        let mut command = Command::new("node");
        command.arg(dir.join("oidc_op.mjs")).current_dir(&dir);
        Mutex::new(start(command, "oidc_op.mjs"))
    });
    let peer = peer.lock().expect("op");
    peer.said["issuer"].as_str().expect("issuer").to_string()
}

/// Stores (or replaces) the OP's account `id`; it logs in as `id` and its ID token and
/// userinfo carry `claims` (email, email_verified, name, given_name, family_name, groups),
/// as far as the scopes asked for allow.
pub async fn oidc_op_account(issuer: &str, id: &str, claims: Value) {
    let response = reqwest::Client::new()
        .post(format!("{issuer}/test/accounts"))
        .json(&serde_json::json!({ "id": id, "claims": claims }))
        .send()
        .await
        .expect("POST /test/accounts");
    assert_eq!(response.status(), 204, "storing the OP account {id}");
}

/// Registers a confidential code-flow client (`client_secret_basic`) with the OP's dynamic
/// client registration; returns its client id and secret.
pub async fn oidc_op_register(
    issuer: &str,
    redirect_uri: &str,
    token_endpoint_auth_method: &str,
) -> (String, String) {
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("OP discovery")
        .json()
        .await
        .expect("OP discovery JSON");
    let endpoint = discovery["registration_endpoint"]
        .as_str()
        .expect("registration_endpoint");
    let response = http
        .post(endpoint)
        .json(&serde_json::json!({
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }))
        .send()
        .await
        .expect("OP registration");
    let status = response.status();
    let client: Value = response.json().await.expect("registration JSON");
    assert_eq!(status, 201, "OP registration answered {client}");
    (
        client["client_id"].as_str().expect("client_id").to_string(),
        client["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_string(),
    )
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

/// Runs `actions` in a fresh headless Chromium (see `tests/peers/node/browser.mjs`) off the
/// test's runtime thread; returns what the page showed at the end, or `{"error": …}`.
pub async fn browser(actions: Value) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        let dir = node_dir();
        Command::new("node")
            .arg(dir.join("browser.mjs"))
            .arg(serde_json::json!({ "actions": actions }).to_string())
            .current_dir(&dir)
            .output()
    })
    .await
    .expect("browser thread")
    .expect("running node browser.mjs");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!(
            "browser.mjs printed {text:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The TOTP code for base32 `secret` at Unix time `at`, by PyPI's `pyotp`.
pub fn pyotp_code(secret: &str, at: i64) -> String {
    let out = Command::new(python())
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &at.to_string(),
        ])
        .output()
        .expect("running pyotp");
    assert!(
        out.status.success(),
        "pyotp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// The TOTP code for base32 `secret` at Unix time `at`, by Debian's `oathtool`.
pub fn oathtool_code(secret: &str, at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "--base32", &format!("--now=@{at}"), secret])
        .output()
        .expect("running oathtool (apt-get install oathtool)");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// A free loopback port (bound, then released for a peer to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A peer process started by a test, killed when dropped (a test stops and restarts it).
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` and waits (up to 30 s) until something listens on `port`.
async fn listening(mut command: Command, port: u16, what: &str) -> Process {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let process = Process(child);
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return process;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} did not listen on port {port}");
}

/// moto's S3-compatible server (PyPI `moto[server]`) on `port`; its state is in memory.
pub async fn moto_s3(port: u16) -> Process {
    let mut command = Command::new(python().with_file_name("moto_server"));
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    listening(command, port, "moto_server").await
}

/// Debian's rsyslogd in the foreground with its own configuration in `dir`: TCP on
/// loopback `port` (TLS with `dir/{ca,cert,key}.pem` when `tls`), every message's raw text
/// appended to `dir/received.log`.
pub async fn rsyslog(dir: &Path, port: u16, tls: bool) -> Process {
    let config = dir.join("rsyslog.conf");
    let d = dir.display();
    let (global, module) = if tls {
        (
            format!(
                " defaultNetstreamDriver=\"ossl\" defaultNetstreamDriverCAFile=\"{d}/ca.pem\" \
                 defaultNetstreamDriverCertFile=\"{d}/cert.pem\" \
                 defaultNetstreamDriverKeyFile=\"{d}/key.pem\""
            ),
            " streamDriver.name=\"ossl\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\"",
        )
    } else {
        (String::new(), "")
    };
    std::fs::write(
        &config,
        format!(
            "global(workDirectory=\"{dir}\"{global})\n\
             module(load=\"imtcp\"{module})\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{dir}/received.log\" template=\"raw\")\n",
            dir = dir.display()
        ),
    )
    .expect("rsyslog config");
    let mut command = Command::new("/usr/sbin/rsyslogd");
    command
        .arg("-n")
        .arg("-f")
        .arg(&config)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"));
    listening(command, port, "rsyslogd").await
}
