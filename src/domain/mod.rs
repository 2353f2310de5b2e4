//! Pure types and rules shared by the sync, the store and the commands. Nothing here
//! does I/O.

pub mod mapping;
pub mod order;
pub mod product;
pub mod purchasing;
pub mod receiving;
pub mod status;
pub mod window;

pub use mapping::{MappingTable, MappingTarget, SkuMapping};
pub use order::{
    IncomingLine, IncomingOrder, KnownOrders, Line1688, LineMapping, Order1688, RawHash,
    SupplierRef,
};
pub use product::{PriceRange, Product1688, ProductSku1688};
pub use receiving::{
    LineToReceive, OrderAfterReceipt, OrderToReceive, OutstandingLine, OverReceipt, ReceiptPlan,
    ReceiptRequest, ReceivedLine, ReceivingError, ReceivingWarehouse, Scan, TrackingSource,
    WarehouseError,
};
pub use status::{MappingStatus, PoStatus, RunKind, RunStatus};
pub use window::SyncWindow;
