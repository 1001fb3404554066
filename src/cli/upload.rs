//! `sm-pack upload` and the `--upload` option of the packing commands.
//! (Owned by the S3 work; this is the placeholder it replaces.)

use clap::Args;
use std::path::PathBuf;

/// Upload options shared by `xgboost`/`fasttext` (with `--upload`) and `upload`.
#[derive(Debug, Args, Default, Clone)]
pub struct UploadFlags {
    /// Upload the archive (and its manifest and SHA256SUMS) to this S3 prefix while packing,
    /// e.g. s3://bucket/models/churn/.
    #[arg(long, value_name = "S3_URI")]
    pub upload: Option<String>,
}

/// `sm-pack upload ARCHIVE S3_URI`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The model.tar.gz to upload (its manifest and SHA256SUMS beside it go too).
    pub archive: PathBuf,
    /// Destination prefix or key, e.g. s3://bucket/models/churn/.
    pub destination: String,
}

pub fn run_upload(_ctx: &super::Ctx, _args: &UploadArgs) -> anyhow::Result<i32> {
    anyhow::bail!("S3 upload is not built yet")
}
