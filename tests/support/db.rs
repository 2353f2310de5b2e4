//! A throwaway database per test, on either backend.
//!
//! `TestDb::postgres().await` creates a uniquely named database on the server named by
//! `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`; the user
//! must be allowed to `CREATE DATABASE`) and drops it when the `TestDb` is dropped (set
//! `TEST_KEEP_DB=1` to keep it for a post-mortem). A server that cannot be reached fails
//! the test: a backend that was not tested must never look like a pass.
//!
//! `TestDb::sqlite()` makes a database file in a temporary directory removed on drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection, Decode, PgConnection, Postgres, Sqlite, Type};
use sync1688::store::{self, Backend, Store};
use tokio::sync::OnceCell;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub struct TestDb {
    url: String,
    place: Place,
    raw: OnceCell<Raw>,
}

enum Place {
    Postgres { admin_url: String, name: String },
    // Held for its Drop, which deletes the directory and the database in it.
    Sqlite { _dir: tempfile::TempDir },
}

/// A plain pool beside the store's, standing in for the other tools that share the
/// database.
enum Raw {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl TestDb {
    /// A fresh, empty PostgreSQL database (not migrated: [`TestDb::store`] does that).
    pub async fn postgres() -> TestDb {
        super::init_logging();
        let admin_url =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "sync1688_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let mut admin =
            match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&admin_url))
                .await
            {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => panic!("{}", unreachable_message(&admin_url, &e.to_string())),
                Err(_) => panic!(
                    "{}",
                    unreachable_message(&admin_url, "no answer within 10 s")
                ),
            };
        // The name is ours (letters, digits, underscores), so formatting it in is safe.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("TestDb: cannot create database {name}: {e}"));
        let _ = admin.close().await;
        TestDb {
            url: with_database(&admin_url, &name),
            place: Place::Postgres { admin_url, name },
            raw: OnceCell::new(),
        }
    }

    /// A fresh, empty SQLite database file.
    pub fn sqlite() -> TestDb {
        super::init_logging();
        let dir = tempfile::Builder::new()
            .prefix("sync1688-test-")
            .tempdir()
            .expect("TestDb: cannot create a temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("sync1688.db").display()
        );
        TestDb {
            url,
            place: Place::Sqlite { _dir: dir },
            raw: OnceCell::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Postgres { .. } => Backend::Postgres,
            Place::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// The URL the daemon would be configured with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store on this database, connected and migrated. Each call opens a new pool.
    pub async fn store(&self) -> Arc<dyn Store> {
        let store = store::connect(&self.url, 4)
            .await
            .unwrap_or_else(|e| panic!("TestDb: cannot connect the store: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("TestDb: migrations failed: {e}"));
        store
    }

    /// Runs SQL (one or more statements) as another tool would, and returns the rows
    /// affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        let result = match self.raw().await {
            Raw::Postgres(pool) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Raw::Sqlite(pool) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        };
        result.unwrap_or_else(|e| panic!("TestDb::execute failed: {e}\n{sql}"))
    }

    /// The first column of the first row of `sql`. Write SQL both backends accept (e.g.
    /// `CAST(x AS TEXT)`) or branch on [`TestDb::backend`].
    pub async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> Decode<'r, Postgres>
            + Type<Postgres>
            + for<'r> Decode<'r, Sqlite>
            + Type<Sqlite>
            + Send
            + Unpin,
    {
        let result = match self.raw().await {
            Raw::Postgres(pool) => {
                sqlx::query_scalar::<Postgres, T>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(pool)
                    .await
            }
            Raw::Sqlite(pool) => {
                sqlx::query_scalar::<Sqlite, T>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(pool)
                    .await
            }
        };
        result.unwrap_or_else(|e| panic!("TestDb::scalar failed: {e}\n{sql}"))
    }

    async fn raw(&self) -> &Raw {
        self.raw
            .get_or_init(|| async {
                match &self.place {
                    Place::Postgres { .. } => Raw::Postgres(
                        PgPoolOptions::new()
                            .max_connections(2)
                            .connect(&self.url)
                            .await
                            .unwrap_or_else(|e| panic!("TestDb: cannot connect: {e}")),
                    ),
                    Place::Sqlite { .. } => {
                        let options: SqliteConnectOptions = self
                            .url
                            .parse::<SqliteConnectOptions>()
                            .expect("TestDb: a SQLite URL of our own making")
                            .foreign_keys(true)
                            .busy_timeout(Duration::from_secs(10));
                        Raw::Sqlite(
                            SqlitePoolOptions::new()
                                .max_connections(2)
                                .connect_with(options)
                                .await
                                .unwrap_or_else(|e| panic!("TestDb: cannot open the file: {e}")),
                        )
                    }
                }
            })
            .await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Place::Postgres { admin_url, name } = &self.place else {
            return;
        };
        if std::env::var_os("TEST_KEEP_DB").is_some() {
            eprintln!("TestDb: kept database {name}");
            return;
        }
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop cannot await, and may run inside the test's runtime: drop the database
        // from a thread with a runtime of its own. FORCE ends the pools still connected.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("TestDb: could not drop a test database (left for CI to clean up): {e}");
        }
    }
}

fn unreachable_message(admin_url: &str, error: &str) -> String {
    format!(
        "TestDb::postgres: cannot reach PostgreSQL at {} ({error}). The PostgreSQL half of the \
         suite cannot run: start the server (e.g. `pg_ctlcluster 15 main start`) or set \
         TEST_POSTGRES_URL to a server where this user may CREATE DATABASE.",
        store::redact_url(admin_url)
    )
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{name}{query}")
}
