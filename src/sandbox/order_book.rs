//! The sandbox's orders, and what the order list may reuse while they stand still.
//!
//! Paging through a window asks the same question once per page. Without reuse each
//! page filtered and sorted every order and rendered its fifty afresh, so the sandbox,
//! not the client under test, set the pace of every large sync. Every change to an
//! order goes through [`OrderBook::insert`] or [`OrderBook::get_mut`], which count it,
//! and a count that moved throws the reuse away.

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::orders::Order;
use super::render::View;

/// How long a filtered, sorted list stays valid while no order changes. Only the
/// boundary of the history table moves with the clock, by this much at most.
const LIST_TTL: Duration = Duration::from_secs(1);

pub(crate) struct OrderBook {
    orders: BTreeMap<i64, Order>,
    /// Changes made so far.
    generation: u64,
    list: Option<CachedList>,
    rendered: HashMap<(i64, View), Arc<str>>,
    rendered_generation: u64,
}

struct CachedList {
    key: String,
    generation: u64,
    at: Instant,
    ids: Arc<Vec<i64>>,
}

impl Deref for OrderBook {
    type Target = BTreeMap<i64, Order>;

    fn deref(&self) -> &Self::Target {
        &self.orders
    }
}

impl FromIterator<(i64, Order)> for OrderBook {
    fn from_iter<I: IntoIterator<Item = (i64, Order)>>(iter: I) -> Self {
        OrderBook {
            orders: iter.into_iter().collect(),
            generation: 0,
            list: None,
            rendered: HashMap::new(),
            rendered_generation: 0,
        }
    }
}

impl OrderBook {
    pub(crate) fn insert(&mut self, id: i64, order: Order) -> Option<Order> {
        self.generation += 1;
        self.orders.insert(id, order)
    }

    /// Counts as a change whether or not the caller changes anything.
    pub(crate) fn get_mut(&mut self, id: &i64) -> Option<&mut Order> {
        self.generation += 1;
        self.orders.get_mut(id)
    }

    /// The ids a list query matched, in its order: reused when the same query (`key`)
    /// was answered less than [`LIST_TTL`] ago and no order changed since, else
    /// `compute`d and kept.
    pub(crate) fn list(
        &mut self,
        key: String,
        compute: impl FnOnce(&BTreeMap<i64, Order>) -> Vec<i64>,
    ) -> Arc<Vec<i64>> {
        if let Some(cached) = &self.list
            && cached.key == key
            && cached.generation == self.generation
            && cached.at.elapsed() < LIST_TTL
        {
            return cached.ids.clone();
        }
        let ids = Arc::new(compute(&self.orders));
        self.list = Some(CachedList {
            key,
            generation: self.generation,
            at: Instant::now(),
            ids: ids.clone(),
        });
        ids
    }

    /// Order `id` as JSON in `view`, rendered once per change of the book.
    pub(crate) fn rendered(
        &mut self,
        id: i64,
        view: View,
        render: impl FnOnce(&Order) -> String,
    ) -> Option<Arc<str>> {
        if self.rendered_generation != self.generation {
            self.rendered.clear();
            self.rendered_generation = self.generation;
        }
        let order = self.orders.get(&id)?;
        Some(
            self.rendered
                .entry((id, view))
                .or_insert_with(|| render(order).into())
                .clone(),
        )
    }
}
