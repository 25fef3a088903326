//! The database: one [`Store`] over SQLite (embedded default: a file, WAL, a single writer
//! connection) or PostgreSQL (multi-node), migrations, and every SQL statement Gatehouse runs.
//! No other module speaks SQL. Both backends share one schema shape: ids and JSON as TEXT,
//! times as BIGINT unix microseconds, bytes as BLOB/BYTEA, and `$n` placeholders.
//!
//! Writes happen in a [`Tx`]; a change and the audit event that records it share one.

pub mod activity;
pub mod audit;
pub mod audit_checkpoints;
pub mod audit_exports;
pub mod audit_ingest;
pub mod audit_lines;
pub mod audit_packed;
pub mod audit_recency;
pub mod audit_retention;
pub mod audit_search;
pub mod audit_streams;
pub mod audit_words;
pub mod connection_health;
pub mod groups;
pub mod keys;
pub mod listing;
pub mod memberships;
pub mod mfa;
pub mod mfa_challenges;
pub mod outbox;
pub mod password_links;
pub mod plugin_slots;
pub mod plugins;
pub mod provider;
pub mod recordings;
pub mod refresh_tokens;
pub mod roles;
pub mod scim_clients;
pub mod session_apps;
pub mod sessions;
pub mod setup_links;
pub mod ssf;
pub mod sso;
pub mod tenants;
pub mod tokens;
#[cfg(test)]
mod tx_tests;
pub mod usage;
pub mod user_reads;
pub mod user_search;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Connection};

use crate::error::Error;

/// Which SQL engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A storage failure, split where callers branch on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint rejected the row; the text names what was duplicated.
    #[error("{0}")]
    UniqueViolation(String),
    /// A stored value did not parse back (hand-edited or corrupted row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The domain error of a storage failure: a unique violation is a conflict, the rest internal.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UniqueViolation(what) => Error::Conflict(what),
            StoreError::Database(e) => Error::Internal(anyhow::Error::new(e).context("database")),
            StoreError::Corrupt(msg) => Error::Internal(anyhow::anyhow!("corrupt row: {msg}")),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Set on every SQLite connection: WAL (readers never block the writer), NORMAL sync (durable
/// across application crashes, fast commits), foreign keys on, and a 5 s busy timeout for
/// locks held by another process (e.g. `gatehouse audit verify` beside a running server).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The connection pools. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Serves reads (and, on PostgreSQL, writes too).
    reader: AnyPool,
    /// Serves write transactions. On SQLite it holds one connection, so writers queue in
    /// process instead of failing with SQLITE_BUSY.
    writer: AnyPool,
    /// PostgreSQL only: a few connections of the native driver, opened on first use, for
    /// reads of many rows (an export's pages). The generic driver copies every column of
    /// every row into a value of its own; the native one hands out borrowed text.
    bulk_reader: Option<sqlx::PgPool>,
}

/// The most connections [`Store::bulk_reader`] opens: an export reads two pages at once.
const BULK_CONNECTIONS: u32 = 4;

/// A write transaction, safe to cancel at any `.await`.
///
/// A request future can be dropped anywhere (the client went away, the request timed out),
/// and sqlx's own transaction is not cancel-safe: a `begin()` dropped after the server ran
/// `BEGIN` but before sqlx counted it leaves the connection inside a transaction that nobody
/// ends, and on SQLite that connection is the node's only writer. So the transaction state is
/// tracked here, statement by statement, and dropping a `Tx` that has not committed never
/// hands its connection back as it is: an open transaction is rolled back on a task of its
/// own first, and a connection whose state is in doubt (dropped while `BEGIN` or `COMMIT` was
/// under way) is closed, which ends any transaction on the server, and replaced.
pub struct Tx {
    /// The writer connection; taken out only by `Drop`.
    conn: Option<PoolConnection<sqlx::Any>>,
    state: TxState,
    backend: Backend,
}

/// Where a [`Tx`]'s connection stands, as far as the host knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    /// `BEGIN` or `COMMIT` was sent and its answer not seen: the server may or may not be
    /// inside a transaction.
    InDoubt,
    /// `BEGIN` succeeded and nothing ended the transaction yet.
    Open,
    /// `COMMIT` succeeded: the connection is clean.
    Finished,
}

impl Tx {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.conn
            .as_deref_mut()
            .expect("a Tx holds its connection until it is dropped")
    }

    /// The engine, for the few writes that put two statements into one round trip (a
    /// data-modifying CTE on PostgreSQL, two `;`-separated statements on SQLite).
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// What locks the rows a read-modify-write reads until this transaction ends: nothing on
    /// SQLite (`BEGIN IMMEDIATE` already holds the database's one write lock), `FOR UPDATE`
    /// on PostgreSQL (`OF alias` when the locked table is joined under an alias).
    pub(crate) fn lock_clause(&self, alias: Option<&str>) -> String {
        match (self.backend, alias) {
            (Backend::Sqlite, _) => String::new(),
            (Backend::Postgres, None) => " FOR UPDATE".into(),
            (Backend::Postgres, Some(a)) => format!(" FOR UPDATE OF {a}"),
        }
    }

    pub async fn commit(mut self) -> StoreResult<()> {
        self.state = TxState::InDoubt;
        sqlx::query("COMMIT").execute(self.conn()).await?;
        self.state = TxState::Finished;
        Ok(())
    }
}

/// Where a read runs: the reader pool, outside any write (to plan a change before its
/// transaction), or inside a write transaction (to see its own writes and hold its locks).
pub enum Db<'a> {
    Pool(&'a Store),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Store> for Db<'a> {
    fn from(store: &'a Store) -> Self {
        Db::Pool(store)
    }
}

impl<'a> From<&'a mut Tx> for Db<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Db::Tx(tx)
    }
}

impl Db<'_> {
    pub(crate) async fn fetch_all<'q>(
        &mut self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        match self {
            Db::Pool(store) => query.fetch_all(store.reader()).await,
            Db::Tx(tx) => query.fetch_all(tx.conn()).await,
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        match self.state {
            TxState::Finished => drop(conn),
            TxState::Open => match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(roll_back(conn));
                }
                Err(_) => drop(conn.detach()),
            },
            TxState::InDoubt => discard(conn),
        }
    }
}

/// Ends an abandoned transaction before its connection goes back to the pool; a connection
/// that cannot roll back is closed instead.
async fn roll_back(mut conn: PoolConnection<sqlx::Any>) {
    if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
        tracing::warn!(error = %e, "rolling back an abandoned transaction failed; closing its connection");
        discard(conn);
    }
}

/// Takes a connection out of the pool (which may open a replacement) and closes it: closing
/// ends whatever transaction the server still holds for it.
fn discard(conn: PoolConnection<sqlx::Any>) {
    let conn = conn.detach();
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let _ = conn.close().await;
            });
        }
        Err(_) => drop(conn),
    }
}

impl Store {
    /// Connects to `url`, creating the SQLite file (and its directory) if needed.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL scheme (use sqlite:// or postgres://)");
        };
        match backend {
            Backend::Sqlite => Self::connect_sqlite(url, max_connections).await,
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url).context("parsing database.url")?;
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .context("connecting to PostgreSQL")?;
                let bulk_options = sqlx::postgres::PgConnectOptions::from_str(url)
                    .context("parsing database.url")?;
                let bulk_reader = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(BULK_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_lazy_with(bulk_options);
                Ok(Self {
                    backend,
                    reader: pool.clone(),
                    writer: pool,
                    bulk_reader: Some(bulk_reader),
                })
            }
        }
    }

    async fn connect_sqlite(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        if path.is_empty() || path == ":memory:" {
            anyhow::bail!("SQLite needs a file path (in-memory databases cannot be shared between connections)");
        }
        if let Some(parent) = std::path::Path::new(&path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating database directory {}", parent.display()))?;
            }
        }
        let options = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=rwc"))
            .context("parsing SQLite path")?;
        // No ping before handing out a connection (sqlx's default): a SQLite connection is a
        // file handle that cannot "go away", and the ping is one more round trip to the
        // connection's worker thread on every acquire (several per sign-in).
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(sqlite_pragmas)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening SQLite database {path}"))?;
        let reader = AnyPoolOptions::new()
            .max_connections(max_connections)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(sqlite_pragmas)
            .connect_with(options)
            .await
            .with_context(|| format!("opening SQLite database {path}"))?;
        Ok(Self {
            backend: Backend::Sqlite,
            reader,
            writer,
            bulk_reader: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Refreshes the query planner's statistics after a bulk load (SQLite's `PRAGMA
    /// optimize` over every table, sampling at most 1000 rows per index; PostgreSQL's
    /// `VACUUM (ANALYZE)`, which autovacuum would run only later). Without them neither
    /// database can tell a selective index or a rare word from a poor one, and PostgreSQL's
    /// index-only scans (a CIDR search's sort) would visit the table for every key.
    pub async fn optimize(&self) -> StoreResult<()> {
        let sql = match self.backend {
            Backend::Sqlite => "PRAGMA analysis_limit = 1000; PRAGMA optimize(0x10002);",
            Backend::Postgres => "VACUUM (ANALYZE)",
        };
        sqlx::raw_sql(sql).execute(&self.writer).await?;
        Ok(())
    }

    /// Applies pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> anyhow::Result<usize> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        let mut conn = self
            .writer
            .acquire()
            .await
            .context("connecting for migrations")?;
        let before = applied_count(&mut conn).await;
        migrator
            .run(&mut *conn)
            .await
            .context("applying database migrations")?;
        let after = applied_count(&mut conn).await;
        Ok(after.saturating_sub(before))
    }

    /// Opens a write transaction (`BEGIN IMMEDIATE` on SQLite, so the write lock is taken up
    /// front rather than on the first write). See [`Tx`] for what a cancelled one does.
    pub async fn begin(&self) -> StoreResult<Tx> {
        let conn = self.writer.acquire().await?;
        let mut tx = Tx {
            conn: Some(conn),
            state: TxState::InDoubt,
            backend: self.backend,
        };
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        sqlx::query(begin).execute(tx.conn()).await?;
        tx.state = TxState::Open;
        Ok(tx)
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// On PostgreSQL, the native driver's pool for reads of many rows (see the field).
    pub(crate) fn bulk_reader(&self) -> Option<&sqlx::PgPool> {
        self.bulk_reader.as_ref()
    }

    /// The write pool, for a single write statement that commits on its own.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// True when both pools answer a trivial query.
    pub async fn ping(&self) -> bool {
        let r = sqlx::query("SELECT 1").execute(&self.reader).await.is_ok();
        r && sqlx::query("SELECT 1").execute(&self.writer).await.is_ok()
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        if let Some(bulk) = &self.bulk_reader {
            bulk.close().await;
        }
    }
}

async fn applied_count(conn: &mut AnyConnection) -> usize {
    // The table does not exist before the first migration.
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(&mut *conn)
        .await
        .map(|n| usize::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}

/// Most ids bound into one `IN (…)` list; longer lists are read in chunks of this size.
pub(crate) const IN_CHUNK: usize = 200;

/// `$2, $3, …` for an `IN` list of `n` ids after the tenant (`$1`).
pub(crate) fn in_list(n: usize) -> String {
    in_list_from(2, n)
}

/// `$first, $first+1, …`: `n` placeholders.
pub(crate) fn in_list_from(first: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", i + first))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps a unique-constraint failure to [`StoreError::UniqueViolation`] with `what` as text.
pub(crate) fn unique_as(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::UniqueViolation(what.to_string())
        }
        _ => StoreError::Database(e),
    }
}

/// Parses a stored text column into a newtype, reporting corruption instead of panicking.
pub(crate) fn parse_col<T: FromStr>(value: &str, column: &str) -> StoreResult<T> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} = {value:?}")))
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

fn sqlite_pragmas(
    conn: &mut AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(&mut *conn, SQLITE_PRAGMAS).await?;
        Ok(())
    })
}
