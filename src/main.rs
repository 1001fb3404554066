//! The `sm-pack` binary: a thin shell over the `sm_pack` library.

mod cli;

use clap::{CommandFactory, FromArgMatches};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn main() {
    // Behave like other Unix tools when the reader of stdout goes away
    // (`sm-pack verify x.tar.gz | head`): end quietly instead of panicking.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let flag = cancel.clone();
        // A second signal while cleanup runs ends the process at once,
        // after removing the temporary files (destructors will not run).
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                sm_pack::output::remove_temporary_files();
                eprintln!("error: interrupted twice: stopped at once, temporary files removed");
                std::process::exit(cli::EXIT_INTERRUPTED);
            }
        });
    }
    let matches = cli::args::Cli::command().get_matches();
    let parsed = cli::args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let code = cli::run(parsed, &matches, cancel);
    std::process::exit(code);
}
