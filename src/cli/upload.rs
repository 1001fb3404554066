//! `sm-pack upload` and the `--upload` option of the packing commands.

use super::Ctx;
use super::args::PackArgs;
use clap::{Args, ValueEnum};
use sm_pack::pack::Family;
use std::path::PathBuf;

/// Server-side encryption choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SseChoice {
    /// SSE-KMS (pair with --sse-kms-key-id, else the bucket's default key).
    #[value(name = "aws:kms")]
    AwsKms,
    /// SSE-S3.
    #[value(name = "AES256")]
    Aes256,
}

/// S3 connection and transfer options (all commands that upload).
#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "S3 upload")]
pub struct S3Flags {
    /// AWS profile from ~/.aws/config (default: AWS_PROFILE, else "default").
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: AWS_REGION, the profile, or the instance's region). When
    /// packing it also picks the container image URI of the deployment hints.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store (default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Path-style addressing (endpoint/bucket/key), for S3-compatible stores.
    #[arg(long)]
    pub path_style: bool,
    /// Refuse the upload unless the bucket belongs to this AWS account id.
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub expected_bucket_owner: Option<String>,
    /// Server-side encryption of the uploaded objects.
    #[arg(long, value_enum, value_name = "MODE")]
    pub sse: Option<SseChoice>,
    /// KMS key id, ARN or alias for --sse aws:kms.
    #[arg(long, value_name = "KEY", requires = "sse")]
    pub sse_kms_key_id: Option<String>,
    /// Multipart part size, at least 5MiB (default 8MiB; grown for objects that would need
    /// more than 10,000 parts).
    #[arg(long, value_name = "SIZE", value_parser = parse_part_size)]
    pub part_size: Option<u64>,
    /// Parts uploaded at the same time (memory: at most (this + 4) × part size).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// Print what would be uploaded where, and contact nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_part_size(s: &str) -> Result<u64, String> {
    #[cfg(feature = "s3")]
    {
        let n = sm_pack::s3::parse_size(s)?;
        if n < sm_pack::s3::MIN_PART_SIZE {
            return Err("S3 parts are at least 5MiB".into());
        }
        Ok(n)
    }
    #[cfg(not(feature = "s3"))]
    {
        s.parse::<u64>().map_err(|e| e.to_string())
    }
}

impl S3Flags {
    /// Options that only make sense with an upload (`--region` also picks the
    /// image URI of the deployment hints, so it is allowed without one).
    fn any_set(&self) -> bool {
        self.profile.is_some()
            || self.endpoint_url.is_some()
            || self.path_style
            || self.expected_bucket_owner.is_some()
            || self.sse.is_some()
            || self.sse_kms_key_id.is_some()
            || self.part_size.is_some()
            || self.concurrency.is_some()
            || self.dry_run
    }

    /// Any option besides --dry-run (which a batch also takes without --upload).
    pub(crate) fn any_other_than_dry_run(&self) -> bool {
        let mut rest = self.clone();
        rest.dry_run = false;
        rest.any_set()
    }
}

/// Upload options of `xgboost`/`fasttext`.
#[derive(Debug, Args, Default, Clone)]
pub struct UploadFlags {
    /// Upload the archive (and its manifest and SHA256SUMS) to this S3 prefix (ending in /)
    /// or key while packing, e.g. s3://bucket/models/churn/. With --force an existing
    /// different object is replaced.
    #[arg(long, value_name = "S3_URI", help_heading = "S3 upload")]
    pub upload: Option<String>,
    #[command(flatten)]
    pub s3: S3Flags,
}

/// `sm-pack upload ARCHIVE S3_URI`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The model.tar.gz to upload (its manifest and SHA256SUMS beside it go too; the local
    /// manifest then records the upload).
    pub archive: PathBuf,
    /// Destination prefix (ending in /) or exact key, e.g. s3://bucket/models/churn/
    /// (default: the [upload] bucket and prefix of sm-pack.toml).
    pub destination: Option<String>,
    /// Replace an existing object with different content.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub s3: S3Flags,
}

#[cfg(feature = "s3")]
pub use enabled::{PackUpload, batch_upload, dry_run_pack, run_upload};

#[cfg(not(feature = "s3"))]
pub use disabled::{PackUpload, dry_run_pack, run_upload};

#[cfg(not(feature = "s3"))]
mod disabled {
    use super::*;

    const NOT_BUILT: &str =
        "this sm-pack was built without S3 support; rebuild with `cargo build --features s3`";

    /// Stand-in when the `s3` feature is off: refuses upload options.
    pub struct PackUpload;

    impl PackUpload {
        pub fn new(_ctx: &Ctx, flags: &UploadFlags, _force: bool) -> anyhow::Result<Self> {
            if flags.upload.is_some() || flags.s3.any_set() {
                anyhow::bail!(NOT_BUILT);
            }
            Ok(PackUpload)
        }

        pub fn publisher(&mut self) -> Option<&mut dyn sm_pack::pack::Publisher> {
            None
        }

        pub fn map_error(&self, e: sm_pack::Error) -> anyhow::Error {
            e.into()
        }

        pub fn json(&self) -> Option<serde_json::Value> {
            None
        }

        pub fn render(&self, _ctx: &Ctx) {}
    }

    pub fn dry_run_pack(_ctx: &Ctx, _family: Family, _a: &PackArgs) -> anyhow::Result<Option<i32>> {
        Ok(None)
    }

    pub fn run_upload(_ctx: &Ctx, _args: &UploadArgs) -> anyhow::Result<i32> {
        anyhow::bail!(NOT_BUILT)
    }
}

#[cfg(feature = "s3")]
mod enabled {
    use super::*;
    use crate::cli::REPORT_SCHEMA;
    use crate::cli::style::{self, paint};
    use serde_json::json;
    use sm_pack::s3::{
        ArchiveUpload, Method, ObjectReport, ObjectStatus, S3Settings, S3Uri, Sse, TestHooks,
        TransferOptions, UploadError, UploadPlan, UploadReport,
    };
    use std::time::Duration;

    fn settings(f: &S3Flags) -> S3Settings {
        S3Settings {
            profile: f.profile.clone(),
            region: f.region.clone(),
            endpoint_url: f.endpoint_url.clone(),
            path_style: f.path_style,
            expected_bucket_owner: f.expected_bucket_owner.clone(),
            sse: f.sse.map(|s| match s {
                SseChoice::AwsKms => Sse::Kms {
                    key_id: f.sse_kms_key_id.clone(),
                },
                SseChoice::Aes256 => Sse::Aes256,
            }),
        }
    }

    /// Fault injection for the test suite only (hidden; not documented for users).
    fn test_hooks() -> TestHooks {
        let num = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        TestHooks {
            corrupt_part: num("SM_PACK_TEST_CORRUPT_PART").and_then(|n| u32::try_from(n).ok()),
            part_delay: num("SM_PACK_TEST_PART_DELAY_MS").map(Duration::from_millis),
        }
    }

    fn transfer(ctx: &Ctx, f: &S3Flags, force: bool) -> TransferOptions {
        TransferOptions {
            part_size: f.part_size,
            concurrency: f.concurrency.map(usize::from),
            force,
            cancel: Some(ctx.cancel.clone()),
            progress: None,
            hooks: test_hooks(),
        }
    }

    fn check_flags(f: &S3Flags) -> anyhow::Result<()> {
        if f.sse_kms_key_id.is_some() && f.sse != Some(SseChoice::AwsKms) {
            anyhow::bail!("--sse-kms-key-id needs --sse aws:kms");
        }
        Ok(())
    }

    /// An upload error as the user should read it (exit code 2, or 130).
    fn upload_error(e: UploadError) -> anyhow::Error {
        match e {
            UploadError::Local(e) => e.into(),
            UploadError::Interrupted => sm_pack::Error::Interrupted.into(),
            other => anyhow::anyhow!("{other}"),
        }
    }

    /// The S3 side of a packing command.
    pub struct PackUpload {
        upload: Option<ArchiveUpload>,
    }

    impl PackUpload {
        /// Reads the flags; nothing is contacted yet.
        pub fn new(ctx: &Ctx, flags: &UploadFlags, force: bool) -> anyhow::Result<Self> {
            let Some(uri) = &flags.upload else {
                if flags.s3.any_set() {
                    anyhow::bail!("S3 options need --upload s3://bucket/prefix/");
                }
                return Ok(PackUpload { upload: None });
            };
            check_flags(&flags.s3)?;
            let dest = S3Uri::parse(uri).map_err(upload_error)?;
            let up = ArchiveUpload::new(settings(&flags.s3), dest, transfer(ctx, &flags.s3, force));
            Ok(PackUpload { upload: Some(up) })
        }

        pub fn publisher(&mut self) -> Option<&mut dyn sm_pack::pack::Publisher> {
            self.upload
                .as_mut()
                .map(|u| u as &mut dyn sm_pack::pack::Publisher)
        }

        /// Shows an upload failure as itself rather than as an I/O error.
        pub fn map_error(&self, e: sm_pack::Error) -> anyhow::Error {
            match UploadError::find(&e) {
                Some(u) => anyhow::anyhow!("{u}"),
                None => e.into(),
            }
        }

        fn report(&self) -> Option<UploadReport> {
            self.upload.as_ref().and_then(|u| u.report())
        }

        pub fn json(&self) -> Option<serde_json::Value> {
            self.report().and_then(|r| serde_json::to_value(r).ok())
        }

        pub fn render(&self, ctx: &Ctx) {
            if let Some(r) = self.report() {
                render_report(ctx, &r);
            }
        }
    }

    fn method_text(m: &Method) -> String {
        match m {
            Method::SinglePut => "single PUT".into(),
            Method::Multipart { parts, part_size } => {
                format!(
                    "multipart, {parts} parts of {}",
                    sm_pack::input::human(*part_size)
                )
            }
            Method::None => "nothing sent".into(),
        }
    }

    fn object_line(ctx: &Ctx, label: &str, o: &ObjectReport) -> String {
        let status = match o.status {
            ObjectStatus::Uploaded => paint(ctx.style.out, style::GREEN, "uploaded"),
            ObjectStatus::AlreadyUploaded => {
                paint(ctx.style.out, style::YELLOW, "already uploaded")
            }
        };
        let mut s = format!("  {label:<9} {}  {status}", o.record.uri);
        if o.status == ObjectStatus::Uploaded {
            s.push_str(&format!(" ({}; verified)", method_text(&o.method)));
        } else {
            s.push_str(" (same sha256; nothing sent)");
        }
        s
    }

    fn render_report(ctx: &Ctx, r: &UploadReport) {
        if ctx.quiet {
            return;
        }
        let a = &r.archive;
        let head = match a.status {
            ObjectStatus::Uploaded => paint(ctx.style.out, style::GREEN, "uploaded"),
            ObjectStatus::AlreadyUploaded => {
                paint(ctx.style.out, style::YELLOW, "already uploaded")
            }
        };
        println!("{head} {} ({})", a.record.uri, r.endpoint);
        println!("{}", object_line(ctx, "archive", a));
        println!(
            "            {} bytes  sha256 {}  S3 checksum {}",
            a.size,
            a.sha256,
            a.record.checksum_sha256.as_deref().unwrap_or("-")
        );
        println!(
            "            etag {}  version {}",
            a.record.etag.as_deref().unwrap_or("-"),
            a.record.version_id.as_deref().unwrap_or("-")
        );
        if let Some(on) = a.record.digest_on_object {
            println!(
                "            sha256 on the object: {}",
                digest_on_object_text(on)
            );
        }
        for (label, s) in ["manifest", "checksums"].iter().zip(&r.sidecars) {
            println!("{}", object_line(ctx, label, s));
        }
        if r.sidecars.is_empty() {
            println!("  (no manifest beside the archive: only the archive was uploaded)");
        }
        crate::cli::render::findings(ctx, &r.findings);
    }

    fn digest_on_object_text(on: sm_pack::manifest::DigestOnObject) -> &'static str {
        use sm_pack::manifest::DigestOnObject;
        match on {
            DigestOnObject::Metadata => "metadata x-amz-meta-sha256",
            DigestOnObject::Tag => "tag sha256",
            DigestOnObject::None => "none (the manifest beside it records it)",
        }
    }

    fn render_plan(ctx: &Ctx, p: &UploadPlan) {
        let how = match &p.method {
            Method::Multipart { parts, part_size } => format!(
                "multipart, up to {parts} parts of {} (single PUT if it ends up smaller than one part)",
                sm_pack::input::human(*part_size)
            ),
            m => method_text(m),
        };
        println!(
            "{} nothing was contacted; an upload would send:",
            paint(ctx.style.out, style::YELLOW, "dry run:")
        );
        println!("  archive   {}  ({how})", p.archive);
        println!("  manifest  {}", p.manifest);
        println!("  checksums {}", p.sha256sums);
        println!(
            "  endpoint  {}  region {}  profile {}{}",
            p.endpoint,
            p.region.as_deref().unwrap_or("(from the AWS config)"),
            p.profile.as_deref().unwrap_or("(default chain)"),
            if p.path_style { "  path-style" } else { "" }
        );
        if let Some(sse) = &p.sse {
            println!(
                "  encryption {}",
                serde_json::to_string(sse).unwrap_or_default()
            );
        }
        if let Some(o) = &p.expected_bucket_owner {
            println!("  expected bucket owner {o}");
        }
        println!(
            "  an existing different object would be {}",
            if p.replace_existing {
                "replaced (--force)"
            } else {
                "refused"
            }
        );
    }

    fn print_plan(
        ctx: &Ctx,
        command: &str,
        p: &UploadPlan,
        extra: serde_json::Value,
    ) -> anyhow::Result<()> {
        if ctx.json {
            let mut report = json!({
                "schema": REPORT_SCHEMA,
                "command": command,
                "ok": true,
                "exit_code": 0,
                "dry_run": true,
                "plan": p,
            });
            if let (Some(obj), Some(more)) = (report.as_object_mut(), extra.as_object()) {
                for (k, v) in more {
                    obj.insert(k.clone(), v.clone());
                }
            }
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            render_plan(ctx, p);
        }
        Ok(())
    }

    /// `--dry-run` of a packing command: validates the model, writes nothing,
    /// contacts nothing and prints the plan. `None` without `--dry-run`.
    pub fn dry_run_pack(ctx: &Ctx, family: Family, a: &PackArgs) -> anyhow::Result<Option<i32>> {
        if !a.upload.s3.dry_run {
            return Ok(None);
        }
        let Some(uri) = &a.upload.upload else {
            anyhow::bail!("--dry-run needs --upload s3://bucket/prefix/");
        };
        check_flags(&a.upload.s3)?;
        let dest = S3Uri::parse(uri).map_err(upload_error)?;
        let exam = match family {
            Family::Blazingtext => {
                let mut opts = sm_pack::pack::PackJob::new(family, &a.model, &a.output)?.fasttext;
                opts.allow_quantized = a.allow_quantized;
                sm_pack::fasttext::examine_file_with(&a.model, &opts)?
            }
            _ => sm_pack::pack::examine(family, &a.model)?,
        };
        use sm_pack::report::Findings;
        let ok = !exam.findings.has_errors();
        let size = std::fs::metadata(&a.model)
            .map_err(|e| sm_pack::Error::io("read", &a.model, e))?
            .len();
        let name = a
            .output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model.tar.gz".into());
        let plan = sm_pack::s3::plan(
            &dest,
            &name,
            sm_pack::s3::archive_size_bound(size),
            &settings(&a.upload.s3),
            &transfer(ctx, &a.upload.s3, a.force),
        )
        .map_err(upload_error)?;
        let code = if ok { 0 } else { 1 };
        if ctx.json {
            print_plan(
                ctx,
                crate::cli::pack_command(family),
                &plan,
                json!({ "ok": ok, "exit_code": code, "findings": exam.findings, "model": exam.summary }),
            )?;
        } else {
            if !ok {
                println!(
                    "{} {} would not be packed: validation found errors",
                    paint(ctx.style.out, style::RED, "refused:"),
                    a.model.display()
                );
            }
            super::super::render::findings(ctx, &exam.findings);
            if ok {
                println!(
                    "would pack {} -> {} (not written)",
                    a.model.display(),
                    a.output.display()
                );
                render_plan(ctx, &plan);
            }
        }
        Ok(Some(code))
    }

    /// The upload side of a batch (`--out-dir` with `--upload`); nothing is contacted yet.
    pub fn batch_upload(
        ctx: &Ctx,
        flags: &UploadFlags,
        force: bool,
        jobs: usize,
    ) -> anyhow::Result<Option<sm_pack::batch::BatchUpload>> {
        let Some(uri) = &flags.upload else {
            if flags.s3.any_other_than_dry_run() {
                anyhow::bail!("S3 options need --upload s3://bucket/prefix/");
            }
            return Ok(None);
        };
        check_flags(&flags.s3)?;
        let dest = S3Uri::parse(uri).map_err(upload_error)?;
        Ok(Some(sm_pack::batch::BatchUpload {
            dest,
            settings: settings(&flags.s3),
            transfer: transfer(ctx, &flags.s3, force),
            jobs,
        }))
    }

    /// `sm-pack upload ARCHIVE S3_URI`.
    pub fn run_upload(ctx: &Ctx, args: &UploadArgs) -> anyhow::Result<i32> {
        check_flags(&args.s3)?;
        let Some(destination) = args.destination.as_deref() else {
            anyhow::bail!(sm_pack::Error::Usage {
                message: "no destination: give S3_URI (s3://bucket/prefix/), or set bucket and \
                          prefix in the [upload] table of sm-pack.toml"
                    .into()
            });
        };
        let dest = S3Uri::parse(destination).map_err(upload_error)?;
        let opts = transfer(ctx, &args.s3, args.force);
        let settings = settings(&args.s3);
        if args.s3.dry_run {
            let size = std::fs::metadata(&args.archive)
                .map_err(|e| sm_pack::Error::io("read", &args.archive, e))?
                .len();
            let name = args
                .archive
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model.tar.gz".into());
            let plan =
                sm_pack::s3::plan(&dest, &name, size, &settings, &opts).map_err(upload_error)?;
            print_plan(
                ctx,
                "upload",
                &plan,
                json!({ "archive_path": args.archive }),
            )?;
            return Ok(0);
        }
        let total = std::fs::metadata(&args.archive)
            .map(|m| m.len())
            .unwrap_or(0);
        let bar = crate::cli::progress_bar_for(ctx, total, "uploading");
        let mut opts = opts;
        opts.progress = crate::cli::progress_fn(&bar).map(sm_pack::archive::Progress);
        let report = sm_pack::s3::upload_archive_file(&args.archive, &dest, settings, opts);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let report = report.map_err(upload_error)?;
        if ctx.json {
            let out = json!({
                "schema": REPORT_SCHEMA,
                "command": "upload",
                "ok": true,
                "exit_code": 0,
                "archive_path": args.archive,
                "upload": report,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            render_report(ctx, &report);
        }
        Ok(0)
    }
}
