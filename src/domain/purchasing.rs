//! The rules of creating a 1688 purchase order in the ERP ("Create 1688 purchase
//! order"): one supplier, at most 50 merchant SKUs, every merchant SKU mapped to a SKU of
//! an added product of that supplier, quantities converted into whole 1688 units that
//! meet each offer's minimum order quantity.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

/// 1688 takes at most this many SKUs on one order.
pub const MAX_SKUS_PER_ORDER: usize = 50;

/// The most merchant units one line may ask for: far beyond any real order, and small
/// enough that quantities and amounts stay within exact decimals.
pub const MAX_LINE_QUANTITY: u64 = 1_000_000_000;

/// A line as the purchaser asks for it, in merchant units.
#[derive(Debug, Clone, PartialEq)]
pub struct WantedLine {
    pub merchant_sku: String,
    pub quantity: Decimal,
}

impl WantedLine {
    /// `SKU:QTY`, as `--line` takes it.
    pub fn parse(text: &str) -> Result<Self, CreateError> {
        let bad = || CreateError::BadLine(text.to_owned());
        let (sku, qty) = text.rsplit_once(':').ok_or_else(bad)?;
        let quantity: Decimal = qty.trim().parse().map_err(|_| bad())?;
        if sku.trim().is_empty() || quantity <= Decimal::ZERO {
            return Err(bad());
        }
        if quantity > Decimal::from(MAX_LINE_QUANTITY) {
            return Err(CreateError::TooMuch(text.to_owned()));
        }
        Ok(WantedLine {
            merchant_sku: sku.trim().to_owned(),
            quantity,
        })
    }
}

/// A 1688 SKU a merchant SKU is mapped from, with what ordering it needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedSku {
    pub offer_id: i64,
    pub spec_id: String,
    pub sku_id: Option<i64>,
    pub supplier_login_id: String,
    /// Merchant units per 1688 unit.
    pub quantity_ratio: Decimal,
    pub min_order_quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub title: String,
    pub attributes: String,
    /// The offer's 1688 status; only `published` offers can be ordered.
    pub status: String,
}

/// A line of the order to place, in both units.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedLine {
    pub merchant_sku: String,
    pub merchant_quantity: Decimal,
    pub sku: MappedSku,
    /// Whole 1688 units.
    pub quantity: Decimal,
}

/// Why an order cannot be created; each names the offending input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CreateError {
    #[error("`{0}` is not a line: write MERCHANT_SKU:QUANTITY with a quantity above 0")]
    BadLine(String),
    #[error("`{0}`: a line takes at most {MAX_LINE_QUANTITY} units")]
    TooMuch(String),
    #[error(
        "merchant SKU `{sku}`: its quantity in 1688 units, or its amount at the 1688 price, is out of range"
    )]
    OutOfRange { sku: String },
    #[error("an order needs at least one line")]
    NoLines,
    #[error("{count} merchant SKUs on one order: 1688 takes at most {MAX_SKUS_PER_ORDER}")]
    TooManySkus { count: usize },
    #[error("merchant SKU `{0}` is on the order twice: give it once with the total quantity")]
    Repeated(String),
    #[error(
        "merchant SKU `{0}` is not mapped to any 1688 SKU: map it first (sync1688 mappings set)"
    )]
    NotMapped(String),
    #[error(
        "merchant SKU `{sku}` is not mapped to a product of supplier `{supplier}` (it is to: {others}); add that supplier's product and map it, or order from the other supplier"
    )]
    OtherSupplier {
        sku: String,
        supplier: String,
        others: String,
    },
    #[error(
        "merchant SKU `{sku}` is mapped to several 1688 SKUs of supplier `{supplier}` ({options}); keep one mapping"
    )]
    Ambiguous {
        sku: String,
        supplier: String,
        options: String,
    },
    #[error(
        "{quantity} of merchant SKU `{sku}` is not a whole number of 1688 units ({ratio} merchant units each): order a multiple of {ratio}"
    )]
    NotWholeUnits {
        sku: String,
        quantity: Decimal,
        ratio: Decimal,
    },
    #[error(
        "offer {offer_id} ({title}) needs at least {minimum} units per order; this order has {quantity} (merchant SKUs {skus})"
    )]
    BelowMinimum {
        offer_id: i64,
        title: String,
        minimum: Decimal,
        quantity: Decimal,
        skus: String,
    },
    #[error("offer {offer_id} of merchant SKU `{sku}` is {status} on 1688 and cannot be ordered")]
    NotBuyable {
        sku: String,
        offer_id: i64,
        status: String,
    },
}

/// Works out the 1688 lines of an order to `supplier` from the purchaser's lines.
/// `mapped` lists, per merchant SKU, the added product SKUs it is mapped from.
pub fn plan_order(
    supplier: &str,
    wanted: &[WantedLine],
    mapped: &HashMap<String, Vec<MappedSku>>,
) -> Result<Vec<PlannedLine>, CreateError> {
    if wanted.is_empty() {
        return Err(CreateError::NoLines);
    }
    if wanted.len() > MAX_SKUS_PER_ORDER {
        return Err(CreateError::TooManySkus {
            count: wanted.len(),
        });
    }
    let mut planned = Vec::with_capacity(wanted.len());
    let mut goods = Decimal::ZERO;
    for (i, line) in wanted.iter().enumerate() {
        if wanted[..i]
            .iter()
            .any(|w| w.merchant_sku == line.merchant_sku)
        {
            return Err(CreateError::Repeated(line.merchant_sku.clone()));
        }
        let candidates = mapped
            .get(&line.merchant_sku)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| CreateError::NotMapped(line.merchant_sku.clone()))?;
        let of_supplier: Vec<&MappedSku> = candidates
            .iter()
            .filter(|c| c.supplier_login_id == supplier)
            .collect();
        let sku = match of_supplier.as_slice() {
            [one] => (*one).clone(),
            [] => {
                let mut others: Vec<&str> = candidates
                    .iter()
                    .map(|c| c.supplier_login_id.as_str())
                    .collect();
                others.sort_unstable();
                others.dedup();
                return Err(CreateError::OtherSupplier {
                    sku: line.merchant_sku.clone(),
                    supplier: supplier.to_owned(),
                    others: others.join(", "),
                });
            }
            several => {
                return Err(CreateError::Ambiguous {
                    sku: line.merchant_sku.clone(),
                    supplier: supplier.to_owned(),
                    options: several
                        .iter()
                        .map(|c| format!("offer {} spec `{}`", c.offer_id, c.spec_id))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        if sku.status != "published" {
            return Err(CreateError::NotBuyable {
                sku: line.merchant_sku.clone(),
                offer_id: sku.offer_id,
                status: sku.status.clone(),
            });
        }
        // Ratios and prices come from stored mappings and 1688's answers: an absurd one
        // must fail the order, not overflow.
        let out_of_range = || CreateError::OutOfRange {
            sku: line.merchant_sku.clone(),
        };
        let quantity = line
            .quantity
            .checked_div(sku.quantity_ratio)
            .ok_or_else(out_of_range)?;
        goods = quantity
            .checked_mul(sku.unit_price.unwrap_or_default())
            .and_then(|amount| goods.checked_add(amount))
            .ok_or_else(out_of_range)?;
        if quantity.fract() != Decimal::ZERO {
            return Err(CreateError::NotWholeUnits {
                sku: line.merchant_sku.clone(),
                quantity: line.quantity.normalize(),
                ratio: sku.quantity_ratio.normalize(),
            });
        }
        planned.push(PlannedLine {
            merchant_sku: line.merchant_sku.clone(),
            merchant_quantity: line.quantity,
            quantity: quantity.normalize(),
            sku,
        });
    }
    // 1688's minimum order quantity is per offer, with its SKUs mixed.
    let mut per_offer: BTreeMap<i64, (Decimal, Vec<&PlannedLine>)> = BTreeMap::new();
    for line in &planned {
        let entry = per_offer
            .entry(line.sku.offer_id)
            .or_insert((Decimal::ZERO, Vec::new()));
        entry.0 = entry
            .0
            .checked_add(line.quantity)
            .ok_or_else(|| CreateError::OutOfRange {
                sku: line.merchant_sku.clone(),
            })?;
        entry.1.push(line);
    }
    for (offer_id, (quantity, lines)) in per_offer {
        let minimum = lines
            .iter()
            .filter_map(|l| l.sku.min_order_quantity)
            .max()
            .unwrap_or(Decimal::ONE);
        if quantity < minimum {
            return Err(CreateError::BelowMinimum {
                offer_id,
                title: lines[0].sku.title.clone(),
                minimum: minimum.normalize(),
                quantity: quantity.normalize(),
                skus: lines
                    .iter()
                    .map(|l| l.merchant_sku.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn sku(offer_id: i64, spec: &str, supplier: &str, ratio: &str, moq: &str) -> MappedSku {
        MappedSku {
            offer_id,
            spec_id: spec.into(),
            sku_id: Some(offer_id * 10),
            supplier_login_id: supplier.into(),
            quantity_ratio: d(ratio),
            min_order_quantity: Some(d(moq)),
            unit_price: Some(d("2.5")),
            title: "杯子".into(),
            attributes: String::new(),
            status: "published".into(),
        }
    }

    fn mapped() -> HashMap<String, Vec<MappedSku>> {
        HashMap::from([
            ("CUP".to_owned(), vec![sku(1, "a", "shop1", "10", "2")]),
            ("LID".to_owned(), vec![sku(1, "b", "shop1", "1", "2")]),
            ("BAG".to_owned(), vec![sku(2, "", "shop2", "1", "1")]),
            (
                "TWIN".to_owned(),
                vec![
                    sku(3, "x", "shop1", "1", "1"),
                    sku(3, "y", "shop1", "1", "1"),
                ],
            ),
        ])
    }

    fn lines(spec: &[&str]) -> Vec<WantedLine> {
        spec.iter().map(|s| WantedLine::parse(s).unwrap()).collect()
    }

    #[test]
    fn merchant_units_become_whole_1688_units_and_the_minimum_counts_per_offer() {
        let plan = plan_order("shop1", &lines(&["CUP:20", "LID:1"]), &mapped()).unwrap();
        assert_eq!(
            plan[0].quantity.to_string(),
            "2",
            "20 cups are 2 packs of 10"
        );
        // Offer 1 gets 2 packs + 1 lid = 3 units, over its minimum of 2.
        assert_eq!(plan[1].quantity.to_string(), "1");
    }

    #[test]
    fn every_rule_names_what_breaks_it() {
        let m = mapped();
        let cases: Vec<(Vec<WantedLine>, &str)> = vec![
            (lines(&["CUP:15"]), "order a multiple of 10"),
            (lines(&["LID:1"]), "needs at least 2"),
            (lines(&["BAG:1"]), "it is to: shop2"),
            (lines(&["NOPE:1"]), "`NOPE` is not mapped"),
            (lines(&["TWIN:1"]), "several 1688 SKUs"),
            (lines(&["CUP:20", "CUP:10"]), "twice"),
        ];
        for (wanted, needle) in cases {
            let err = plan_order("shop1", &wanted, &m).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let many: Vec<WantedLine> = (0..51)
            .map(|i| WantedLine {
                merchant_sku: format!("S{i}"),
                quantity: Decimal::ONE,
            })
            .collect();
        assert_eq!(
            plan_order("shop1", &many, &m).unwrap_err(),
            CreateError::TooManySkus { count: 51 }
        );
        assert_eq!(
            plan_order("shop1", &[], &m).unwrap_err(),
            CreateError::NoLines
        );
    }

    #[test]
    fn quantities_and_amounts_beyond_exact_decimals_are_refused_naming_the_line() {
        let err = WantedLine::parse("CUP:1000000001").unwrap_err();
        assert_eq!(err, CreateError::TooMuch("CUP:1000000001".into()));
        assert!(err.to_string().contains("at most 1000000000"), "{err}");
        assert!(WantedLine::parse("CUP:1000000000").is_ok());

        let mut m = mapped();
        m.get_mut("BAG").unwrap()[0].unit_price = Some(Decimal::MAX);
        let err = plan_order("shop2", &lines(&["BAG:2"]), &m).unwrap_err();
        assert_eq!(err, CreateError::OutOfRange { sku: "BAG".into() });
        let mut m = mapped();
        m.get_mut("BAG").unwrap()[0].quantity_ratio = d("0.0000000000000000000000000001");
        let err = plan_order("shop2", &lines(&["BAG:100"]), &m).unwrap_err();
        assert_eq!(err, CreateError::OutOfRange { sku: "BAG".into() });
    }

    #[test]
    fn an_expired_offer_cannot_be_ordered() {
        let mut m = mapped();
        m.get_mut("BAG").unwrap()[0].status = "expired".into();
        let err = plan_order("shop2", &lines(&["BAG:1"]), &m).unwrap_err();
        assert!(matches!(err, CreateError::NotBuyable { .. }), "{err}");
    }

    #[test]
    fn a_line_reads_as_sku_and_quantity() {
        assert_eq!(WantedLine::parse("A:B:3").unwrap().merchant_sku, "A:B");
        for bad in ["CUP", "CUP:", "CUP:0", ":3", "CUP:-1", "CUP:x"] {
            assert!(WantedLine::parse(bad).is_err(), "{bad}");
        }
    }
}
