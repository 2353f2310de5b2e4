//! The 1688 Open API client: signing, tokens, typed calls, errors, rate limit.

pub mod client;
pub mod error;
pub mod json;
pub mod node;
pub mod orders;
pub mod page_scan;
pub mod products;
pub mod purchasing;
pub mod signing;
pub mod time;
pub mod token;
pub mod token_store;

pub use client::{Api, Client1688, OrderFilter, RetryPolicy, http_client};
pub use error::ApiError;
pub use orders::{OrderListPage, OrderParseError};
