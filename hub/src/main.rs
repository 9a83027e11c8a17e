//! `pghd-hub`: the command-line entry point. Parses arguments and hands over to the
//! library; see docs/cli.md.

use std::io::IsTerminal;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pghd_hub::cli::Cli::parse();
    let progress = std::io::stderr().is_terminal();
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match pghd_hub::cli::run(cli, &mut out, &mut err, progress) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
