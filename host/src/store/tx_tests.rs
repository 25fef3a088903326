//! Write transactions under faults and races: a [`Tx`] (or the `begin()` making one) dropped
//! at any `.await` must leave the writer usable and nothing half-written, and an SSO sign-in's
//! read-modify-write of a user must never undo a deactivation committed meanwhile. Runs on
//! SQLite, and on PostgreSQL too when `GATEHOUSE_TEST_DATABASE_URL` names a server (a scratch
//! database is created and dropped).

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use super::{Backend, Store, Tx};

/// A store with a scratch table, and what to drop when done.
struct Scratch {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Scratch {
    async fn open() -> Vec<Scratch> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("tx.db").display());
        let mut all = vec![Scratch {
            store: Store::connect(&url, 2).await.expect("sqlite"),
            _dir: Some(dir),
            pg: None,
        }];
        if let Ok(admin) = std::env::var("GATEHOUSE_TEST_DATABASE_URL") {
            let name = format!("gh_tx_{}", uuid::Uuid::new_v4().simple());
            let admin_store = Store::connect(&admin, 1).await.expect("postgres");
            sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                .execute(admin_store.writer())
                .await
                .expect("create database");
            admin_store.close().await;
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            let url = format!("{base}/{name}");
            all.push(Scratch {
                store: Store::connect(&url, 2).await.expect("postgres"),
                _dir: None,
                pg: Some((admin, name)),
            });
        }
        for s in &all {
            sqlx::raw_sql("CREATE TABLE scratch (n BIGINT NOT NULL)")
                .execute(s.store.writer())
                .await
                .expect("scratch table");
        }
        all
    }

    async fn close(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.pg {
            let admin_store = Store::connect(&admin, 1).await.expect("postgres");
            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(admin_store.writer())
                .await;
            admin_store.close().await;
        }
    }
}

async fn insert(tx: &mut Tx, n: i64) {
    sqlx::query("INSERT INTO scratch (n) VALUES ($1)")
        .bind(n)
        .execute(tx.conn())
        .await
        .expect("insert");
}

async fn rows(store: &Store) -> Vec<i64> {
    sqlx::query_scalar("SELECT n FROM scratch ORDER BY n")
        .fetch_all(store.reader())
        .await
        .expect("select")
}

/// Polls `fut` `polls` times, giving the database a moment between polls to act on what was
/// sent, then drops it wherever it stands.
async fn abandon<F: Future>(fut: F, polls: usize) -> bool {
    let mut fut = std::pin::pin!(fut);
    for _ in 0..polls {
        let ready = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await;
        if ready {
            return true;
        }
        // The SQLite worker thread or the PostgreSQL server runs the statement meanwhile.
        std::thread::sleep(Duration::from_millis(3));
    }
    false
}

/// The next write must succeed (within a bound: a wedged writer hangs or errors).
async fn write_succeeds(store: &Store, n: i64) {
    let write = async {
        let mut tx = store.begin().await.expect("begin after a cancellation");
        insert(&mut tx, n).await;
        tx.commit().await.expect("commit after a cancellation");
    };
    tokio::time::timeout(Duration::from_secs(20), write)
        .await
        .expect("the writer is not wedged");
}

/// No connection of this database sits inside a transaction nobody will end.
async fn no_idle_transaction(store: &Store) {
    if store.backend() != Backend::Postgres {
        return;
    }
    // Abandoned transactions are rolled back or closed on a task of their own: let it run.
    for _ in 0..100 {
        let idle: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(store.reader())
        .await
        .expect("pg_stat_activity");
        if idle == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a connection stayed idle in a transaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_dropped_at_any_point_leaves_the_writer_usable() {
    for scratch in Scratch::open().await {
        let store = &scratch.store;
        let mut expected = Vec::new();
        for polls in 1..=6 {
            for round in 0..3 {
                abandon(store.begin(), polls).await;
                let n = i64::try_from(polls * 10 + round).expect("small");
                write_succeeds(store, n).await;
                expected.push(n);
                no_idle_transaction(store).await;
            }
        }
        expected.sort_unstable();
        assert_eq!(rows(store).await, expected, "{:?}", store.backend());
        scratch.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_mid_write_or_mid_commit_writes_nothing_half() {
    for scratch in Scratch::open().await {
        let store = &scratch.store;
        // Dropped with its writes done but not committed: they vanish.
        let mut tx = store.begin().await.expect("begin");
        insert(&mut tx, 1).await;
        insert(&mut tx, 2).await;
        drop(tx);
        write_succeeds(store, 100).await;
        assert_eq!(rows(store).await, vec![100]);

        // Dropped in the middle of a statement.
        for polls in 1..=3 {
            let mut tx = store.begin().await.expect("begin");
            insert(&mut tx, 3).await;
            abandon(insert(&mut tx, 4), polls).await;
            drop(tx);
            write_succeeds(store, 100 + i64::try_from(polls).expect("small")).await;
        }
        assert_eq!(rows(store).await, vec![100, 101, 102, 103]);

        // Dropped while committing: the pair lands whole or not at all.
        for polls in 1..=3 {
            let mut tx = store.begin().await.expect("begin");
            insert(&mut tx, 7).await;
            insert(&mut tx, 7).await;
            abandon(tx.commit(), polls).await;
            write_succeeds(store, 200 + i64::try_from(polls).expect("small")).await;
            no_idle_transaction(store).await;
        }
        let sevens = rows(store).await.iter().filter(|n| **n == 7).count();
        assert_eq!(sevens % 2, 0, "a commit landed half: {sevens} rows");
        scratch.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_never_undoes_a_deactivation_committed_while_it_ran() {
    use crate::store::user_reads;
    use crate::store::users::{self, UserStatus};
    use crate::types::{ConnectionId, TenantId, UserId};

    for scratch in Scratch::open().await {
        let store = scratch.store.clone();
        store.migrate().await.expect("migrate");
        let (tenant, user, connection) = (
            TenantId::generate(),
            UserId::generate(),
            ConnectionId::generate(),
        );
        sqlx::raw_sql(&format!(
            "INSERT INTO tenants (id, slug, name, public_token, status, created_at, updated_at) \
             VALUES ('{tenant}', 'race', 'Race', 'tok', 'active', 0, 0); \
             INSERT INTO users (id, tenant_id, email, status, source, created_at, updated_at) \
             VALUES ('{user}', '{tenant}', 'ada@race.example', 'active', 'scim', 0, 0); \
             INSERT INTO user_identities (tenant_id, connection_id, subject, user_id, created_at, last_login_at) \
             VALUES ('{tenant}', '{connection}', 'sub', '{user}', 0, 0);"
        ))
        .execute(store.writer())
        .await
        .expect("seed");

        // The sign-in reads the user…
        let mut sign_in = store.begin().await.expect("begin");
        let mut row = user_reads::user_by_identity(&mut sign_in, tenant, connection, "sub")
            .await
            .expect("read")
            .expect("user");
        assert_eq!(row.status, UserStatus::Active);
        // …SCIM deactivates it meanwhile (it waits, where the read holds a lock)…
        let scim_store = store.clone();
        let deactivation = tokio::spawn(async move {
            let mut tx = scim_store.begin().await.expect("begin");
            sqlx::query("UPDATE users SET status = 'deactivated' WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(user.to_string())
                .execute(tx.conn())
                .await
                .expect("deactivate");
            tx.commit().await.expect("commit");
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // …and the sign-in writes back what it read.
        row.display_name = Some("Ada".into());
        users::update_after_sign_in(&mut sign_in, &row, None)
            .await
            .expect("update");
        sign_in.commit().await.expect("commit");
        deactivation.await.expect("deactivation");

        let status: String =
            sqlx::query_scalar("SELECT status FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(user.to_string())
                .fetch_one(store.reader())
                .await
                .expect("status");
        assert_eq!(status, "deactivated", "{:?}", store.backend());
        scratch.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_state_is_taken_once_when_two_answers_race() {
    use crate::types::{ConnectionId, TenantId};

    for scratch in Scratch::open().await {
        let store = scratch.store.clone();
        store.migrate().await.expect("migrate");
        let (tenant, connection) = (TenantId::generate(), ConnectionId::generate());
        sqlx::raw_sql(&format!(
            "INSERT INTO tenants (id, slug, name, public_token, status, created_at, updated_at) \
             VALUES ('{tenant}', 'race', 'Race', 'tok', 'active', 0, 0); \
             INSERT INTO sso_connections (id, tenant_id, name, protocol, status, settings, created_at, updated_at) \
             VALUES ('{connection}', '{tenant}', 'c', 'saml', 'enabled', '{{}}', 0, 0); \
             INSERT INTO sso_login_states (id, tenant_id, connection_id, request_id, created_at, expires_at) \
             VALUES ('state-1', '{tenant}', '{connection}', 'req-1', 0, 9000000000000000);"
        ))
        .execute(store.writer())
        .await
        .expect("seed");

        // The first answer takes the state…
        let mut first = store.begin().await.expect("begin");
        let taken = crate::store::sso::take_login_state(&mut first, tenant, "state-1")
            .await
            .expect("take");
        assert!(taken.is_some());
        // …while a second answer with the same RelayState tries too.
        let racer = store.clone();
        let second = tokio::spawn(async move {
            let mut tx = racer.begin().await.expect("begin");
            let taken = crate::store::sso::take_login_state(&mut tx, tenant, "state-1")
                .await
                .expect("take");
            tx.commit().await.expect("commit");
            taken.is_some()
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        first.commit().await.expect("commit");
        assert!(
            !second.await.expect("second"),
            "{:?}: a login state was used twice",
            store.backend()
        );
        scratch.close().await;
    }
}
