//! What the HTTP benches share: the server under test (a separate `gatehouse serve` process
//! by default), and a fixed number of calls from concurrent workers, timed one by one:
//! the first calls after start (cold) and the warm rate, with p50 and p99 latency.

pub mod saml;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many calls, and from how many workers.
#[allow(
    dead_code,
    reason = "every bench compiles this module; the replay and memory benches do not use it"
)]
pub struct Load {
    /// Calls made right after the server started: the first alone (it may create what the
    /// rest use), the others from `concurrency` workers, timed and reported as the cold start.
    pub warmup: usize,
    /// Calls timed once warm.
    pub runs: usize,
    /// Workers calling at once.
    pub concurrency: usize,
}

#[allow(
    dead_code,
    reason = "every bench compiles this module; the replay and memory benches do not use it"
)]
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `call(i)` for every i in `range` from `concurrency` workers; each call's latency,
/// sorted, and the wall time of the whole phase.
#[allow(
    dead_code,
    reason = "every bench compiles this module; the replay and memory benches do not use it"
)]
async fn phase<F, Fut>(
    call: &Arc<F>,
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let began = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return times;
                }
                let started = Instant::now();
                call(i).await;
                times.push(started.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for w in workers {
        times.extend(w.await.unwrap());
    }
    let elapsed = began.elapsed();
    times.sort();
    (times, elapsed)
}

/// Runs the `load` of `call` and prints `what`'s cold-start latency, then its warm rate
/// and latency; returns the warm rate (calls per second).
#[allow(
    dead_code,
    reason = "every bench compiles this module; the replay and memory benches do not use it"
)]
pub async fn measure<F, Fut>(what: &str, load: Load, call: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let Load {
        warmup,
        runs,
        concurrency,
    } = load;
    let call = Arc::new(call);
    if warmup > 0 {
        let first = Instant::now();
        call(0).await;
        println!(
            "{what}: the first call: {:.2} ms",
            first.elapsed().as_secs_f64() * 1e3
        );
    }
    if warmup > 1 {
        let (cold, _) = phase(&call, 1..warmup, concurrency).await;
        println!(
            "{what} ({concurrency} concurrent): first {} after the first: latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            cold.len(),
            percentile(&cold, 0.50).as_secs_f64() * 1e3,
            percentile(&cold, 0.99).as_secs_f64() * 1e3,
            cold.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        );
    }
    let (times, elapsed) = phase(&call, warmup..warmup + runs, concurrency).await;
    let rate = runs as f64 / elapsed.as_secs_f64();
    println!(
        "{what} ({concurrency} concurrent): {rate:.0}/s over {runs}; latency p50 {:.2} ms, p99 {:.2} ms",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
    );
    rate
}

/// The server under test: by default a separate `gatehouse serve` process (the release
/// binary this bench was built with), so the load comes from another process over loopback
/// as a client's would; `GATEHOUSE_BENCH_SERVER=in-process` runs it inside the bench instead
/// (no process boundary, for comparison).
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub operator_token: String,
    /// The server process, killed on drop (`None` in process).
    child: Option<std::process::Child>,
    /// The environment that points a `gatehouse` command at the same data and database.
    env: Vec<(String, String)>,
    _dir: Data,
}

/// Where a server's data directory lives: a fresh one dropped with it, or one kept.
enum Data {
    Fresh(#[allow(dead_code, reason = "held to be dropped")] tempfile::TempDir),
    Kept,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `gatehouse` binary, without the benches' own `GATEHOUSE_BENCH_*` settings in its
/// environment (its configuration refuses keys it does not know).
fn gatehouse_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars() {
        if key.starts_with("GATEHOUSE_BENCH_") {
            command.env_remove(key);
        }
    }
    command
}

/// The environment that points `gatehouse` at a data directory and database.
fn environment(dir: &std::path::Path, database_url: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![("GATEHOUSE_DATA_DIR".to_string(), dir.display().to_string())];
    if let Some(url) = database_url {
        env.push(("GATEHOUSE_DATABASE__URL".into(), url.to_string()));
        env.push((
            "GATEHOUSE_SECRETS__MASTER_KEY".into(),
            BENCH_MASTER_KEY.into(),
        ));
    }
    env
}

/// Runs `bench` on SQLite, then on a fresh PostgreSQL database that is dropped afterwards
/// (`GATEHOUSE_BENCH_POSTGRES_URL`, default the local server; `none` skips it).
/// `GATEHOUSE_BENCH_SQLITE=none` skips SQLite, so a long run can be split in two.
#[allow(
    dead_code,
    reason = "every bench compiles this module; not every bench uses it"
)]
pub fn on_each_database<F, Fut>(bench: F)
where
    F: Fn(&'static str, Option<String>) -> Fut,
    Fut: Future<Output = ()>,
{
    use sqlx::Connection;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if std::env::var("GATEHOUSE_BENCH_SQLITE").as_deref() != Ok("none") {
            bench("SQLite", None).await;
        }
        let pg = std::env::var("GATEHOUSE_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        if pg != "none" {
            // A kept run's database has a fixed name and stays for the next run.
            let kept = kept_dir().is_some();
            let name = if kept {
                "gh_bench_kept".to_string()
            } else {
                format!("gh_bench_{}", uuid::Uuid::new_v4().simple())
            };
            let mut admin = sqlx::PgConnection::connect(&pg).await.expect("PostgreSQL");
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut admin)
                    .await
                    .unwrap();
            if !exists {
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            let base = pg.rsplit_once('/').map(|(b, _)| b).unwrap_or(&pg);
            bench("PostgreSQL", Some(format!("{base}/{name}"))).await;
            if !kept {
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
        }
    });
}

/// `GATEHOUSE_BENCH_KEEP=DIR`: the servers' data directories (`DIR/sqlite`, `DIR/postgres`)
/// and the PostgreSQL database (`gh_bench_kept`) are kept, and a later run with the same
/// setting starts on them again, so a bench can reuse what an earlier run wrote (the
/// audit bench's generated events).
pub fn kept_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("GATEHOUSE_BENCH_KEEP").map(std::path::PathBuf::from)
}

/// The fixed master key every PostgreSQL node shares (benches only).
const BENCH_MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

impl Server {
    /// Runs `gatehouse ARGS` against the server's data and database; panics unless it
    /// succeeds; returns what it printed.
    pub fn command(&self, args: &[&str]) -> String {
        let out = gatehouse_command()
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run gatehouse");
        assert!(
            out.status.success(),
            "gatehouse {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server process's resident memory now and at its peak (KiB), from /proc; `None`
    /// in process.
    #[allow(
        dead_code,
        reason = "every bench compiles this module; the audit bench uses it"
    )]
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        self.memory_sampler()()
    }

    /// [`Server::memory_kib`] as a function another task can call.
    #[allow(
        dead_code,
        reason = "every bench compiles this module; the audit bench uses it"
    )]
    pub fn memory_sampler(&self) -> impl Fn() -> Option<(u64, u64)> + Send + 'static {
        let pid = self.child.as_ref().map(|c| c.id());
        move || {
            let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            };
            Some((field("VmRSS:")?, field("VmHWM:")?))
        }
    }

    /// Creates tenant `slug` (domain `slug.example`) through the operator API; returns the
    /// operator's view of it (`id`, `public_token`…).
    pub async fn tenant(&self, http: &reqwest::Client, slug: &str) -> serde_json::Value {
        let body =
            serde_json::json!({"slug": slug, "name": slug, "domains": [format!("{slug}.example")]});
        let r = http
            .post(format!("{}/operator/v1/tenants", self.base))
            .bearer_auth(&self.operator_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// Issues a token of `tenant` with `scopes` through the operator API; returns it.
    pub async fn token(&self, http: &reqwest::Client, tenant: &str, scopes: &[&str]) -> String {
        let r = http
            .post(format!("{}/operator/v1/tenants/{tenant}/tokens", self.base))
            .bearer_auth(&self.operator_token)
            .json(&serde_json::json!({"name": "bench", "scopes": scopes}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let body: serde_json::Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// Starts Gatehouse on a fresh data directory and `database_url` (SQLite when `None`),
    /// with the anonymous-path rate limits off (one load generator is one client IP), and
    /// waits until it serves.
    /// With [`kept_dir`], on the kept data directory of that database instead (the
    /// operator token is then a new one, the earlier ones revoked).
    pub async fn start(database_url: Option<String>) -> Server {
        let in_process = std::env::var("GATEHOUSE_BENCH_SERVER").as_deref() == Ok("in-process");
        let (dir, data) = match kept_dir() {
            Some(kept) if !in_process => {
                let dir = kept.join(if database_url.is_some() {
                    "postgres"
                } else {
                    "sqlite"
                });
                std::fs::create_dir_all(&dir).unwrap();
                (dir, Data::Kept)
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                (dir.path().to_path_buf(), Data::Fresh(dir))
            }
        };
        if in_process {
            let Data::Fresh(dir) = data else {
                unreachable!("in process is always fresh")
            };
            return Self::in_process(dir, database_url).await;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let env = environment(&dir, database_url.as_deref());
        let mut command = gatehouse_command();
        command
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("GATEHOUSE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_SERVER__PUBLIC_URL", &base)
            .env("GATEHOUSE_LOG__LEVEL", "warn")
            .env("GATEHOUSE_THROTTLE__PER_IP_PER_MINUTE", "0")
            .env("GATEHOUSE_THROTTLE__PER_CONNECTION_PER_MINUTE", "0")
            .env("GATEHOUSE_THROTTLE__PER_TENANT_PER_MINUTE", "0")
            .stdout(std::process::Stdio::piped());
        let spawned = Instant::now();
        let mut child = command.spawn().expect("start gatehouse serve");
        let stdout = child.stdout.take().unwrap();
        // The first start prints the operator token on its own indented line, then the URL.
        let token = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut token = None;
            for line in std::io::BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(t) = line.trim().strip_prefix("gho_") {
                    token = Some(format!("gho_{t}"));
                }
                if line.starts_with("Gatehouse is listening") {
                    break;
                }
            }
            token
        })
        .await
        .unwrap();
        // `serve` says it listens once migrations ran and the built-in plugins are compiled
        // and warm, so this is the time a new node takes before it serves.
        println!(
            "gatehouse serve: listening {:.0} ms after the process started",
            spawned.elapsed().as_secs_f64() * 1e3
        );
        let mut server = Server {
            base,
            operator_token: token.unwrap_or_default(),
            child: Some(child),
            env,
            _dir: data,
        };
        if server.operator_token.is_empty() {
            // A kept data directory: the first start printed the token; make a new one.
            let said = server.command(&["operator", "rotate-token"]);
            server.operator_token = said
                .split_whitespace()
                .find(|w| w.starts_with("gho_"))
                .expect("rotate-token printed a token")
                .to_string();
        }
        server
    }

    async fn in_process(dir: tempfile::TempDir, database_url: Option<String>) -> Server {
        use gatehouse::{app, config::Config, types::Clock};
        use secrecy::ExposeSecret;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        if database_url.is_some() {
            config.secrets.master_key = Some(BENCH_MASTER_KEY.to_string().into());
        }
        let env = environment(dir.path(), database_url.as_deref());
        config.database.url = database_url;
        config.server.public_url = Some(base.clone());
        config.log.level = "warn".into();
        config.throttle.per_ip_per_minute = 0;
        config.throttle.per_connection_per_minute = 0;
        config.throttle.per_tenant_per_minute = 0;
        let started = app::start(config, Clock::system()).await.expect("start");
        let operator_token = started.operator_token.unwrap().expose_secret().to_string();
        tokio::spawn(app::serve(started.state, listener, std::future::pending()));
        Server {
            base,
            operator_token,
            child: None,
            env,
            _dir: Data::Fresh(dir),
        }
    }
}
