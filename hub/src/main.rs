//! `pghd-hub`: the command-line entry point. Parses arguments and hands over to the
//! library; see docs/cli.md.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pghd_hub::cli::Cli::parse();
    match pghd_hub::cli::run(
        cli,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
