//! Pure types and rules shared by the sync, the store and the commands. Nothing here
//! does I/O.

pub mod mapping;
pub mod order;
pub mod status;
pub mod window;

pub use mapping::{MappingTable, MappingTarget, SkuMapping};
pub use order::{IncomingLine, IncomingOrder, Line1688, LineMapping, Order1688, SupplierRef};
pub use status::{MappingStatus, PoStatus, RunKind, RunStatus};
pub use window::SyncWindow;
