//! `sync1688`: parse the command line, run the command, exit with its status.

use std::process::ExitCode;

use clap::Parser;
use sync1688::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sync1688: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(sync1688::commands::execute(cli))
}
