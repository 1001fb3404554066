//! The command-line front end: parse, call the library, render, exit code.

pub mod args;
mod batch;
pub mod config;
mod convert;
mod deploy;
mod docs;
mod inspect;
pub mod predict;
mod render;
pub mod serve;
pub mod style;
pub mod upload;
pub mod verify;

use anyhow::Result;
use args::{Cli, Command, PackArgs};
use serde_json::json;
use sm_pack::pack::{Family, PackJob, PackOutcome, pack_with};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use style::Style;

/// Report schema identifier for `--json` output.
pub const REPORT_SCHEMA: &str = "sm-pack.report/v1";

/// Exit code for an interrupted run (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Context shared by commands.
pub struct Ctx {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub style: Style,
    pub cancel: Arc<AtomicBool>,
}

/// Runs the parsed command line and returns the exit code.
pub fn run(mut cli: Cli, matches: &clap::ArgMatches, cancel: Arc<AtomicBool>) -> i32 {
    let ctx = Ctx {
        json: cli.global.json,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
        style: Style::detect(cli.global.color),
        cancel,
    };
    if let Err(err) = config::apply(&mut cli, matches) {
        return report_error(&ctx, matches.subcommand_name().unwrap_or("sm-pack"), &err);
    }
    let (name, result) = match &cli.command {
        Command::Xgboost(a) => ("xgboost", run_pack(&ctx, Family::Xgboost, a)),
        Command::Fasttext(a) => ("fasttext", run_pack(&ctx, Family::Blazingtext, a)),
        Command::Upload(a) => ("upload", upload::run_upload(&ctx, a)),
        Command::Serve(a) => ("serve", serve::run_serve(&ctx, a)),
        Command::Inspect(a) => ("inspect", inspect::run_inspect(&ctx, a)),
        Command::Predict(a) => ("predict", predict::run_predict(&ctx, a)),
        Command::Convert(a) => ("convert", convert::run_convert(&ctx, a)),
        Command::Verify(a) => ("verify", verify::run_verify(&ctx, a)),
        Command::Containers(a) => ("containers", verify::run_containers(&ctx, a)),
        Command::Completions(a) => ("completions", docs::run_completions(&ctx, a)),
        Command::Man(a) => ("man", docs::run_man(&ctx, a)),
    };
    match result {
        Ok(code) => code,
        Err(err) => report_error(&ctx, name, &err),
    }
}

fn error_code(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<sm_pack::Error>() {
        Some(sm_pack::Error::Interrupted) => EXIT_INTERRUPTED,
        Some(e) => e.exit_code(),
        None => 2,
    }
}

/// The error and its causes on one line, skipping a cause whose text the
/// message before it already contains (library errors include their source).
fn chain_message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Prints an error (and a JSON report when asked) and returns its exit code.
fn report_error(ctx: &Ctx, command: &str, err: &anyhow::Error) -> i32 {
    let code = error_code(err);
    let lib = err.downcast_ref::<sm_pack::Error>();
    let hint = lib.and_then(|e| e.hint());
    let message = chain_message(err);
    if ctx.json {
        let report = json!({
            "schema": REPORT_SCHEMA,
            "command": command,
            "ok": false,
            "exit_code": code,
            "error": {
                "message": message,
                "hint": hint,
                "validation_failure": lib.is_some_and(|e| e.is_validation_failure()),
            },
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    eprintln!(
        "{} {message}",
        style::paint(ctx.style.err, style::RED, "error:")
    );
    if let Some(h) = hint {
        eprintln!("  {} {h}", style::paint(ctx.style.err, style::DIM, "hint:"));
    }
    code
}

/// The library's progress callback that moves `bar`, when there is one.
pub(crate) fn progress_fn(
    bar: &Option<indicatif::ProgressBar>,
) -> Option<sm_pack::archive::ProgressFn> {
    let b = bar.clone()?;
    Some(Arc::new(move |n| b.set_position(n)))
}

fn progress_bar(ctx: &Ctx, total: u64) -> Option<indicatif::ProgressBar> {
    progress_bar_for(ctx, total, "packing")
}

/// A progress bar on stderr for `total` bytes of work called `what`
/// (packing, verifying, uploading); none unless stderr is a terminal, the
/// output is for humans and the work is large enough to take a while.
pub(crate) fn progress_bar_for(
    ctx: &Ctx,
    total: u64,
    what: &str,
) -> Option<indicatif::ProgressBar> {
    // Only worth drawing for inputs that take a noticeable time.
    if ctx.quiet || ctx.json || !std::io::stderr().is_terminal() || total < (64 << 20) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            &format!(
                "{{spinner}} {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
            ),
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Some(bar)
}

/// The subcommand that packs a family (`fasttext` for BlazingText, also when
/// invoked as `blazingtext`): the `command` of its JSON report.
pub(crate) fn pack_command(family: Family) -> &'static str {
    match family {
        Family::Blazingtext => "fasttext",
        _ => "xgboost",
    }
}

fn run_pack(ctx: &Ctx, family: Family, a: &PackArgs) -> Result<i32> {
    if let Some(code) = batch::run_if_batch(ctx, family, a)? {
        return Ok(code);
    }
    if let Some(code) = upload::dry_run_pack(ctx, family, a)? {
        return Ok(code);
    }
    let mut uploader = upload::PackUpload::new(ctx, &a.upload, a.force)?;
    let mut job = PackJob::new(family, &a.model, &a.output)?;
    job.container = a.container.clone();
    job.no_convert = a.no_convert;
    if let (Some(input), Some(expected)) = (&a.sample, &a.expect) {
        job.sample = Some(sm_pack::xgboost::predict::SampleGate {
            input: input.clone(),
            expected: expected.clone(),
            tolerance: a.tolerance.unwrap_or(match family {
                Family::Xgboost => sm_pack::xgboost::predict::DEFAULT_TOLERANCE,
                _ => sm_pack::fasttext::sample::DEFAULT_TOLERANCE,
            }),
        });
    }
    job.options.level = a.level;
    job.options.threads = a.threads;
    job.options.follow_symlinks = a.follow_symlinks;
    job.options.overwrite = a.force;
    job.fasttext.allow_quantized = a.allow_quantized;
    job.options.cancel = Some(ctx.cancel.clone());
    let total = std::fs::metadata(&a.model).map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(ctx, total);
    job.options.progress = progress_fn(&bar);
    let outcome = pack_with(&job, uploader.publisher());
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let outcome: PackOutcome = outcome.map_err(|e| uploader.map_error(e))?;
    let code = outcome.exit_code();
    let upload_json = uploader.json();
    let uploaded = upload_json
        .as_ref()
        .and_then(|u| Some((u["archive"]["uri"].as_str()?, u["region"].as_str()?)));
    // A region sm-pack.toml filled in is reported as the config's, not as --region.
    let region = a.upload.s3.region.as_deref();
    let (flag_region, config_region) = if config::applied().region {
        (None, region)
    } else {
        (region, None)
    };
    let hints = deploy::hints(
        family,
        &a.model,
        &outcome,
        uploaded,
        flag_region,
        config_region,
    );
    if ctx.json {
        let mut report = json!({
            "schema": REPORT_SCHEMA,
            "command": pack_command(family),
            "ok": code == 0,
            "exit_code": code,
            "family": family,
            "input": a.model,
            "outcome": outcome,
            "deploy": hints,
        });
        if let (Some(obj), Some(up)) = (report.as_object_mut(), upload_json) {
            obj.insert("upload".into(), up);
        }
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        render::pack_report(ctx, family, &a.model, &outcome);
        convert::render_container_check(ctx, &outcome);
        uploader.render(ctx);
        if let Some(d) = &hints {
            deploy::render(ctx, d);
        }
    }
    Ok(code)
}
