//! Adding 1688 products to the ERP, one by one or in bulk ("Add 1688 products"): each
//! offer is read from 1688 (following it first where 1688 asks) and stored with its SKUs
//! and its supplier. A bulk add reports every row; one bad row loses nothing else.

use std::collections::HashMap;
use std::fmt;

use futures_util::StreamExt;

use crate::api1688::Client1688;
use crate::api1688::products::parse_offer_ref;
use crate::store::{ProductUpsert, Store};

/// Offers read from 1688 at the same time (the account's rate limit still applies).
const CONCURRENCY: usize = 4;

/// What happened to one row of an add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// Stored before, and 1688's copy has changed since: refreshed.
    Updated,
    /// Stored before with the same content.
    AlreadyPresent,
    /// The same offer appears on an earlier row.
    Duplicate {
        first_line: usize,
    },
    Failed(String),
}

impl fmt::Display for AddOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddOutcome::Added => f.write_str("added"),
            AddOutcome::Updated => f.write_str("updated"),
            AddOutcome::AlreadyPresent => f.write_str("already present"),
            AddOutcome::Duplicate { first_line } => write!(f, "duplicate of line {first_line}"),
            AddOutcome::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// One row of an add: where it came from, the offer, the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRow {
    pub line: usize,
    pub input: String,
    pub offer_id: Option<i64>,
    pub outcome: AddOutcome,
}

impl AddRow {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, AddOutcome::Failed(_))
    }
}

/// The offers of a file: one per line, or the first column of a CSV that holds an offer
/// id or URL. Blank lines, `#` comments and a header row are skipped.
pub fn offers_in_file(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let first = line
                .split([',', '\t', ';'])
                .next()
                .unwrap_or(line)
                .trim()
                .trim_matches('"');
            let is_header = i == 0
                && parse_offer_ref(first).is_err()
                && !first.chars().any(|c| c.is_ascii_digit());
            (!is_header).then(|| (i + 1, first.to_owned()))
        })
        .collect()
}

/// Adds every offer of `inputs` (line, offer id or URL), several at a time, and returns
/// one row per input, in input order.
pub async fn add_products(
    store: &dyn Store,
    client: &Client1688,
    inputs: Vec<(usize, String)>,
) -> Vec<AddRow> {
    let mut first_line_of: HashMap<i64, usize> = HashMap::new();
    let mut rows: Vec<AddRow> = Vec::with_capacity(inputs.len());
    let mut to_fetch = Vec::new();
    for (line, input) in inputs {
        let (offer_id, outcome) = match parse_offer_ref(&input) {
            Err(reason) => (None, Some(AddOutcome::Failed(reason))),
            Ok(id) => match first_line_of.get(&id) {
                Some(&first_line) => (Some(id), Some(AddOutcome::Duplicate { first_line })),
                None => {
                    first_line_of.insert(id, line);
                    to_fetch.push((rows.len(), id));
                    (Some(id), None)
                }
            },
        };
        rows.push(AddRow {
            line,
            input,
            offer_id,
            // Filled in below for the rows that are fetched.
            outcome: outcome.unwrap_or(AddOutcome::AlreadyPresent),
        });
    }
    let mut results = futures_util::stream::iter(to_fetch)
        .map(|(index, offer_id)| async move { (index, add_one(store, client, offer_id).await) })
        .buffer_unordered(CONCURRENCY);
    while let Some((index, outcome)) = results.next().await {
        rows[index].outcome = outcome;
    }
    rows
}

async fn add_one(store: &dyn Store, client: &Client1688, offer_id: i64) -> AddOutcome {
    let product = match client.product_info(offer_id).await {
        Ok(product) => product,
        Err(e) => return AddOutcome::Failed(e.to_string()),
    };
    if !product.is_buyable() {
        return AddOutcome::Failed(format!(
            "offer {offer_id} is {} on 1688 and cannot be ordered",
            product.status
        ));
    }
    match store.upsert_product(&product).await {
        Ok(ProductUpsert::Added) => AddOutcome::Added,
        Ok(ProductUpsert::Updated) => AddOutcome::Updated,
        Ok(ProductUpsert::Unchanged) => AddOutcome::AlreadyPresent,
        Err(e) => AddOutcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_offers_may_be_a_list_or_a_csv_with_a_header() {
        let text = "offer,note\n624508513236,cups\n\n# later\nhttps://detail.1688.com/offer/1.html?x=1,\"a, b\"\nnot an offer\n";
        let offers = offers_in_file(text);
        assert_eq!(
            offers,
            vec![
                (2, "624508513236".to_owned()),
                (5, "https://detail.1688.com/offer/1.html?x=1".to_owned()),
                (6, "not an offer".to_owned()),
            ]
        );
    }
}
