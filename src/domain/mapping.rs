//! The mapping from 1688 SKUs (offer id, spec id) to the seller's merchant SKUs.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::order::{Line1688, LineMapping};

/// One row of `sku_mappings`.
#[derive(Debug, Clone, PartialEq)]
pub struct SkuMapping {
    pub offer_id: i64,
    /// Empty for offers without SKUs.
    pub spec_id: String,
    pub merchant_sku: String,
    /// Merchant units per 1688 unit (a 1688 "pack of 10" mapped to single pieces is 10).
    pub quantity_ratio: Decimal,
}

/// Where one 1688 SKU maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingTarget {
    pub merchant_sku: String,
    pub quantity_ratio: Decimal,
}

impl MappingTarget {
    /// Converts a 1688 line into merchant units: quantity times the ratio, and the
    /// line amount spread over the converted quantity (exact to 4 decimal places).
    /// `None` when the result does not fit a decimal (a quantity and a ratio both
    /// absurdly large): the line then stays unmapped, where someone will look at it.
    pub fn apply(&self, line: &Line1688) -> Option<LineMapping> {
        let merchant_quantity = line.quantity.checked_mul(self.quantity_ratio)?;
        let merchant_unit_cost = if merchant_quantity.is_zero() {
            line.unit_price
        } else {
            line.amount.checked_div(merchant_quantity)?.round_dp(4)
        };
        Some(LineMapping {
            merchant_sku: self.merchant_sku.clone(),
            merchant_quantity: merchant_quantity.normalize(),
            merchant_unit_cost: merchant_unit_cost.normalize(),
        })
    }
}

/// All mappings, loaded once per run so that mapping a line costs a hash lookup.
#[derive(Debug, Clone, Default)]
pub struct MappingTable {
    by_sku: HashMap<(i64, String), MappingTarget>,
}

impl MappingTable {
    pub fn new(rows: impl IntoIterator<Item = SkuMapping>) -> Self {
        let by_sku = rows
            .into_iter()
            .map(|m| {
                (
                    (m.offer_id, m.spec_id),
                    MappingTarget {
                        merchant_sku: m.merchant_sku,
                        quantity_ratio: m.quantity_ratio,
                    },
                )
            })
            .collect();
        MappingTable { by_sku }
    }

    pub fn lookup(&self, offer_id: i64, spec_id: &str) -> Option<&MappingTarget> {
        self.by_sku.get(&(offer_id, spec_id.to_owned()))
    }

    pub fn map_line(&self, line: &Line1688) -> Option<LineMapping> {
        self.lookup(line.offer_id, &line.spec_id)
            .and_then(|target| target.apply(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversion_too_large_for_a_decimal_leaves_the_line_unmapped_instead_of_panicking() {
        let target = MappingTarget {
            merchant_sku: "HUGE".into(),
            quantity_ratio: Decimal::MAX,
        };
        assert_eq!(target.apply(&line("10", "10", "100")), None);
    }

    fn line(quantity: &str, price: &str, amount: &str) -> Line1688 {
        Line1688 {
            sub_item_id: 1,
            offer_id: 42,
            spec_id: "abc".into(),
            sku_id: None,
            title: "t".into(),
            attributes: String::new(),
            unit: None,
            quantity: quantity.parse().unwrap(),
            unit_price: price.parse().unwrap(),
            amount: amount.parse().unwrap(),
            status: None,
        }
    }

    #[test]
    fn a_pack_of_ten_becomes_ten_merchant_units_at_a_tenth_of_the_cost() {
        let table = MappingTable::new([SkuMapping {
            offer_id: 42,
            spec_id: "abc".into(),
            merchant_sku: "CUP-1".into(),
            quantity_ratio: "10".parse().unwrap(),
        }]);
        let mapped = table.map_line(&line("3", "12.5", "37.5")).unwrap();
        assert_eq!(mapped.merchant_sku, "CUP-1");
        assert_eq!(mapped.merchant_quantity.to_string(), "30");
        assert_eq!(mapped.merchant_unit_cost.to_string(), "1.25");
    }

    #[test]
    fn a_line_of_an_unknown_sku_is_not_mapped() {
        let table = MappingTable::default();
        assert!(table.map_line(&line("1", "1", "1")).is_none());
    }

    #[test]
    fn the_spec_id_must_match_exactly() {
        let table = MappingTable::new([SkuMapping {
            offer_id: 42,
            spec_id: String::new(),
            merchant_sku: "CUP-1".into(),
            quantity_ratio: Decimal::ONE,
        }]);
        assert!(table.map_line(&line("1", "1", "1")).is_none());
    }
}
