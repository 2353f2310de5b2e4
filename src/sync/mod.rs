//! The sync job: page through one account's 1688 orders for a window, map their lines,
//! write whole pages a few to a transaction, and record the run in `sync_runs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::api1688::{ApiError, Client1688, OrderFilter, OrderListPage};
use crate::config::{AccountSettings, SyncSettings};
use rust_decimal::Decimal;

use crate::domain::{
    IncomingOrder, KnownOrders, MappingTable, RunKind, RunStatus, SkuMapping, SyncWindow,
};
use crate::store::{
    Fence, Numbered, PageOutcome, PageTarget, RunCounts, Store, StoreError, StoreResult,
};

/// How a run ended, for the caller and the log.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: Option<i64>,
    pub account: String,
    pub kind: RunKind,
    pub window: SyncWindow,
    pub status: RunStatus,
    pub counts: RunCounts,
    /// Why the run failed: the first problems met, each naming what failed.
    pub errors: Vec<String>,
    /// 1688 delivered every order its `totalRecord` promised. When it did not (pages
    /// shifted under us, or a page came back short) the orders seen are written, but a
    /// change-tracking cursor must not move past them.
    pub complete: bool,
    /// The run's end could not be written to `sync_runs` (the database was away): its
    /// row still says `running`.
    pub end_unrecorded: bool,
    /// Of the unchanged orders, those on pages the store held as they were, which were
    /// therefore not read (see [`KnownOrders`]).
    pub orders_known: u64,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("interrupted by shutdown")]
    Cancelled,
}

/// Keep this many problem descriptions per run; the count of the rest is reported.
const MAX_ERRORS: usize = 10;

/// Everything one run of one account needs.
pub struct SyncJob<'a> {
    pub store: Arc<dyn Store>,
    pub client: Arc<Client1688>,
    pub sync: &'a SyncSettings,
    pub account: &'a AccountSettings,
    /// Stops the run between pages (shutdown, or the lease was lost).
    pub cancel: CancellationToken,
    /// The account's lease, checked by every page's transaction.
    pub fence: Option<Fence>,
}

impl SyncJob<'_> {
    /// Syncs the orders of `filter`'s window and records the run. Never panics on bad
    /// data; every problem ends up in the report and in `sync_runs.error`.
    pub async fn run(&self, kind: RunKind, filter: OrderFilter) -> RunReport {
        let window = match filter {
            OrderFilter::Created(w) | OrderFilter::Modified(w) => w,
        };
        let mut report = RunReport {
            run_id: None,
            account: self.account.name.clone(),
            kind,
            window,
            status: RunStatus::Failed,
            counts: RunCounts::default(),
            errors: Vec::new(),
            complete: false,
            end_unrecorded: false,
            orders_known: 0,
        };
        let run_id = match self.store.begin_run(&self.account.name, kind, window).await {
            Ok(id) => id,
            Err(e) => {
                report.errors.push(format!("cannot record the run: {e}"));
                return report;
            }
        };
        report.run_id = Some(run_id);
        tracing::info!(account = %self.account.name, run_id, kind = kind.as_str(), start = %window.start, end = %window.end, "sync run started");

        let result = self.pages(run_id, filter, &mut report).await;
        if let Err(stop) = result {
            report.errors.insert(0, stop.to_string());
        }
        report.status = if report.errors.is_empty() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        let error_text = (!report.errors.is_empty()).then(|| report.errors.join("; "));
        if let Err(e) = self
            .store
            .finish_run(run_id, report.status, &report.counts, error_text.as_deref())
            .await
        {
            // The application writes it before the account's next run; if this process
            // ends first, the next run closes the row as interrupted.
            tracing::error!(account = %self.account.name, run_id, error = %e, "cannot record the end of the run");
            report.status = RunStatus::Failed;
            report
                .errors
                .push(format!("cannot record the end of the run: {e}"));
            report.end_unrecorded = true;
        }
        let c = &report.counts;
        if report.succeeded() {
            tracing::info!(account = %self.account.name, run_id, seen = c.orders_seen, inserted = c.orders_inserted, updated = c.orders_updated, unchanged = c.orders_unchanged, known = report.orders_known, skipped = c.orders_skipped, lines_unmapped = c.lines_unmapped, pages = c.pages, "sync run succeeded");
        } else {
            tracing::warn!(account = %self.account.name, run_id, seen = c.orders_seen, inserted = c.orders_inserted, updated = c.orders_updated, error = %report.errors.join("; "), "sync run failed");
        }
        report
    }

    /// Fetches page 1, then the pages `totalRecord` promises (several at a time, within
    /// the account's rate limit), then further pages while they keep coming back full.
    /// Pages are written one at a time, in the order they arrive.
    async fn pages(
        &self,
        run_id: i64,
        filter: OrderFilter,
        report: &mut RunReport,
    ) -> Result<(), Stop> {
        let warehouse_id = self
            .store
            .ensure_warehouse(&self.account.default_warehouse)
            .await?;
        let loaded = self.store.load_mappings().await?;
        let mappings = MappingTable::new(loaded.iter().cloned());
        // A page whose orders are all stored as 1688 sent them is answered without being
        // read; the orders of other pages are fingerprinted for the next run.
        let known = Arc::new(match filter {
            OrderFilter::Created(window) => {
                self.store.known_orders(&self.account.name, window).await?
            }
            // A changes window reaches orders created any time; it is short and read in full.
            OrderFilter::Modified(_) => KnownOrders::new(),
        });
        // The tally of the known orders' unmapped lines, counted while pages are read.
        let unmapped_counts = match filter {
            OrderFilter::Created(window) if !known.is_empty() => {
                let (store, account) = (self.store.clone(), self.account.name.clone());
                Some(AbortOnDropHandle::new(tokio::spawn(async move {
                    store.unmapped_line_counts(&account, window).await
                })))
            }
            _ => None,
        };
        let target = Arc::new(PageTarget {
            account: self.account.name.clone(),
            warehouse_id,
            run_id,
            fence: self.fence.clone(),
        });
        let mut writer = PageWriter {
            store: self.store.clone(),
            target,
            mappings: &mappings,
            filter,
            seen: HashSet::new(),
            received: 0,
            pending: Vec::new(),
            known_since_flush: 0,
            known_seen: Vec::new(),
            writing: FuturesUnordered::new(),
        };
        let mut complete = true;
        for history in history_passes(filter, Utc::now()) {
            complete &= self
                .pass(filter, history, known.clone(), &mut writer, report)
                .await?;
        }
        writer.finish(report).await?;
        if let Some(counts) = unmapped_counts {
            let counts = counts
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
            report.counts.lines_unmapped += writer
                .known_seen
                .iter()
                .filter_map(|id| counts.get(id))
                .sum::<u64>();
        }
        report.complete = complete;
        // A creation window that came back short is a 1688 fault worth a failed run (the
        // next run repeats the window); a changes window can shrink legitimately while it
        // is read, and only holds the cursor back.
        if !complete && matches!(filter, OrderFilter::Created(_)) {
            note(
                report,
                format!(
                    "1688 delivered {} of the orders its totalRecord promised; the next run repeats the window",
                    writer.received
                ),
            );
        }
        self.catch_up_mappings(&loaded).await
    }

    /// Mappings created while the run was paging did not reach the lines it wrote with
    /// the table loaded at its start; re-mapping the waiting lines for them closes that
    /// gap (an unchanged order is never rewritten, so nothing else would).
    async fn catch_up_mappings(&self, loaded: &[SkuMapping]) -> Result<(), Stop> {
        let before: HashMap<(i64, &str), (&str, Decimal)> = loaded
            .iter()
            .map(|m| {
                (
                    (m.offer_id, m.spec_id.as_str()),
                    (m.merchant_sku.as_str(), m.quantity_ratio),
                )
            })
            .collect();
        let current = self.store.load_mappings().await?;
        let changed: Vec<Numbered<SkuMapping>> = current
            .iter()
            .filter(|m| {
                before.get(&(m.offer_id, m.spec_id.as_str()))
                    != Some(&(m.merchant_sku.as_str(), m.quantity_ratio))
            })
            .enumerate()
            .map(|(i, m)| Numbered {
                line: i + 1,
                value: m.clone(),
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let change = self.store.set_mappings(&changed, true).await?;
        tracing::info!(
            account = %self.account.name,
            mappings = changed.len(),
            lines = change.lines_remapped,
            "mappings created during the run were applied to the lines it wrote"
        );
        Ok(())
    }

    /// Pages through one table (live or history). Returns whether 1688 delivered every
    /// order its `totalRecord` promised.
    async fn pass(
        &self,
        filter: OrderFilter,
        history: bool,
        known: Arc<KnownOrders>,
        writer: &mut PageWriter<'_>,
        report: &mut RunReport,
    ) -> Result<bool, Stop> {
        let page_size = self.sync.page_size;
        let fetch = |page: u32| {
            let client = self.client.clone();
            let known = known.clone();
            async move {
                // A task of its own: parsing a page costs more than checking it against
                // the database when nothing changed, and tasks parse on every worker
                // thread at once. Dropped with the run, it is aborted.
                let task = AbortOnDropHandle::new(tokio::spawn(async move {
                    client
                        .buyer_order_list(filter, history, page, page_size, Some(&known))
                        .await
                }));
                let result = match task.await {
                    Ok(result) => result,
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                };
                (page, result)
            }
        };
        let received_before = writer.received;

        let first = self.cancellable(async { fetch(1).await.1 }).await?;
        let total = first.total_record;
        let first_len = first.items() as u64;
        let mut last_full = first_len >= u64::from(page_size);
        writer.write(1, first, report).await?;

        // A short first page ends the list, unless totalRecord promises more: then the
        // promised pages are read all the same.
        if last_full || total.is_some_and(|t| t > first_len) {
            let promised_pages = total
                .map(|t| t.div_ceil(u64::from(page_size)).max(1) as u32)
                .unwrap_or(1);
            // Fetching goes on while a page is written: the pages travel through a
            // channel from a producer polled beside the writer, not from a stream
            // polled only between writes.
            let (sender, receiver) = tokio::sync::mpsc::channel(self.sync.page_concurrency.max(1));
            let produce = async move {
                let mut pages = futures_util::stream::iter(2..=promised_pages)
                    .map(fetch)
                    .buffer_unordered(self.sync.page_concurrency);
                loop {
                    tokio::select! {
                        // The writer stopped (an error, a shutdown): fetch no further.
                        _ = sender.closed() => break,
                        next = pages.next() => match next {
                            Some(page) => {
                                if sender.send(page).await.is_err() {
                                    break;
                                }
                            }
                            None => break,
                        },
                    }
                }
            };
            let consume = async {
                // Owned here, so that it is dropped, and the producer told to stop, as
                // soon as writing ends.
                let mut receiver = receiver;
                while let Some((number, result)) = self
                    .cancellable(async { Ok(receiver.recv().await) })
                    .await?
                {
                    let page = self.checked(result)?;
                    if number == promised_pages {
                        last_full = page.items() as u32 >= page_size;
                    }
                    writer.write(number, page, report).await?;
                }
                Ok::<(), Stop>(())
            };
            let ((), consumed) = tokio::join!(produce, consume);
            consumed?;

            // 1688 may understate totalRecord; keep going while pages come back full with
            // orders not seen yet.
            let mut number = promised_pages + 1;
            while last_full && total.is_none_or(|t| writer.received - received_before < t) {
                let page = self.cancellable(async { fetch(number).await.1 }).await?;
                last_full = page.items() as u32 >= page_size;
                let fresh = writer.write(number, page, report).await?;
                if fresh == 0 {
                    break;
                }
                number += 1;
            }
        }
        let received = writer.received - received_before;
        let complete = total.is_none_or(|t| received >= t);
        if !complete {
            tracing::warn!(
                account = %self.account.name,
                history,
                promised = total.unwrap_or_default(),
                received,
                "1688 delivered fewer orders than totalRecord promised; the next run repeats the window"
            );
        }
        Ok(complete)
    }

    /// Awaits `work` unless the run is cancelled first. Only fetches are raced: a page
    /// write always finishes, committed or rolled back.
    async fn cancellable<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, Stop> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Stop::Cancelled),
            result = work => Ok(result?),
        }
    }

    fn checked(&self, result: Result<OrderListPage, ApiError>) -> Result<OrderListPage, Stop> {
        if self.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        Ok(result?)
    }
}

/// Writes pages and keeps the run's tallies.
struct PageWriter<'a> {
    store: Arc<dyn Store>,
    target: Arc<PageTarget>,
    mappings: &'a MappingTable,
    filter: OrderFilter,
    /// Orders already handled in this run: 1688 can repeat an order on two pages.
    seen: HashSet<i64>,
    /// Items received, repeats included (what `totalRecord` counts).
    received: u64,
    /// Whole pages read but not written yet.
    pending: Vec<IncomingOrder>,
    /// Orders taken as known (see [`KnownOrders`]) since the last batch was started.
    known_since_flush: usize,
    /// Every order taken as known, for the run's tally of unmapped lines.
    known_seen: Vec<i64>,
    /// Batches being written, each its own transaction in a task of its own (so that
    /// it goes on while pages are read), at most [`Store::concurrent_writes`] at once;
    /// each resolves to its size and outcome. Dropped with the run, they are aborted
    /// and roll back.
    writing: FuturesUnordered<AbortOnDropHandle<StoreResult<(usize, PageOutcome)>>>,
}

/// Orders written per transaction: whole pages, a few at a time. A transaction per page
/// spent more on its commit and its round trips than on its rows; a crash or a lost
/// database still leaves whole pages, and at most this many orders to read again.
pub const WRITE_BATCH_ORDERS: usize = 200;

impl<'a> PageWriter<'a> {
    /// Takes one page, written with the next ones in one transaction once they reach
    /// [`WRITE_BATCH_ORDERS`] (or by [`PageWriter::flush`]); returns how many of its
    /// orders were new to this run.
    async fn write(
        &mut self,
        number: u32,
        page: OrderListPage,
        report: &mut RunReport,
    ) -> Result<usize, Stop> {
        self.received += page.items() as u64;
        let mut fresh_known = 0;
        for &order_id in &page.known {
            if self.seen.insert(order_id) {
                fresh_known += 1;
                self.known_seen.push(order_id);
            }
        }
        report.counts.orders_unchanged += fresh_known as u64;
        report.orders_known += fresh_known as u64;
        self.known_since_flush += fresh_known;
        let mut raw_hashes = page.raw_hashes.into_iter();
        let mut incoming = Vec::with_capacity(page.orders.len());
        for order in page.orders {
            let raw_hash = raw_hashes.next();
            match order {
                Ok(order) => {
                    if let OrderFilter::Created(w) = self.filter
                        && (order.created_at < w.start || order.created_at > w.end)
                    {
                        tracing::debug!(order_id = order.order_id, created = %order.created_at, "1688 returned an order outside the window; ignored");
                        continue;
                    }
                    if self.seen.insert(order.order_id) {
                        let mut order = IncomingOrder::prepare(order, self.mappings);
                        order.raw_hash = raw_hash;
                        incoming.push(order);
                    }
                }
                Err(e) => {
                    tracing::warn!(account = %self.target.account, page = number, error = %e, "unreadable order skipped");
                    note(report, e.to_string());
                }
            }
        }
        let fresh = incoming.len() + fresh_known;
        report.counts.pages += 1;
        report.counts.orders_seen += fresh as u64;
        report.counts.lines_unmapped += incoming
            .iter()
            .map(|o| o.unmapped_lines() as u64)
            .sum::<u64>();
        self.pending.extend(incoming);
        if self.pending.len() + self.known_since_flush >= WRITE_BATCH_ORDERS {
            self.flush(report).await?;
        }
        tracing::debug!(account = %self.target.account, page = number, orders = fresh, "page read");
        Ok(fresh)
    }

    /// Starts writing the pages taken so far in one transaction, beside the batches
    /// already being written; waits while too many are. Pages of known orders alone
    /// write nothing, but still check the lease, as a written batch does.
    async fn flush(&mut self, report: &mut RunReport) -> Result<(), Stop> {
        let (store, target) = (self.store.clone(), self.target.clone());
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            self.writing
                .push(AbortOnDropHandle::new(tokio::spawn(async move {
                    let outcome = store.write_page(&target, &batch).await?;
                    Ok((batch.len(), outcome))
                })));
        } else if self.known_since_flush > 0
            && let Some(fence) = self.target.fence.clone()
        {
            self.writing
                .push(AbortOnDropHandle::new(tokio::spawn(async move {
                    store.check_lease(&fence).await?;
                    Ok((0, PageOutcome::default()))
                })));
        }
        self.known_since_flush = 0;
        while self.writing.len() >= self.store.concurrent_writes().max(1) {
            self.wait_for_one(report).await?;
        }
        Ok(())
    }

    /// Writes what is left and waits for every batch.
    async fn finish(&mut self, report: &mut RunReport) -> Result<(), Stop> {
        self.flush(report).await?;
        while !self.writing.is_empty() {
            self.wait_for_one(report).await?;
        }
        Ok(())
    }

    /// Waits for one batch. When it failed, the batches written beside it are still
    /// waited for (they hold other orders, and are whole either way), so that what
    /// the failure leaves behind does not depend on which finished first.
    async fn wait_for_one(&mut self, report: &mut RunReport) -> Result<(), Stop> {
        let Some(written) = self.writing.next().await else {
            return Ok(());
        };
        match written.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())) {
            Ok(written) => {
                self.count(written, report);
                Ok(())
            }
            Err(e) => {
                while let Some(other) = self.writing.next().await {
                    if let Ok(Ok(written)) = other {
                        self.count(written, report);
                    }
                }
                Err(e.into())
            }
        }
    }

    fn count(&self, (orders, outcome): (usize, PageOutcome), report: &mut RunReport) {
        report.counts.orders_inserted += outcome.inserted;
        report.counts.orders_updated += outcome.updated;
        report.counts.orders_unchanged += outcome.unchanged;
        report.counts.orders_skipped += outcome.skipped;
        tracing::debug!(account = %self.target.account, orders, inserted = outcome.inserted, updated = outcome.updated, unchanged = outcome.unchanged, "pages written");
    }
}

/// Brings one 1688 order in on purpose (`orders import-1688`): its tombstone, if any, is
/// cleared, the order is read with `get.buyerView` and written like a synced page, into
/// `warehouse` when it is new. The run is recorded as a backfill of that one instant.
pub async fn import_one(
    app: &crate::app::Application,
    account: &str,
    order_id: i64,
    warehouse: &str,
) -> anyhow::Result<PageOutcome> {
    let store = app.store();
    let client = app.client(account)?;
    let warehouse_id = store
        .list_warehouses()
        .await?
        .into_iter()
        .find(|w| w.code == warehouse)
        .map(|w| w.id)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "warehouse `{warehouse}` does not exist (add it with `sync1688 warehouses add`)"
            )
        })?;
    let order = client.buyer_view(order_id).await?;
    if store.clear_tombstone(account, order_id).await? {
        tracing::info!(
            account,
            order_id,
            "tombstone cleared for a deliberate re-import"
        );
    }
    let window = SyncWindow {
        start: order.created_at,
        end: order.created_at,
    };
    let run_id = store.begin_run(account, RunKind::Backfill, window).await?;
    let mappings = MappingTable::new(store.load_mappings().await?);
    let incoming = IncomingOrder::prepare(order, &mappings);
    let target = PageTarget {
        account: account.to_owned(),
        warehouse_id,
        run_id,
        fence: None,
    };
    let result = store
        .write_page(&target, std::slice::from_ref(&incoming))
        .await;
    let counts = RunCounts {
        orders_seen: 1,
        orders_inserted: result.as_ref().map(|o| o.inserted).unwrap_or(0),
        orders_updated: result.as_ref().map(|o| o.updated).unwrap_or(0),
        orders_unchanged: result.as_ref().map(|o| o.unchanged).unwrap_or(0),
        orders_skipped: result.as_ref().map(|o| o.skipped).unwrap_or(0),
        lines_unmapped: incoming.unmapped_lines() as u64,
        pages: 1,
    };
    let (status, error) = match &result {
        Ok(_) => (RunStatus::Succeeded, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    store
        .finish_run(run_id, status, &counts, error.as_deref())
        .await?;
    Ok(result?)
}

/// 1688 keeps orders older than about three months in a history table that is queried
/// separately (`isHis=true`); where exactly the line falls is not documented, so windows
/// near it query both tables (orders found twice are written once).
const HISTORY_FROM_DAYS: i64 = 80;
const LIVE_UNTIL_DAYS: i64 = 100;

/// Which tables a window needs: `false` is the live table, `true` the history table.
fn history_passes(filter: OrderFilter, now: DateTime<Utc>) -> Vec<bool> {
    let window = match filter {
        OrderFilter::Created(w) => w,
        // Recently modified orders are live.
        OrderFilter::Modified(_) => return vec![false],
    };
    let mut passes = Vec::with_capacity(2);
    if window.end > now - TimeDelta::days(LIVE_UNTIL_DAYS) {
        passes.push(false);
    }
    if window.start < now - TimeDelta::days(HISTORY_FROM_DAYS) {
        passes.push(true);
    }
    passes
}

fn note(report: &mut RunReport, problem: String) {
    if report.errors.len() < MAX_ERRORS {
        report.errors.push(problem);
    } else if report.errors.len() == MAX_ERRORS {
        report.errors.push("(more problems not listed)".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(days_ago_start: i64, days_ago_end: i64, now: DateTime<Utc>) -> OrderFilter {
        OrderFilter::Created(SyncWindow {
            start: now - TimeDelta::days(days_ago_start),
            end: now - TimeDelta::days(days_ago_end),
        })
    }

    #[test]
    fn recent_windows_query_the_live_table_only() {
        let now = Utc::now();
        assert_eq!(history_passes(created(3, 0, now), now), [false]);
        let modified = OrderFilter::Modified(SyncWindow {
            start: now - TimeDelta::days(400),
            end: now,
        });
        assert_eq!(history_passes(modified, now), [false]);
    }

    #[test]
    fn old_windows_query_the_history_table_and_windows_near_the_line_both() {
        let now = Utc::now();
        assert_eq!(history_passes(created(200, 150, now), now), [true]);
        assert_eq!(history_passes(created(120, 60, now), now), [false, true]);
        assert_eq!(history_passes(created(95, 85, now), now), [false, true]);
    }
}
