//! sync1688: brings a seller's 1688.com purchase orders into their ERP.
//!
//! The crate is laid out by responsibility: [`api1688`] talks to the 1688 Open API,
//! [`sandbox`] stands in for it, [`sync`] pulls orders into the [`store`], and
//! [`domain`] holds the pure types and rules they share.

pub mod accounts;
pub mod api1688;
pub mod app;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod domain;
pub mod fuzzing;
pub mod health;
pub mod http;
pub mod imports;
pub mod labels;
pub mod memory;
pub mod metrics;
pub mod products;
pub mod purchasing;
pub mod receive;
pub mod sandbox;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod telemetry;
