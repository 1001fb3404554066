//! Human-readable reports.

use super::Ctx;
use super::style::{self, paint};
use sm_pack::pack::{Family, PackOutcome};
use sm_pack::report::{Finding, Severity};
use std::path::Path;

pub fn finding_line(ctx: &Ctx, f: &Finding) -> String {
    let (code, label) = match f.severity {
        Severity::Error => (style::RED, "error"),
        Severity::Warning => (style::YELLOW, "warning"),
        Severity::Info => (style::DIM, "info"),
    };
    let mut s = format!(
        "  {} {} {}",
        paint(ctx.style.out, code, label),
        paint(ctx.style.out, style::DIM, &format!("[{}]", f.code)),
        f.message
    );
    if let Some(loc) = &f.location {
        s.push_str(&format!(" (at {loc})"));
    }
    if let Some(h) = &f.hint {
        s.push_str(&format!(
            "\n      {} {h}",
            paint(ctx.style.out, style::DIM, "fix:")
        ));
    }
    s
}

pub fn findings(ctx: &Ctx, list: &[Finding]) {
    for f in list {
        if f.severity == Severity::Info && !ctx.verbose {
            continue;
        }
        if ctx.quiet && f.severity != Severity::Error {
            continue;
        }
        println!("{}", finding_line(ctx, f));
    }
}

pub fn pack_report(ctx: &Ctx, family: Family, model: &Path, outcome: &PackOutcome) {
    let (Some(manifest), Some(files)) = (&outcome.manifest, &outcome.files) else {
        println!(
            "{} {} was not packed: validation found errors",
            paint(ctx.style.out, style::RED, "refused:"),
            model.display()
        );
        findings(ctx, &outcome.findings);
        return;
    };
    if ctx.quiet {
        findings(ctx, &outcome.findings);
        return;
    }
    println!(
        "{} {} model {} -> {}",
        paint(ctx.style.out, style::GREEN, "packed"),
        family.as_str(),
        model.display(),
        files.archive.display()
    );
    if let Some(line) = outcome.model.as_ref().and_then(model_line) {
        println!("  model     {line}");
    }
    // The summary describes the packed (converted) file; say what was given.
    if let Some(from) = outcome
        .manifest
        .as_ref()
        .and_then(|m| m.conversion.as_ref())
        .map(|c| &c["from"])
    {
        println!(
            "  given     {}, saved by xgboost {} (converted; see below)",
            from["encoding"].as_str().unwrap_or("?"),
            from["producer"].as_str().unwrap_or("?")
        );
    }
    if let Some(line) = outcome.model.as_ref().and_then(endpoint_line) {
        println!("  endpoint  {line}");
    }
    findings(ctx, &outcome.findings);
    println!(
        "  archive   {}  {} bytes  sha256 {}",
        files.archive.display(),
        manifest.archive.size,
        manifest.archive.sha256
    );
    for m in &manifest.members {
        println!(
            "  member    {}  {} bytes  mode {}  sha256 {}",
            m.name, m.size, m.mode, m.sha256
        );
    }
    if let Some(s) = &manifest.sample {
        println!(
            "  sample    {}: {} rows predict {} (largest |Δ| {:.3e}, tolerance {:e}; {})",
            s.input, s.rows, s.expected, s.max_abs_diff, s.tolerance, s.semantics
        );
    }
    println!("  manifest  {}", files.manifest.display());
    println!(
        "  checksums {}  (check with: sha256sum -c {})",
        files.sha256sums.display(),
        files
            .sha256sums
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
}

/// For a fastText model: the BlazingText mode and the request body its
/// endpoint expects (from the summary's `blazingtext` object); `None` for
/// other formats.
pub fn endpoint_line(summary: &serde_json::Value) -> Option<String> {
    let bt = &summary["blazingtext"];
    let mode = bt["mode"].as_str()?;
    Some(format!(
        "BlazingText {mode}: POST {} {}",
        bt["content_type"].as_str().unwrap_or("application/json"),
        bt["request"]
    ))
}

/// One line about the model from its reader's summary (XGBoost or fastText).
pub fn model_line(summary: &serde_json::Value) -> Option<String> {
    let s = summary;
    let num = |v: &serde_json::Value| v.as_i64().unwrap_or(0);
    if s["format"] == "fasttext" {
        let mut line = format!(
            "fastText {} ({} loss), dim {}, {} words",
            s["kind"].as_str()?,
            s["loss"].as_str().unwrap_or("?"),
            num(&s["dim"]),
            num(&s["dictionary"]["nwords"])
        );
        let labels = num(&s["dictionary"]["nlabels"]);
        if labels > 0 {
            line.push_str(&format!(", {labels} labels"));
        }
        if s["quantization"]["quantized"] == true {
            line.push_str(", quantized");
        }
        return Some(line);
    }
    let mut line = format!(
        "XGBoost {} saved by xgboost {}: {}, {}",
        s["container"]
            .as_str()
            .or_else(|| s["encoding"].as_str())
            .unwrap_or("?"),
        s["producer"]["version"].as_str().unwrap_or("?"),
        s["objective"].as_str()?,
        s["booster"].as_str().unwrap_or("?"),
    );
    let trees = num(&s["trees"]["num_trees"]);
    if trees > 0 {
        line.push_str(&format!(", {trees} trees"));
    }
    line.push_str(&format!(", {} features", num(&s["num_feature"])));
    let classes = num(&s["num_class"]);
    if classes > 1 {
        line.push_str(&format!(", {classes} classes"));
    }
    Some(line)
}
