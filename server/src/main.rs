//! The `rollcall` binary. Everything lives in the library so tests can drive it.

use clap::Parser;

// Server rendering allocates many small strings; mimalloc handles that far better than glibc's
// allocator under concurrency (measured by bench/users-page).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = rollcall_server::config::Cli::parse();
    rollcall_server::telemetry::init(cli.log_format);
    match rollcall_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rollcall: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
