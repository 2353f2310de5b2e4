//! Fresh PostgreSQL databases for the benchmarks, what a run wrote into them, and the
//! `COPY` baseline.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use sqlx::{Connection, PgConnection, Row};

/// A database created for one scenario and dropped afterwards.
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    pub async fn create(admin_url: &str, label: &str) -> anyhow::Result<FreshDatabase> {
        let name = format!("sync1688_bench_{label}_{}", std::process::id());
        let mut admin = connect(admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let mut url = reqwest::Url::parse(admin_url).context("the PostgreSQL URL")?;
        url.set_path(&format!("/{name}"));
        Ok(FreshDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        connect(&self.url).await
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = connect(&self.admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}

pub async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(url)
        .await
        .context("cannot connect to PostgreSQL (give --postgres-url)")
}

pub async fn server_version(url: &str) -> anyhow::Result<String> {
    let mut c = connect(url).await?;
    Ok(sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut c)
        .await?)
}

/// Rows inserted, updated and deleted per table, and the server's WAL position.
#[derive(Debug, Clone, Default)]
pub struct WriteCounters {
    pub tables: BTreeMap<String, [i64; 3]>,
    pub wal_lsn: String,
}

/// What happened between two [`WriteCounters`].
#[derive(Debug, Clone, Default)]
pub struct Writes {
    /// Tables with a nonzero delta: (inserted, updated, deleted).
    pub tables: BTreeMap<String, [i64; 3]>,
    pub wal_bytes: i64,
}

impl Writes {
    pub fn rows(&self, tables: impl Fn(&str) -> bool) -> i64 {
        self.tables
            .iter()
            .filter(|(t, _)| tables(t))
            .map(|(_, d)| d.iter().sum::<i64>())
            .sum()
    }

    /// `table +ins ~upd -del`, for the tables `tables` selects.
    pub fn describe(&self, tables: impl Fn(&str) -> bool) -> String {
        let parts: Vec<String> = self
            .tables
            .iter()
            .filter(|(t, _)| tables(t))
            .map(|(t, [i, u, d])| format!("{t} +{i} ~{u} -{d}"))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

impl FreshDatabase {
    /// The cumulative counters once every other session of this database has ended
    /// (a backend flushes its table statistics when it exits).
    pub async fn write_counters(&self) -> anyhow::Result<WriteCounters> {
        let mut c = self.connect().await?;
        let waited = Instant::now();
        loop {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_one(&mut c)
            .await?;
            if others == 0 {
                break;
            }
            if waited.elapsed() > Duration::from_secs(30) {
                bail!("{others} sessions of {} did not end", self.name);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut c)
            .await?;
        let rows = sqlx::query(
            "SELECT relname::text AS t, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables",
        )
        .fetch_all(&mut c)
        .await?;
        let mut tables = BTreeMap::new();
        for row in rows {
            tables.insert(
                row.try_get::<String, _>("t")?,
                [
                    row.try_get("n_tup_ins")?,
                    row.try_get("n_tup_upd")?,
                    row.try_get("n_tup_del")?,
                ],
            );
        }
        let wal_lsn: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&mut c)
            .await?;
        Ok(WriteCounters { tables, wal_lsn })
    }

    pub async fn writes_since(&self, before: &WriteCounters) -> anyhow::Result<Writes> {
        let after = self.write_counters().await?;
        let mut tables = BTreeMap::new();
        for (table, now) in &after.tables {
            let then = before.tables.get(table).copied().unwrap_or_default();
            let delta = [now[0] - then[0], now[1] - then[1], now[2] - then[2]];
            if delta != [0, 0, 0] {
                tables.insert(table.clone(), delta);
            }
        }
        let mut c = self.connect().await?;
        let wal_bytes: i64 =
            sqlx::query_scalar("SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint")
                .bind(&after.wal_lsn)
                .bind(&before.wal_lsn)
                .fetch_one(&mut c)
                .await?;
        Ok(Writes { tables, wal_bytes })
    }
}

/// The rows of some tables as `COPY … TO STDOUT` text, in an order their foreign keys
/// accept.
pub struct TableDump {
    tables: Vec<(String, String, Vec<u8>)>,
}

impl TableDump {
    pub async fn of(db: &FreshDatabase, tables: &BTreeSet<String>) -> anyhow::Result<TableDump> {
        let mut c = db.connect().await?;
        let mut dumped = Vec::new();
        for table in foreign_key_order(&mut c, tables).await? {
            // Generated columns cannot be copied in; identity columns can (COPY writes
            // the values given, as with OVERRIDING SYSTEM VALUE).
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT quote_ident(column_name::text) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                   AND is_generated = 'NEVER' ORDER BY ordinal_position",
            )
            .bind(&table)
            .fetch_all(&mut c)
            .await?;
            let columns = columns.join(", ");
            let mut data = Vec::new();
            let mut stream = c
                .copy_out_raw(&format!("COPY {table} ({columns}) TO STDOUT"))
                .await?;
            while let Some(chunk) = stream.try_next().await? {
                data.extend_from_slice(&chunk);
            }
            drop(stream);
            dumped.push((table, columns, data));
        }
        Ok(TableDump { tables: dumped })
    }

    pub fn bytes(&self) -> usize {
        self.tables.iter().map(|(_, _, d)| d.len()).sum()
    }

    /// Loads the rows into `db` with `COPY … FROM STDIN` in one transaction; the time
    /// it took, commit included.
    pub async fn copy_into(&self, db: &FreshDatabase) -> anyhow::Result<Duration> {
        let mut c = db.connect().await?;
        let started = Instant::now();
        let mut tx = c.begin().await?;
        for (table, columns, data) in &self.tables {
            let mut copy = tx
                .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
                .await?;
            copy.send(data.as_slice()).await?;
            copy.finish()
                .await
                .with_context(|| format!("COPY into {table}"))?;
        }
        tx.commit().await?;
        Ok(started.elapsed())
    }
}

async fn foreign_key_order(
    c: &mut PgConnection,
    tables: &BTreeSet<String>,
) -> anyhow::Result<Vec<String>> {
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, confrelid::regclass::text \
         FROM pg_constraint WHERE contype = 'f'",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut ordered: Vec<String> = Vec::new();
    let mut left: BTreeSet<String> = tables.clone();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                edges.iter().all(|(from, to)| {
                    from != *t || to == *t || !left.contains(to) || ordered.contains(to)
                })
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            bail!("the foreign keys among {left:?} form a cycle");
        }
        for t in ready {
            left.remove(&t);
            ordered.push(t);
        }
    }
    Ok(ordered)
}
