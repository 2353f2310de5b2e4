//! A 1688 offer (product) as the purchaser adds it to the ERP, with its SKUs.

use rust_decimal::Decimal;

use super::order::SupplierRef;

/// One quantity break of an offer's price.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceRange {
    /// The least quantity at which `price` applies.
    pub start_quantity: Decimal,
    pub price: Decimal,
}

/// A 1688 offer read from `alibaba.cross.productInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct Product1688 {
    pub offer_id: i64,
    pub subject: String,
    /// 1688's status: `published`, `expired`, `deleted`, … kept as sent.
    pub status: String,
    pub supplier: SupplierRef,
    pub category: Option<String>,
    pub unit: Option<String>,
    pub min_order_quantity: Option<Decimal>,
    pub price_ranges: Vec<PriceRange>,
    /// At least one: an offer without SKUs has a single SKU with an empty spec id.
    pub skus: Vec<ProductSku1688>,
}

/// One SKU of an offer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductSku1688 {
    /// Empty for the single SKU of an offer without SKUs.
    pub spec_id: String,
    pub sku_id: Option<i64>,
    /// `name:value` pairs joined by `; `, as on order lines.
    pub attributes: String,
    pub price: Option<Decimal>,
    pub cargo_number: Option<String>,
    /// Units on sale (`amountOnSale`).
    pub stock: Option<i64>,
}

impl Product1688 {
    /// Whether the offer can still be bought.
    pub fn is_buyable(&self) -> bool {
        self.status == "published"
    }
}
