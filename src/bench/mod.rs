//! Benchmarks of sync1688 against the sandbox and a fresh database: `sync1688 bench`.

pub mod process_memory;

pub use process_memory::ProcessMemory;
