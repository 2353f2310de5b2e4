//! Load tests of the daemon (issue 7), run as real processes of the binary:
//!
//! - a fleet: many accounts, each its own sandbox, synced by several daemon processes that
//!   share one PostgreSQL database; one of them is killed (SIGKILL) half-way;
//! - a soak: one daemon on a short schedule against a sandbox whose orders keep changing.
//!
//! Their size comes from the environment; the defaults fit CI. `scripts/load-tests.sh`
//! runs the full size, and docs/load-tests.md keeps the figures of a full run.
//!
//! | variable | CI | full | |
//! | --- | --- | --- | --- |
//! | `FLEET_ACCOUNTS` | 200 | 200 | accounts, one sandbox each |
//! | `FLEET_ORDERS` | 30 | 30 | orders each sandbox starts with |
//! | `FLEET_INSTANCES` | 3 | 3 | daemon processes |
//! | `FLEET_SCHEDULE` | `*/10 * * * * *` | `0 * * * * *` | cron, seconds first |
//! | `FLEET_SECONDS` | 90 | 600 | how long the fleet runs |
//! | `FLEET_LEASE_TTL_SECS` | 6 | 60 | `daemon.lease_ttl_secs` |
//! | `SOAK_SECONDS` | 60 | 1800 | how long the soak runs |
//! | `SOAK_SCHEDULE_SECS` | 5 | 5 | the soak's schedule (a divisor of 60) |
//! | `SOAK_ORDERS` | 120 | 120 | orders the soak's sandbox starts with |
//! | `SOAK_MUTATION_MS` | 1000 | 1000 | one change to the sandbox's orders this often |

mod support;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use support::TestDb;
use sync1688::api1688::{Client1688, OrderFilter};
use sync1688::app::{Application, RunOnceOptions};
use sync1688::bench::ProcessMemory;
use sync1688::config::{Settings, Sources, parse_schedule};
use sync1688::domain::order::{Order1688, content_hash};
use sync1688::domain::window::SyncWindow;
use sync1688::sandbox::{self, NewOrder, OrderChange, SandboxConfig, SandboxHandle};

/// The schedules' time zone (`sync.timezone`'s default).
const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// Resident memory the soak's daemon may gain between the end of its warm-up and the end
/// of the run. glibc keeps freed memory in its per-thread arenas and tokio grows its
/// worker stacks and buffers on demand, which moves the resident set by a few MiB without
/// any leak; a leak of one order page (about 100 KiB of JSON and parsed orders) per round
/// would add 35 MiB over the full run's 360 rounds.
const SOAK_RSS_ALLOWANCE_KIB: u64 = 8 * 1024;

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{value}` is not a valid value")),
        _ => default,
    }
}

// ---------------------------------------------------------------------------------------
// The fleet
// ---------------------------------------------------------------------------------------

struct FleetSize {
    accounts: usize,
    orders: usize,
    instances: usize,
    schedule: String,
    seconds: u64,
    lease_ttl_secs: u64,
}

impl FleetSize {
    fn from_env() -> Self {
        let size = FleetSize {
            accounts: env_or("FLEET_ACCOUNTS", 200),
            orders: env_or("FLEET_ORDERS", 30),
            instances: env_or("FLEET_INSTANCES", 3),
            schedule: env_or("FLEET_SCHEDULE", "*/10 * * * * *".to_owned()),
            seconds: env_or("FLEET_SECONDS", 90),
            lease_ttl_secs: env_or("FLEET_LEASE_TTL_SECS", 6),
        };
        assert!(
            size.accounts >= 1 && size.instances >= 2,
            "a fleet needs two instances"
        );
        size
    }
}

/// Accounts spread over daemon processes on one database: each scheduled tick syncs each
/// account (no tick missed, never two runs of one account at the same time), every order
/// of every sandbox is stored once, and after one process is killed with SIGKILL the
/// accounts it was syncing are synced by another within the lease time plus one tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_spread_over_daemon_processes_are_synced_every_tick_one_at_a_time_and_a_killed_instances_accounts_are_taken_over()
 {
    let size = FleetSize::from_env();
    let db = TestDb::postgres().await;
    db.store().await; // migrated once, before the daemons race to do it
    let pool = pool(&db).await;
    let period = schedule_period(&size.schedule);
    let lease_ttl = Duration::from_secs(size.lease_ttl_secs);

    let prepared = Instant::now();
    let mut sandboxes = Vec::with_capacity(size.accounts);
    for i in 0..size.accounts {
        let config = SandboxConfig {
            orders: size.orders,
            days: 2,
            seed: 7_000 + i as u64,
            ..SandboxConfig::default()
        };
        sandboxes.push(
            sandbox::start(config, ([127, 0, 0, 1], 0).into())
                .await
                .expect("a sandbox starts"),
        );
    }
    let sandboxes = Arc::new(sandboxes);
    let accounts: String = sandboxes
        .iter()
        .enumerate()
        .map(|(i, sb)| account_toml(&account_name(i), sb))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut daemons = Vec::new();
    for i in 0..size.instances {
        let name = format!("fleet-{i}");
        let toml = format!(
            "{}{accounts}",
            daemon_toml(
                db.url(),
                &name,
                &dir.path().join(format!("state-{i}")),
                &size.schedule,
                size.lease_ttl_secs,
            )
        );
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, toml).unwrap();
        daemons.push(DaemonProcess::spawn(&name, &file));
    }
    for d in &mut daemons {
        d.wait_started(Duration::from_secs(120)).await;
    }
    let ready = Utc::now();
    let launched = Instant::now();
    eprintln!(
        "fleet: {} sandboxes and {} daemons ready in {:.1} s",
        size.accounts,
        size.instances,
        prepared.elapsed().as_secs_f64()
    );

    // New orders keep arriving while the fleet runs (until two ticks before the end, so
    // that the last of them is synced before the check).
    let inserting = Arc::new(AtomicBool::new(true));
    let inserted = Arc::new(AtomicU64::new(0));
    let inserter = tokio::spawn({
        let (sandboxes, inserting, inserted) =
            (sandboxes.clone(), inserting.clone(), inserted.clone());
        async move {
            let mut next = 0usize;
            while inserting.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(2)).await;
                sandboxes[next % sandboxes.len()].insert_order(NewOrder::new().with_lines(2));
                inserted.fetch_add(1, Ordering::Relaxed);
                next += 7;
            }
        }
    });

    // Half-way, kill the first instance in the middle of rounds: once it holds leases and
    // has begun runs under them (or has held leases for two seconds). It may have to wait
    // for a tick it wins, but not so long that the takeover has no time left to happen.
    tokio::time::sleep(Duration::from_secs(size.seconds / 2)).await;
    let victim_owner = format!("fleet-0:{}", daemons[0].pid());
    let kill_by =
        launched + Duration::from_secs(size.seconds).saturating_sub(lease_ttl + period * 2);
    let logged_before = daemons[0].log().run_ids.len();
    let mut holding_since: Option<Instant> = None;
    loop {
        let held = live_leases_of(&pool, &victim_owner).await.len();
        let begun = daemons[0].log().run_ids[logged_before..].to_vec();
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sync_runs WHERE status = 'running' AND id = ANY($1)",
        )
        .bind(&begun)
        .fetch_one(&pool)
        .await
        .unwrap();
        holding_since = if held == 0 {
            None
        } else {
            holding_since.or(Some(Instant::now()))
        };
        let mid_round = held > 0
            && (open > 0 || holding_since.is_some_and(|t| t.elapsed() > Duration::from_secs(2)));
        if mid_round || Instant::now() >= kill_by {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let victim_cpu = cpu_seconds(daemons[0].pid());
    let victim_rss = ProcessMemory::of(daemons[0].pid()).ok();
    daemons[0].kill();
    let killed_at = Utc::now();
    let killed_after = launched.elapsed();
    let held_at_kill: BTreeMap<String, DateTime<Utc>> = live_leases_of(&pool, &victim_owner)
        .await
        .into_iter()
        .collect();
    // Nobody else may run those accounts yet, so their open runs are the dead instance's.
    let open_at_kill: HashSet<i64> = sqlx::query_scalar(
        "SELECT id FROM sync_runs WHERE status = 'running' AND account = ANY($1)",
    )
    .bind(held_at_kill.keys().cloned().collect::<Vec<_>>())
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();

    let stop_inserting_at = Duration::from_secs(size.seconds).saturating_sub(period * 2);
    tokio::time::sleep(stop_inserting_at.saturating_sub(launched.elapsed())).await;
    inserting.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(size.seconds).saturating_sub(launched.elapsed())).await;
    inserter.await.unwrap();

    let mut usage = vec![(victim_cpu, victim_rss)];
    for d in &daemons[1..] {
        usage.push((cpu_seconds(d.pid()), ProcessMemory::of(d.pid()).ok()));
    }
    // Stopped between rounds: a SIGTERM in the middle of runs is another test's subject.
    let quiet_within = Instant::now() + period;
    while Instant::now() < quiet_within {
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sync_leases WHERE owner IS NOT NULL AND lease_until > now()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if live == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped_at = Utc::now();
    let mut stop_times = Vec::new();
    for d in &mut daemons[1..] {
        let signalled = Instant::now();
        let status = d.terminate(Duration::from_secs(30)).await;
        assert!(
            status.success(),
            "{} stopped with {status}: {}",
            d.name,
            d.tail()
        );
        stop_times.push(signalled.elapsed());
    }

    // Who ran what: the daemons log each run's id as it starts. A run the killed
    // instance began but had no time to log is its own, as the survivors' logs are
    // complete.
    let mut instance_of_run: HashMap<i64, usize> = HashMap::new();
    for (i, d) in daemons.iter().enumerate() {
        for id in d.log().run_ids.iter() {
            instance_of_run.insert(*id, i);
        }
    }
    let runs = all_runs(&pool).await;
    let unlogged = runs
        .iter()
        .filter(|r| !instance_of_run.contains_key(&r.id))
        .count();
    let rounds = rounds_of(&runs, |id| instance_of_run.get(&id).copied().unwrap_or(0));

    // Ticks: the first after all daemons were up and the last before they were stopped
    // are slack (start-up rounds, a round cut by the stop).
    let ticks = ticks_between(&size.schedule, ready - period_delta(period), stopped_at);
    let first_tick = *ticks
        .iter()
        .find(|t| **t > ready)
        .expect("a tick while running");
    let last_tick = *ticks.iter().rev().find(|t| **t < stopped_at).unwrap();
    let expected: Vec<DateTime<Utc>> = ticks
        .iter()
        .copied()
        .filter(|t| *t > first_tick && *t < last_tick)
        .collect();
    assert!(
        expected.len() >= 2,
        "FLEET_SECONDS is too short for the schedule: {} ticks to check",
        expected.len()
    );

    let mut problems = Vec::new();
    let mut rounds_per_account = Vec::new();
    let mut lags = Vec::new();
    let mut durations = Vec::new();
    let mut missed = 0usize;
    let mut duplicates = 0usize;
    let mut overlaps = 0usize;
    let mut rounds_per_instance = vec![0usize; size.instances];
    let mut tick_load: BTreeMap<(DateTime<Utc>, usize), usize> = BTreeMap::new();
    let mut takeover_held = Vec::new();
    let mut takeover_other = Vec::new();
    for i in 0..size.accounts {
        let account = account_name(i);
        let mine: Vec<&Round> = rounds.iter().filter(|r| r.account == account).collect();
        // Never two runs of one account at once, whichever instance ran them.
        let account_runs: Vec<&Run> = runs.iter().filter(|r| r.account == account).collect();
        for pair in account_runs.windows(2) {
            match pair[0].finished {
                Some(end) if end <= pair[1].started => {}
                end => {
                    overlaps += 1;
                    problems.push(format!(
                        "{account}: run {} ({} to {end:?}) overlaps run {} from {}",
                        pair[0].id, pair[0].started, pair[1].id, pair[1].started
                    ));
                }
            }
        }
        let mut per_tick: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
        for round in &mine {
            let tick = tick_at_or_before(&ticks, round.start);
            if expected.contains(&tick) {
                *per_tick.entry(tick).or_default() += 1;
                lags.push((round.start - tick).as_seconds_f64());
                // A round the kill cut short ends when the next one closes its runs.
                if let Some(end) = round.end.filter(|_| round.succeeded) {
                    durations.push((end - round.start).as_seconds_f64());
                }
                rounds_per_instance[round.instance] += 1;
                *tick_load.entry((tick, round.instance)).or_default() += 1;
            }
        }
        rounds_per_account.push(per_tick.values().sum::<usize>() as f64);
        duplicates += per_tick.values().map(|n| n - 1).sum::<usize>();
        // The killed instance's lease holds the account until it expires.
        let excused_until = held_at_kill.get(&account).copied();
        for tick in &expected {
            if !per_tick.contains_key(tick) && excused_until.is_none_or(|until| *tick > until) {
                missed += 1;
                problems.push(format!("{account}: no round for the tick at {tick}"));
            }
        }
        // Takeover: the next round after the kill, for the accounts the killed instance
        // held then or had synced last.
        let last_before_kill = mine.iter().rev().find(|r| r.start < killed_at);
        let next_after_kill = mine.iter().find(|r| r.start >= killed_at);
        let held = held_at_kill.contains_key(&account);
        if held || last_before_kill.is_some_and(|r| r.instance == 0) {
            match next_after_kill {
                Some(next) if next.instance == 0 => {
                    problems.push(format!(
                        "{account}: a round of the killed instance after the kill"
                    ));
                }
                Some(next) => {
                    let delay = (next.start - killed_at).as_seconds_f64();
                    if held {
                        takeover_held.push(delay);
                    } else {
                        takeover_other.push(delay);
                    }
                }
                None => problems.push(format!("{account}: never synced after the kill")),
            }
        }
    }

    // Every order of every sandbox, stored exactly once.
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT account, order_id_1688 FROM purchase_orders")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut stored_by_account: HashMap<&str, Vec<i64>> = HashMap::new();
    for (account, id) in &stored {
        stored_by_account.entry(account).or_default().push(*id);
    }
    let mut expected_orders = 0usize;
    let mut missing_orders = 0usize;
    let mut twice = 0usize;
    for (i, sb) in sandboxes.iter().enumerate() {
        let account = account_name(i);
        let want: HashSet<i64> = sb.order_ids().into_iter().collect();
        let have = stored_by_account
            .get(account.as_str())
            .cloned()
            .unwrap_or_default();
        let have_set: HashSet<i64> = have.iter().copied().collect();
        expected_orders += want.len();
        twice += have.len() - have_set.len();
        let missing = want.difference(&have_set).count();
        missing_orders += missing;
        if missing > 0 || have_set.len() != want.len() {
            problems.push(format!(
                "{account}: {} of {} orders stored ({missing} missing)",
                have_set.len(),
                want.len()
            ));
        }
    }
    let failed: Vec<&Run> = runs.iter().filter(|r| r.status == "failed").collect();
    let interrupted = failed
        .iter()
        .filter(|r| {
            open_at_kill.contains(&r.id)
                && r.error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("interrupted:"))
        })
        .count();
    // Should a tick have slipped in just before the SIGTERM, its runs stop as designed.
    let by_shutdown = failed
        .iter()
        .filter(|r| {
            r.started >= stopped_at - TimeDelta::seconds(1)
                && r.error.as_deref() == Some("interrupted by shutdown")
        })
        .count();
    let running = runs.iter().filter(|r| r.status == "running").count();

    // How evenly a tick's rounds were spread: the busiest instance's share of each tick.
    let mut busiest: BTreeMap<DateTime<Utc>, (usize, usize)> = BTreeMap::new();
    for ((tick, _), n) in &tick_load {
        let (most, all) = busiest.entry(*tick).or_default();
        *most = (*most).max(*n);
        *all += n;
    }
    let busiest_share = Summary::of(
        busiest
            .values()
            .map(|(most, all)| 100.0 * *most as f64 / *all as f64)
            .collect(),
    );

    // The figures.
    let rounds_summary = Summary::of(rounds_per_account.clone());
    let lag = Summary::of(lags);
    let duration = Summary::of(durations);
    eprintln!();
    eprintln!(
        "fleet: {} accounts × {} orders, {} daemon processes, schedule `{}`, lease {} s, {} s",
        size.accounts,
        size.orders,
        size.instances,
        size.schedule,
        size.lease_ttl_secs,
        size.seconds
    );
    row("ticks checked per account", expected.len().to_string());
    row(
        "rounds per account (min/median/max)",
        format!(
            "{:.0} / {:.0} / {:.0}",
            rounds_summary.min, rounds_summary.median, rounds_summary.max
        ),
    );
    row("ticks missed", missed.to_string());
    row(
        "extra rounds in a tick already synced",
        duplicates.to_string(),
    );
    row("schedule lag, s (median/p99/max)", lag.seconds());
    row("round duration, s (median/p99/max)", duration.seconds());
    row(
        "runs overlapping another of their account",
        overlaps.to_string(),
    );
    row(
        "rounds per instance",
        rounds_per_instance
            .iter()
            .enumerate()
            .map(|(i, n)| format!("fleet-{i}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    row(
        "busiest instance's share of a tick, % (min/median/max)",
        format!(
            "{:.0} / {:.0} / {:.0}",
            busiest_share.min, busiest_share.median, busiest_share.max
        ),
    );
    row(
        "fleet-0 killed (SIGKILL) after",
        format!(
            "{:.1} s, holding {} leases",
            killed_after.as_secs_f64(),
            held_at_kill.len()
        ),
    );
    row(
        "takeover of its held accounts, s (max)",
        format!(
            "{} (bound: lease {} s + one tick {} s)",
            max_text(&takeover_held),
            size.lease_ttl_secs,
            period.as_secs()
        ),
    );
    row(
        "next round of accounts it synced last, s (max)",
        format!(
            "{} over {} accounts",
            max_text(&takeover_other),
            takeover_other.len()
        ),
    );
    row("runs it began without logging them", unlogged.to_string());
    row(
        "orders stored / in the sandboxes",
        format!(
            "{} / {} ({} added during the run), {} twice, {} missing",
            stored.len(),
            expected_orders,
            inserted.load(Ordering::Relaxed),
            twice,
            missing_orders
        ),
    );
    row(
        "failed runs",
        format!(
            "{} ({interrupted} of the {} open at the kill, {by_shutdown} by the final SIGTERM)",
            failed.len(),
            open_at_kill.len()
        ),
    );
    for (i, (cpu, rss)) in usage.iter().enumerate() {
        let d = &daemons[i];
        let log = d.log();
        row(
            &format!("fleet-{i}: CPU s, RSS MiB, log warnings/errors"),
            format!(
                "{:.1}, {}, {}/{}{}",
                cpu.unwrap_or(f64::NAN),
                rss.map(|m| format!("{:.1}", m.rss_mib()))
                    .unwrap_or_else(|| "-".into()),
                log.warn_count,
                log.error_count,
                if i == 0 { " (killed)" } else { "" }
            ),
        );
    }
    row(
        "SIGTERM to exit, s",
        stop_times
            .iter()
            .map(|t| format!("{:.1}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &failed {
        *reasons.entry(r.error.as_deref().unwrap_or("")).or_default() += 1;
    }
    for (reason, n) in &reasons {
        eprintln!("  failed {n} ×: {reason}");
    }
    for p in problems.iter().take(20) {
        eprintln!("  problem: {p}");
    }
    for (i, d) in daemons.iter().enumerate() {
        let log = d.log();
        for line in log.errors.iter().chain(&log.warnings).take(5) {
            eprintln!("  fleet-{i} logged: {line}");
        }
    }

    assert_eq!(overlaps, 0, "two runs of one account at once");
    assert_eq!(missed, 0, "ticks without a round");
    assert_eq!(missing_orders + twice, 0, "orders missing or stored twice");
    assert!(
        problems.is_empty(),
        "{} problems, e.g. {}",
        problems.len(),
        problems[0]
    );
    assert_eq!(running, 0, "every run was closed");
    assert_eq!(
        interrupted,
        open_at_kill.len(),
        "the runs the kill cut short are closed as interrupted"
    );
    assert_eq!(
        failed.len(),
        interrupted + by_shutdown,
        "the only failed runs are those the kill interrupted: {:?}",
        failed.iter().map(|r| &r.error).collect::<Vec<_>>()
    );
    let bound = (lease_ttl + period).as_secs_f64() + 2.0;
    assert!(
        takeover_held.iter().all(|d| *d <= bound),
        "held accounts taken over within {bound} s: {takeover_held:?}"
    );
    let one_tick = period.as_secs_f64() + 2.0;
    assert!(
        takeover_other.iter().all(|d| *d <= one_tick),
        "accounts of the killed instance synced at the next tick: {takeover_other:?}"
    );
    for (i, d) in daemons.iter().enumerate().skip(1) {
        assert_eq!(
            d.log().error_count,
            0,
            "fleet-{i} logged errors: {:?}",
            d.log().errors
        );
    }
}

fn account_name(i: usize) -> String {
    format!("acct{i:03}")
}

// ---------------------------------------------------------------------------------------
// The soak
// ---------------------------------------------------------------------------------------

struct SoakSize {
    seconds: u64,
    schedule_secs: u64,
    orders: usize,
    mutation_every: Duration,
}

impl SoakSize {
    fn from_env() -> Self {
        let size = SoakSize {
            seconds: env_or("SOAK_SECONDS", 60),
            schedule_secs: env_or("SOAK_SCHEDULE_SECS", 5),
            orders: env_or("SOAK_ORDERS", 120),
            mutation_every: Duration::from_millis(env_or("SOAK_MUTATION_MS", 1000)),
        };
        assert!(
            size.schedule_secs > 0 && 60 % size.schedule_secs == 0,
            "SOAK_SCHEDULE_SECS must divide a minute"
        );
        size
    }
}

/// One daemon process on a short schedule while the sandbox's orders keep changing (paid,
/// repriced, requantified, completed, cancelled, new ones): its resident memory stays
/// flat, no run fails, no tick is missed, and once the changes stop, one more round
/// leaves every order in the database exactly as 1688 has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_on_a_short_schedule_against_changing_orders_keeps_its_memory_flat_fails_no_run_and_ends_with_every_change()
 {
    let size = SoakSize::from_env();
    let db = TestDb::postgres().await;
    let pool = pool(&db).await;
    let schedule = format!("*/{} * * * * *", size.schedule_secs);
    let period = Duration::from_secs(size.schedule_secs);
    // Orders over six days while the rolling window covers three: changes to the older
    // half reach the database only through change tracking.
    let sandbox = Arc::new(
        sandbox::start(
            SandboxConfig {
                orders: size.orders,
                days: 6,
                seed: 4_242,
                ..SandboxConfig::default()
            },
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}{}",
        daemon_toml(db.url(), "soak", &dir.path().join("state"), &schedule, 60),
        account_toml("main", &sandbox)
    );
    let file = dir.path().join("soak.toml");
    std::fs::write(&file, &toml).unwrap();

    // The history first, as `run --from` would bring it in before the daemon starts.
    let settings = Settings::load(&Sources::inline(toml.clone())).unwrap();
    {
        let app = Application::build(settings.clone()).await.unwrap();
        let today = Utc::now().with_timezone(&TZ).date_naive();
        let reports = app
            .run_once(&RunOnceOptions {
                from: Some(today - chrono::Days::new(8)),
                to: Some(today),
                ..RunOnceOptions::default()
            })
            .await
            .unwrap();
        assert!(reports.iter().all(|r| r.succeeded()), "{reports:?}");
    }
    let backfilled = db
        .scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
        .await;
    assert_eq!(backfilled as usize, size.orders);

    let mut daemon = DaemonProcess::spawn("soak", &file);
    daemon.wait_started(Duration::from_secs(60)).await;
    let started_at = Utc::now();
    let launched = Instant::now();

    let mutating = Arc::new(AtomicBool::new(true));
    let mutator = tokio::spawn(mutate(
        sandbox.clone(),
        size.mutation_every,
        mutating.clone(),
    ));

    // Resident memory every two seconds; the start is taken after a warm-up (the first
    // rounds fill the connection pool, the HTTP client and the allocator's arenas).
    let warm_up = Duration::from_secs((3 * size.schedule_secs).max(60))
        .min(Duration::from_secs(size.seconds / 4));
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut start_rss = None;
    while launched.elapsed() < Duration::from_secs(size.seconds) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let memory = ProcessMemory::of(daemon.pid())
            .unwrap_or_else(|e| panic!("the daemon is gone ({e}): {}", daemon.tail()));
        let at = launched.elapsed();
        samples.push((at.as_secs_f64(), memory.rss_kib));
        if start_rss.is_none() && at >= warm_up {
            start_rss = Some(memory.rss_kib);
        }
    }
    let (end_at, end_rss) = *samples.last().unwrap();
    let start_rss = start_rss.expect("a sample after the warm-up");
    let after_warm_up: Vec<(f64, u64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= warm_up.as_secs_f64())
        .collect();
    let max_rss = after_warm_up.iter().map(|s| s.1).max().unwrap();
    let slope_kib_per_min = slope(&after_warm_up) * 60.0;
    let peak = ProcessMemory::of(daemon.pid()).unwrap().peak_rss_kib;
    let cpu = cpu_seconds(daemon.pid());

    // Stop changing, then wait for a round that began after the last change.
    mutating.store(false, Ordering::Relaxed);
    let mutations = mutator.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let quiet_since: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let waited = Instant::now();
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sync_runs c WHERE c.kind = 'changes' AND c.finished_at IS NOT NULL
               AND c.started_at > (SELECT MIN(w.started_at) FROM sync_runs w
                                   WHERE w.kind = 'window' AND w.started_at > $1)",
        )
        .bind(quiet_since)
        .fetch_one(&pool)
        .await
        .unwrap();
        if done > 0 {
            break;
        }
        assert!(
            waited.elapsed() < period * 3 + Duration::from_secs(30),
            "no round after the changes stopped: {}",
            daemon.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stopped_at = Utc::now();

    // What 1688 has now, read through the client, against what the database holds.
    let sandbox_orders = every_order(&settings, &sandbox).await;
    let mismatches = compare_with_database(&pool, &sandbox_orders).await;

    let status = daemon.terminate(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "the daemon stopped with {status}: {}",
        daemon.tail()
    );
    let runs = all_runs(&pool).await;
    let rounds = rounds_of(&runs, |_| 0);
    let ticks = ticks_between(&schedule, started_at - period_delta(period), stopped_at);
    let first_tick = *ticks.iter().find(|t| **t > started_at).unwrap();
    let last_tick = *ticks.iter().rev().find(|t| **t < stopped_at).unwrap();
    let mut covered: HashSet<DateTime<Utc>> = HashSet::new();
    let mut lags = Vec::new();
    let mut durations = Vec::new();
    for round in rounds.iter().filter(|r| r.start > started_at) {
        let tick = tick_at_or_before(&ticks, round.start);
        covered.insert(tick);
        if tick <= first_tick || tick >= last_tick {
            continue;
        }
        lags.push((round.start - tick).as_seconds_f64());
        if let Some(end) = round.end.filter(|_| round.succeeded) {
            durations.push((end - round.start).as_seconds_f64());
        }
    }
    let missed: Vec<DateTime<Utc>> = ticks
        .iter()
        .copied()
        .filter(|t| *t > first_tick && *t < last_tick && !covered.contains(t))
        .collect();
    let failed: Vec<&Run> = runs.iter().filter(|r| r.status != "succeeded").collect();
    let (by_window, by_changes): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(orders_updated) FILTER (WHERE kind = 'window'), 0)::bigint,
                COALESCE(SUM(orders_updated) FILTER (WHERE kind = 'changes'), 0)::bigint
         FROM sync_runs WHERE started_at > $1",
    )
    .bind(started_at)
    .fetch_one(&pool)
    .await
    .unwrap();
    let log = daemon.log();

    let lag = Summary::of(lags);
    let duration = Summary::of(durations);
    eprintln!();
    eprintln!(
        "soak: one daemon, schedule `{schedule}`, {} s, {} orders at the start, a change every {} ms",
        size.seconds,
        size.orders,
        size.mutation_every.as_millis()
    );
    row(
        "rounds / ticks missed",
        format!(
            "{} / {}",
            rounds.iter().filter(|r| r.start > started_at).count(),
            missed.len()
        ),
    );
    row(
        "changes made / orders added",
        format!("{} / {}", mutations.changes, mutations.inserted),
    );
    row(
        "orders updated by window runs / by change runs",
        format!("{by_window} / {by_changes}"),
    );
    row("schedule lag, s (median/p99/max)", lag.seconds());
    row("round duration, s (median/p99/max)", duration.seconds());
    row(
        "RSS MiB: start (after warm-up) / max / end",
        format!(
            "{:.1} (at {} s) / {:.1} / {:.1} (at {:.0} s)",
            start_rss as f64 / 1024.0,
            warm_up.as_secs(),
            max_rss as f64 / 1024.0,
            end_rss as f64 / 1024.0,
            end_at
        ),
    );
    row(
        "RSS trend after warm-up, KiB/min",
        format!("{slope_kib_per_min:+.1}"),
    );
    row(
        "peak RSS (VmHWM), MiB",
        format!("{:.1}", peak as f64 / 1024.0),
    );
    row("CPU, s", format!("{:.1}", cpu.unwrap_or(f64::NAN)));
    row(
        "orders compared / differing",
        format!("{} / {}", sandbox_orders.len(), mismatches.len()),
    );
    row(
        "failed runs / log warnings / log errors",
        format!(
            "{} / {} / {}",
            failed.len(),
            log.warn_count,
            log.error_count
        ),
    );
    for m in mismatches.iter().take(10) {
        eprintln!("  differs: {m}");
    }
    for line in log.errors.iter().chain(&log.warnings).take(5) {
        eprintln!("  logged: {line}");
    }

    assert!(
        failed.is_empty(),
        "runs failed: {:?}",
        failed.iter().map(|r| &r.error).collect::<Vec<_>>()
    );
    assert_eq!(log.error_count, 0, "errors logged: {:?}", log.errors);
    assert!(missed.is_empty(), "ticks without a round: {missed:?}");
    assert!(mismatches.is_empty(), "{} orders differ", mismatches.len());
    assert_eq!(
        sandbox_orders.len(),
        size.orders + mutations.inserted as usize,
        "every order, the added ones too"
    );
    assert!(
        end_rss <= start_rss + SOAK_RSS_ALLOWANCE_KIB,
        "resident memory grew from {start_rss} KiB to {end_rss} KiB"
    );
}

struct Mutations {
    changes: u64,
    inserted: u64,
}

/// Changes one order (or adds one) every `every` until `go` turns false, cycling through
/// what buyers and sellers do on 1688. Orders are picked by a fixed-seed generator, so a
/// run is repeatable up to timing.
async fn mutate(sandbox: Arc<SandboxHandle>, every: Duration, go: Arc<AtomicBool>) -> Mutations {
    let mut ids = sandbox.order_ids();
    let mut done = Mutations {
        changes: 0,
        inserted: 0,
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut step = 0u64;
    while go.load(Ordering::Relaxed) {
        tick.tick().await;
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let id = ids[(state >> 33) as usize % ids.len()];
        let k = (state >> 20) as u32;
        let change = match step % 12 {
            0 => OrderChange::Pay,
            1 => OrderChange::SetPrice {
                line: 0,
                price: Decimal::new(100 + i64::from(k % 9_900), 2),
            },
            2 => OrderChange::SetQuantity {
                line: 0,
                quantity: 1 + k % 20,
            },
            3 => OrderChange::SetShippingFee(Decimal::new(i64::from(k % 30) * 50, 2)),
            4 => OrderChange::SetDiscount(-i64::from(k % 500)),
            5 => OrderChange::Status("waitbuyerreceive".into()),
            6 => OrderChange::Complete,
            7 => OrderChange::Touch,
            8 => OrderChange::Cancel,
            9 => OrderChange::Terminate,
            10 => OrderChange::SetRefundStatus(Some("waitselleragree".into())),
            _ => {
                ids.push(sandbox.insert_order(NewOrder::new().with_lines(1 + (k % 3) as usize)));
                done.inserted += 1;
                step += 1;
                continue;
            }
        };
        sandbox.modify_order(id, change);
        done.changes += 1;
        step += 1;
    }
    done
}

/// Every order the sandbox lists, read with the daemon's own client.
async fn every_order(settings: &Settings, sandbox: &SandboxHandle) -> Vec<Order1688> {
    let client = Client1688::new(&settings.accounts[0], &settings.api, None).unwrap();
    let window = SyncWindow {
        start: sandbox.now() - TimeDelta::days(10),
        end: sandbox.now() + TimeDelta::minutes(1),
    };
    let mut orders = Vec::new();
    for page in 1.. {
        let list = client
            .buyer_order_list(OrderFilter::Created(window), false, page, 50, None)
            .await
            .unwrap();
        let n = list.orders.len();
        orders.extend(list.orders.into_iter().map(|o| o.unwrap()));
        if n < 50 {
            break;
        }
    }
    orders
}

/// The differences between 1688's orders and the purchase orders synced from them:
/// status, amounts, each line's quantity, price, amount and status, and the content hash
/// that covers every other field sync keeps.
async fn compare_with_database(pool: &PgPool, orders: &[Order1688]) -> Vec<String> {
    type OrderRow = (
        i64,
        Option<String>,
        Option<Decimal>,
        Option<Decimal>,
        Option<Decimal>,
        Option<Decimal>,
        Option<String>,
    );
    type LineRow = (i64, Option<i64>, Decimal, Decimal, Decimal, Option<String>);
    let rows: Vec<OrderRow> = sqlx::query_as(
        "SELECT order_id_1688, status_1688, goods_amount, shipping_fee, discount, total_amount,
                content_hash
         FROM purchase_orders WHERE account = 'main'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT po.order_id_1688, l.sub_item_id_1688, l.quantity, l.unit_price, l.amount,
                l.status_1688
         FROM purchase_order_lines l JOIN purchase_orders po ON po.id = l.purchase_order_id
         WHERE po.account = 'main' ORDER BY po.order_id_1688, l.line_no",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let by_id: HashMap<i64, &OrderRow> = rows.iter().map(|r| (r.0, r)).collect();
    let mut lines_of: HashMap<i64, Vec<&LineRow>> = HashMap::new();
    for l in &lines {
        lines_of.entry(l.0).or_default().push(l);
    }
    let mut out = Vec::new();
    if rows.len() != orders.len() {
        out.push(format!(
            "{} purchase orders for {} orders on 1688",
            rows.len(),
            orders.len()
        ));
    }
    for o in orders {
        let id = o.order_id;
        let Some(row) = by_id.get(&id) else {
            out.push(format!("{id}: not in the database"));
            continue;
        };
        let (_, status, goods, shipping, discount, total, hash) = row;
        if status.as_deref() != Some(o.status.as_str()) {
            out.push(format!("{id}: status {status:?}, 1688 {}", o.status));
        }
        for (what, have, want) in [
            ("goods", goods, o.goods_amount),
            ("shipping", shipping, o.shipping_fee),
            ("discount", discount, o.discount),
            ("total", total, o.total_amount),
        ] {
            if *have != Some(want) {
                out.push(format!("{id}: {what} {have:?}, 1688 {want}"));
            }
        }
        let have_lines = lines_of.get(&id).cloned().unwrap_or_default();
        if have_lines.len() != o.lines.len() {
            out.push(format!(
                "{id}: {} lines, 1688 {}",
                have_lines.len(),
                o.lines.len()
            ));
        }
        for (have, want) in have_lines.iter().zip(&o.lines) {
            let (_, sub_item, quantity, price, amount, line_status) = have;
            if *sub_item != Some(want.sub_item_id)
                || *quantity != want.quantity
                || *price != want.unit_price
                || *amount != want.amount
                || *line_status != want.status
            {
                out.push(format!(
                    "{id}: line {sub_item:?} {quantity} × {price} = {amount} {line_status:?}, \
                     1688 {} {} × {} = {} {:?}",
                    want.sub_item_id, want.quantity, want.unit_price, want.amount, want.status
                ));
            }
        }
        if hash.as_deref() != Some(content_hash(o).as_str()) {
            out.push(format!("{id}: content hash differs"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Daemon processes
// ---------------------------------------------------------------------------------------

/// The configuration of one daemon process: the production defaults (API timeouts and
/// retries, five database connections) but for the schedule, the lease and the JSON log
/// the test reads; accounts are appended to it.
fn daemon_toml(
    db_url: &str,
    instance: &str,
    state_dir: &Path,
    schedule: &str,
    lease_ttl_secs: u64,
) -> String {
    std::fs::create_dir_all(state_dir).unwrap();
    format!(
        "[database]\nurl = \"{db_url}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [sync]\nschedule = \"{schedule}\"\n\
         [daemon]\nlease_ttl_secs = {lease_ttl_secs}\nshutdown_grace_secs = 10\n\
         instance_id = \"{instance}\"\nstate_dir = \"{}\"\n\
         [log]\nformat = \"json\"\n",
        state_dir.display()
    )
}

fn account_toml(name: &str, sandbox: &SandboxHandle) -> String {
    let c = sandbox.config();
    format!(
        "\n[[accounts]]\nname = \"{name}\"\napp_key = \"{}\"\napp_secret = \"{}\"\n\
         refresh_token = \"{}\"\napi_base = \"{}\"\ndefault_warehouse = \"MAIN\"\n",
        c.app_key,
        c.app_secret,
        c.refresh_token,
        sandbox.base_url()
    )
}

/// What a daemon's JSON log said, read as it is written (so that the pipe never fills).
#[derive(Default)]
struct LogTally {
    started: bool,
    /// `sync_runs.id` of every run it began.
    run_ids: Vec<i64>,
    warn_count: usize,
    error_count: usize,
    warnings: Vec<String>,
    errors: Vec<String>,
    tail: VecDeque<String>,
}

impl LogTally {
    fn take(&mut self, line: String) {
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(event) => {
                let message = event["message"].as_str().unwrap_or_default();
                if message == "sync1688 daemon started" {
                    self.started = true;
                }
                if message == "sync run started"
                    && let Some(id) = event["run_id"].as_i64()
                {
                    self.run_ids.push(id);
                }
                match event["level"].as_str() {
                    Some("ERROR") => {
                        self.error_count += 1;
                        if self.errors.len() < 20 {
                            self.errors.push(line.clone());
                        }
                    }
                    Some("WARN") => {
                        self.warn_count += 1;
                        if self.warnings.len() < 20 {
                            self.warnings.push(line.clone());
                        }
                    }
                    _ => {}
                }
            }
            // Not an event: a panic message or the like.
            Err(_) => {
                self.error_count += 1;
                if self.errors.len() < 20 {
                    self.errors.push(line.clone());
                }
            }
        }
        if self.tail.len() == 30 {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// `sync1688 --config FILE run`, killed if the test ends without stopping it.
struct DaemonProcess {
    name: String,
    child: Child,
    log: Arc<Mutex<LogTally>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl DaemonProcess {
    fn spawn(name: &str, config: &Path) -> DaemonProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sync1688"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("SYNC1688_CONFIG")
            .env("RUST_LOG", "warn,sync1688::sync=info,sync1688::daemon=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the daemon binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(LogTally::default()));
        let reader = std::thread::spawn({
            let log = log.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().take(line);
                }
            }
        });
        DaemonProcess {
            name: name.to_owned(),
            child,
            log,
            reader: Some(reader),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, LogTally> {
        self.log.lock().unwrap()
    }

    fn tail(&self) -> String {
        self.log()
            .tail
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn wait_started(&mut self, within: Duration) {
        let waited = Instant::now();
        while !self.log().started {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.join_reader();
                panic!("{} exited with {status}: {}", self.name, self.tail());
            }
            assert!(
                waited.elapsed() < within,
                "{} did not start within {within:?}: {}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to release leases or close runs.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.join_reader();
    }

    /// SIGTERM, as systemd stops the service; the exit status once it has stopped.
    async fn terminate(&mut self, within: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let waited = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.join_reader();
                return status;
            }
            assert!(
                waited.elapsed() < within,
                "{} did not stop within {within:?} of SIGTERM: {}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time (user and system) a process has used, from `/proc/<pid>/stat`, whose clock
/// ticks are USER_HZ, 100 a second on Linux.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

// ---------------------------------------------------------------------------------------
// Runs, rounds and ticks
// ---------------------------------------------------------------------------------------

async fn pool(db: &TestDb) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(db.url())
        .await
        .expect("the test database answers")
}

struct Run {
    id: i64,
    account: String,
    kind: String,
    status: String,
    started: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
    error: Option<String>,
}

async fn all_runs(pool: &PgPool) -> Vec<Run> {
    type RunRow = (
        i64,
        String,
        String,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<String>,
    );
    let rows: Vec<RunRow> = sqlx::query_as(
        "SELECT id, account, kind, status, started_at, finished_at, error
         FROM sync_runs ORDER BY account, started_at, id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(
            |(id, account, kind, status, started, finished, error)| Run {
                id,
                account,
                kind,
                status,
                started,
                finished,
                error,
            },
        )
        .collect()
}

/// One scheduled round of one account: its window run and the changes run after it.
struct Round {
    account: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    instance: usize,
    succeeded: bool,
}

/// Rounds from runs ordered by account and start; backfills are no rounds.
fn rounds_of(runs: &[Run], instance_of: impl Fn(i64) -> usize) -> Vec<Round> {
    let mut rounds: Vec<Round> = Vec::new();
    for run in runs {
        match run.kind.as_str() {
            "window" => rounds.push(Round {
                account: run.account.clone(),
                start: run.started,
                end: run.finished,
                instance: instance_of(run.id),
                succeeded: run.status == "succeeded",
            }),
            "changes" => {
                if let Some(round) = rounds.last_mut()
                    && round.account == run.account
                {
                    round.end = run.finished;
                    round.succeeded &= run.status == "succeeded";
                }
            }
            _ => {}
        }
    }
    rounds
}

/// The schedule's ticks after `from` up to `to`.
fn ticks_between(schedule: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    // croner carries the start's fraction of a second into the ticks it yields.
    parse_schedule(schedule)
        .unwrap()
        .iter_after(from.trunc_subsecs(0).with_timezone(&TZ))
        .map(|t| t.with_timezone(&Utc))
        .take_while(|t| *t <= to)
        .collect()
}

/// The shortest gap between the schedule's next few ticks.
fn schedule_period(schedule: &str) -> Duration {
    let ticks: Vec<_> = parse_schedule(schedule)
        .unwrap()
        .iter_after(Utc::now().trunc_subsecs(0).with_timezone(&TZ))
        .take(4)
        .collect();
    ticks
        .windows(2)
        .map(|w| (w[1] - w[0]).to_std().unwrap())
        .min()
        .unwrap()
}

fn period_delta(period: Duration) -> TimeDelta {
    TimeDelta::from_std(period).unwrap()
}

/// The tick that woke a round which started at `at`.
fn tick_at_or_before(ticks: &[DateTime<Utc>], at: DateTime<Utc>) -> DateTime<Utc> {
    let after = ticks.partition_point(|t| *t <= at);
    ticks[after.saturating_sub(1)]
}

async fn live_leases_of(pool: &PgPool, owner: &str) -> Vec<(String, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT account, lease_until FROM sync_leases WHERE owner = $1 AND lease_until > now()",
    )
    .bind(owner)
    .fetch_all(pool)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------

struct Summary {
    min: f64,
    median: f64,
    p99: f64,
    max: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Summary {
        if values.is_empty() {
            return Summary {
                min: f64::NAN,
                median: f64::NAN,
                p99: f64::NAN,
                max: f64::NAN,
            };
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Summary {
            min: values[0],
            median: at(0.5),
            p99: at(0.99),
            max: values[values.len() - 1],
        }
    }

    fn seconds(&self) -> String {
        format!("{:.2} / {:.2} / {:.2}", self.median, self.p99, self.max)
    }
}

fn max_text(values: &[f64]) -> String {
    values
        .iter()
        .copied()
        .reduce(f64::max)
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "-".into())
}

fn row(label: &str, value: String) {
    eprintln!("  {label:<48} {value}");
}

/// Least-squares slope of (seconds, KiB) samples, KiB per second.
fn slope(samples: &[(f64, u64)]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    let cov: f64 = samples
        .iter()
        .map(|s| (s.0 - mean_t) * (s.1 as f64 - mean_y))
        .sum();
    let var: f64 = samples.iter().map(|s| (s.0 - mean_t).powi(2)).sum();
    if var == 0.0 { 0.0 } else { cov / var }
}
