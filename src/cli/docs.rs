//! `sm-pack completions SHELL` and `sm-pack man`: generated from the clap
//! definitions, so they always match the options the binary takes.

use super::Ctx;
use super::args::Cli;
use anyhow::Result;
use clap::{Args, CommandFactory};
use std::io::Write;
use std::path::PathBuf;

/// Options of `sm-pack completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options of `sm-pack man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write sm-pack.1 and one page per subcommand (sm-pack-xgboost.1, ...) into this
    /// folder (created if missing) instead of printing sm-pack.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The clap command tree, as the binary parses it (the manual pages leave
/// out clap's `help` subcommand, which has no page of its own).
fn command() -> clap::Command {
    Cli::command()
}

/// Prints the completion script for a shell on stdout.
pub fn run_completions(_ctx: &Ctx, a: &CompletionsArgs) -> Result<i32> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "sm-pack", &mut out);
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    lock.write_all(&out)?;
    lock.flush()?;
    Ok(0)
}

/// Prints the manual page (roff) on stdout, or writes every page into a folder.
pub fn run_man(ctx: &Ctx, a: &ManArgs) -> Result<i32> {
    let cmd = command();
    match &a.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd.disable_help_subcommand(true)).render(&mut out)?;
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            lock.write_all(&out)?;
            lock.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| sm_pack::Error::io("create folder", dir, e))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| sm_pack::Error::io("write manual pages in", dir, e))?;
            if !ctx.quiet && !ctx.json {
                let mut pages: Vec<String> = std::fs::read_dir(dir)
                    .map_err(|e| sm_pack::Error::io("read", dir, e))?
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("sm-pack") && n.ends_with(".1"))
                    .collect();
                pages.sort();
                eprintln!(
                    "wrote {} manual pages in {}: {}",
                    pages.len(),
                    dir.display(),
                    pages.join(" ")
                );
            }
        }
    }
    Ok(0)
}
