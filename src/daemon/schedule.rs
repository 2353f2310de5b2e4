//! When accounts are synced: cron ticks (tokio-cron-scheduler, in `sync.timezone`) wake
//! one worker per account. The worker runs one round at a time; ticks that arrive while a
//! round runs, or while the daemon was down, collapse into a single next round.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;

/// Runs `round` each time `trigger` fires, never two at once. `Notify` keeps at most one
/// pending wake-up, which is exactly the coalescing we want.
pub async fn account_loop<F, Fut>(trigger: Arc<Notify>, shutdown: CancellationToken, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = trigger.notified() => {}
        }
        if shutdown.is_cancelled() {
            return;
        }
        round().await;
    }
}

/// How long after a tick the workers it woke claim their accounts. The scheduler polls
/// twice a second, each process at its own phase, so one tick wakes the instances up to
/// half a second apart; the instance that polled first then claimed every account of the
/// tick, and a fleet ran all its accounts on one instance while the others idled. Claiming
/// at one instant after the tick, the same on every instance, makes each lease a fair race.
pub const CLAIM_AFTER_TICK: Duration = Duration::from_millis(600);

/// When a worker woken at `now` claims its account: [`CLAIM_AFTER_TICK`] after the tick
/// at or before `now`; `None` once that has passed (a late wake-up, the start-up round).
pub fn claim_instant(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Ticks are whole seconds; croner would carry `now`'s fraction into the one it finds.
    let tick = cron
        .find_previous_occurrence(&now.trunc_subsecs(0).with_timezone(&tz), true)
        .ok()?;
    let at = tick.with_timezone(&Utc) + TimeDelta::from_std(CLAIM_AFTER_TICK).ok()?;
    (at > now).then_some(at)
}

/// Waits for the claim instant of the tick that just woke the worker; false if the daemon
/// is stopping meanwhile.
pub async fn until_claim_instant(
    cron: Option<&Cron>,
    tz: Tz,
    shutdown: &CancellationToken,
) -> bool {
    let now = Utc::now();
    let Some(wait) = cron
        .and_then(|c| claim_instant(c, tz, now))
        .and_then(|at| (at - now).to_std().ok())
    else {
        return !shutdown.is_cancelled();
    };
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// The cron side: one job per schedule whose only work is to wake the workers of the
/// accounts on it, so that the scheduler's own lack of overlap protection and of draining
/// at shutdown do not matter.
pub struct Ticker {
    scheduler: JobScheduler,
}

impl Ticker {
    pub async fn start(
        schedules: Vec<(String, Arc<Notify>)>,
        tz: Tz,
    ) -> Result<Self, JobSchedulerError> {
        // Accounts share a job per expression: the scheduler reports every job run on a
        // broadcast channel of 200 slots, and 200 accounts ticking at once overflowed it
        // (an ERROR `Lagged` in the log at every tick).
        let mut by_expression: BTreeMap<String, Vec<Arc<Notify>>> = BTreeMap::new();
        for (expression, trigger) in schedules {
            by_expression.entry(expression).or_default().push(trigger);
        }
        let scheduler = JobScheduler::new().await?;
        for (expression, triggers) in by_expression {
            let triggers = Arc::new(triggers);
            let job = Job::new_async_tz(expression.as_str(), tz, move |_id, _scheduler| {
                let triggers = triggers.clone();
                Box::pin(async move {
                    for trigger in triggers.iter() {
                        trigger.notify_one();
                    }
                })
            })?;
            scheduler.add(job).await?;
        }
        scheduler.start().await?;
        Ok(Ticker { scheduler })
    }

    pub async fn stop(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "the cron scheduler did not stop cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Ticks every minute, rounds that take 150 s: never two rounds at once, and the
    /// ticks missed during a round become one round, not a backlog.
    #[tokio::test(start_paused = true)]
    async fn rounds_never_overlap_and_missed_ticks_coalesce_into_one() {
        let trigger = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let running = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let rounds = Arc::new(AtomicUsize::new(0));
        let worker = tokio::spawn(account_loop(trigger.clone(), shutdown.clone(), {
            let (running, most_at_once, rounds) =
                (running.clone(), most_at_once.clone(), rounds.clone());
            move || {
                let (running, most_at_once, rounds) =
                    (running.clone(), most_at_once.clone(), rounds.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most_at_once.fetch_max(now, Ordering::SeqCst);
                    rounds.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(150)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }));
        // Ten ticks, one a minute (the first at once).
        for _ in 0..10 {
            trigger.notify_one();
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        // Rounds start at 0, 150, 300, 450 and 600 s; the five ticks missed while busy
        // did not each become a round.
        tokio::time::sleep(Duration::from_secs(400)).await;
        assert_eq!(most_at_once.load(Ordering::SeqCst), 1);
        assert_eq!(rounds.load(Ordering::SeqCst), 5);
        shutdown.cancel();
        worker.await.unwrap();
    }

    /// Accounts on one schedule share a cron job; each of them is still woken by every
    /// tick.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tick_wakes_every_one_of_many_accounts() {
        use futures_util::FutureExt;
        let triggers: Vec<Arc<Notify>> = (0..500).map(|_| Arc::new(Notify::new())).collect();
        let ticker = Ticker::start(
            triggers
                .iter()
                .map(|t| ("* * * * * *".to_owned(), t.clone()))
                .collect(),
            chrono_tz::Asia::Shanghai,
        )
        .await
        .unwrap();
        // A tick comes within a second, and the scheduler looks every half second.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        ticker.stop().await;
        let woken = triggers
            .iter()
            .filter(|t| t.notified().now_or_never().is_some())
            .count();
        assert_eq!(woken, triggers.len());
    }

    #[test]
    fn every_instance_claims_at_the_same_instant_after_a_tick() {
        let cron = crate::config::parse_schedule("0 * * * * *").unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        let tick = DateTime::parse_from_rfc3339("2026-04-20T09:30:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let at = tick + TimeDelta::from_std(CLAIM_AFTER_TICK).unwrap();
        // Woken by the tick, whenever each scheduler polled.
        for woken_ms in [1, 120, 499] {
            let now = tick + TimeDelta::milliseconds(woken_ms);
            assert_eq!(claim_instant(&cron, tz, now), Some(at));
        }
        // A wake-up after that instant (a coalesced tick, the start-up round) claims at once.
        assert_eq!(claim_instant(&cron, tz, tick + TimeDelta::seconds(7)), None);
        assert_eq!(
            claim_instant(&cron, tz, tick - TimeDelta::seconds(20)),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_ticks_while_idle_is_one_round() {
        let trigger = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let rounds = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            trigger.notify_one();
        }
        let worker = tokio::spawn(account_loop(trigger.clone(), shutdown.clone(), {
            let rounds = rounds.clone();
            move || {
                let rounds = rounds.clone();
                async move {
                    rounds.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
        shutdown.cancel();
        worker.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_a_waiting_worker() {
        let trigger = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let worker = tokio::spawn(account_loop(trigger, shutdown.clone(), || async {}));
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), worker)
            .await
            .unwrap()
            .unwrap();
    }
}
