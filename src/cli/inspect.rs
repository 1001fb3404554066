//! `sm-pack inspect`: what a model file is, detected from its bytes.

use super::args::InspectArgs;
use super::{Ctx, REPORT_SCHEMA, render};
use anyhow::Result;
use serde_json::json;
use sm_pack::report::Findings;
use std::io::Read;

/// What the first bytes of a file say it is.
enum Kind {
    FastText,
    Gzip,
    Other,
}

fn sniff(path: &std::path::Path) -> Result<Kind> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| sm_pack::Error::io("open", path, e))?;
    let n = f
        .read(&mut head)
        .map_err(|e| sm_pack::Error::io("read", path, e))?;
    Ok(match &head[..n] {
        [0xBA, 0x16, 0x4F, 0x2F] => Kind::FastText,
        [0x1f, 0x8b, ..] => Kind::Gzip,
        _ => Kind::Other,
    })
}

pub fn run_inspect(ctx: &Ctx, a: &InspectArgs) -> Result<i32> {
    match sniff(&a.file)? {
        Kind::FastText => {
            let mut opts = sm_pack::fasttext::Options::default();
            // Inspecting is not deploying: report quantization as a fact.
            opts.allow_quantized = true;
            let i = sm_pack::fasttext::inspect_file_with(&a.file, &opts)?;
            let code = if i.findings.has_errors() { 1 } else { 0 };
            if ctx.json {
                let report = json!({
                    "schema": REPORT_SCHEMA,
                    "command": "inspect",
                    "ok": code == 0,
                    "exit_code": code,
                    "input": a.file,
                    "format": "fasttext",
                    "model": i.summary_json(),
                    "findings": i.findings,
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", a.file.display());
                print!("{}", i.human_summary());
                render::findings(ctx, &i.findings);
            }
            Ok(code)
        }
        Kind::Gzip => anyhow::bail!(sm_pack::Error::Usage {
            message: format!(
                "{} is gzip data (an archive?); archive inspection comes with `sm-pack verify`",
                a.file.display()
            )
        }),
        Kind::Other => anyhow::bail!(sm_pack::Error::Usage {
            message: format!(
                "{}: XGBoost inspection is not available in this build yet",
                a.file.display()
            )
        }),
    }
}
