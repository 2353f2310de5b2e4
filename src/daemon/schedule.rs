//! When accounts are synced: cron ticks (tokio-cron-scheduler, in `sync.timezone`) wake
//! one worker per account. The worker runs one round at a time; ticks that arrive while a
//! round runs, or while the daemon was down, collapse into a single next round.

use std::future::Future;
use std::sync::Arc;

use chrono_tz::Tz;
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

/// The cron side: one job per account whose only work is to wake the account's worker,
/// so that the scheduler's own lack of overlap protection and of draining at shutdown do
/// not matter.
pub struct Ticker {
    scheduler: JobScheduler,
}

impl Ticker {
    pub async fn start(
        schedules: Vec<(String, Arc<Notify>)>,
        tz: Tz,
    ) -> Result<Self, JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        for (expression, trigger) in schedules {
            let job = Job::new_async_tz(expression.as_str(), tz, move |_id, _scheduler| {
                let trigger = trigger.clone();
                Box::pin(async move { trigger.notify_one() })
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
    use std::time::Duration;

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
