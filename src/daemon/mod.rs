//! `sync1688 run`: the long-running service. One worker per account, woken by its cron
//! schedule; health and metrics on `http.listen`; systemd notifications; a graceful
//! stop on SIGTERM.

pub mod lease;
pub mod schedule;
mod service;
pub mod systemd;

pub use service::Daemon;
