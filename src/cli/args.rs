//! Command-line definitions (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Validate XGBoost and fastText models and pack them for Amazon SageMaker.
///
/// sm-pack reads the model, checks it deeply, and writes a deterministic
/// model.tar.gz in the layout the SageMaker built-in XGBoost or BlazingText
/// container loads, with model.tar.gz.manifest.json and SHA256SUMS beside it.
///
/// Exit codes: 0 success; 1 the model or archive failed validation;
/// 2 usage, I/O or network error; 130 interrupted.
#[derive(Debug, Parser)]
#[command(
    name = "sm-pack",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print a machine-readable JSON report on stdout (schema sm-pack.report/v1).
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    /// Print only errors.
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,
    /// Print more detail (every finding, including info).
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub verbose: bool,
    /// When to use colour (NO_COLOR in the environment means never, unless "always").
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, help_heading = "Global options")]
    pub color: ColorChoice,
    /// Defaults from this file (default: SM_PACK_CONFIG, else sm-pack.toml in the current
    /// folder or a parent up to the git root). Command-line flags win.
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,
    /// Ignore sm-pack.toml and SM_PACK_CONFIG.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "config"
    )]
    pub no_config: bool,
}

/// Colour setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an XGBoost model and pack it as xgboost-model in model.tar.gz.
    #[command(
        after_help = "Examples:\n  sm-pack xgboost model.json -o model.tar.gz\n  sm-pack xgboost models/ --out-dir dist --container 1.7-1 --keep-going"
    )]
    Xgboost(PackArgs),
    /// Validate a fastText model (.bin/.ftz) and pack it as model.bin for BlazingText.
    #[command(
        visible_alias = "blazingtext",
        after_help = "Examples:\n  sm-pack fasttext langid.bin -o model.tar.gz\n  sm-pack fasttext models/ --out-dir dist"
    )]
    Fasttext(PackArgs),
    /// Show what a model file is: format, version, shapes, settings, findings.
    #[command(
        after_help = "Examples:\n  sm-pack inspect model.json\n  sm-pack inspect --json langid.bin"
    )]
    Inspect(InspectArgs),
    /// Check an existing model.tar.gz the way SageMaker will: layout, what the container
    /// loads, model validity, manifest and SHA256SUMS digests. Nothing is extracted.
    #[command(
        after_help = "Examples:\n  sm-pack verify model.tar.gz\n  sm-pack verify model.tar.gz --container 1.7-1\n  sm-pack verify langid.tar.gz --blazingtext\n\nExit codes: 0 clean (warnings allowed), 1 error findings, 2 I/O or usage error."
    )]
    Verify(super::verify::VerifyArgs),
    /// List the SageMaker container tags: pinned xgboost/Python, discovery rules, image URIs.
    #[command(after_help = "Example:\n  sm-pack containers --region eu-west-1")]
    Containers(super::verify::ContainersArgs),
    /// Predict locally with sm-pack's pure-Rust evaluators (same numbers as the real library).
    #[command(
        after_help = "Examples:\n  sm-pack predict langid.bin --input lines.txt -k 2\n  echo 'some text' | sm-pack --json predict langid.bin"
    )]
    Predict(super::predict::PredictArgs),
    /// Convert an XGBoost model so that a SageMaker container tag loads it and predicts the
    /// same numbers (encoding, dialect, base_score, objective configuration, layouts).
    #[command(
        after_help = "Examples:\n  sm-pack convert model.ubj --container 1.3-1 -o model.json\n  sm-pack convert model.pkl --container 1.7-1 --to json -o xgboost-model\n\nExit codes: 0 converted, 1 refused (nothing written), 2 I/O or usage error."
    )]
    Convert(super::convert::ConvertArgs),
    /// Upload an existing model.tar.gz (with its manifest and SHA256SUMS) to S3, verified.
    #[command(after_help = "Example:\n  sm-pack upload model.tar.gz s3://my-bucket/models/churn/")]
    Upload(super::upload::UploadArgs),
    /// Serve a model.tar.gz locally exactly as the SageMaker container would answer it
    /// (GET /ping, POST /invocations, GET /execution-parameters), for tests without Docker or AWS.
    #[command(
        after_help = "Examples:\n  sm-pack serve model.tar.gz --container 1.7-1 --port 8080\n  sm-pack serve langid.tar.gz --blazingtext --port 0\n\nThe first line on stdout is `listening on http://ADDR:PORT`. SIGINT/SIGTERM stop it\ncleanly (exit 0). Exit codes: 1 the container would not load the archive, 2 usage or I/O error."
    )]
    Serve(super::serve::ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  sm-pack completions bash > ~/.local/share/bash-completion/completions/sm-pack\n  sm-pack completions zsh > ~/.zfunc/_sm-pack    # with fpath+=(~/.zfunc) before compinit\n  sm-pack completions fish > ~/.config/fish/completions/sm-pack.fish"
    )]
    Completions(super::docs::CompletionsArgs),
    /// Print the manual page (roff), or write one page per subcommand with --out-dir.
    #[command(
        after_help = "Examples:\n  sm-pack man | man -l -\n  sm-pack man --out-dir ~/.local/share/man/man1"
    )]
    Man(super::docs::ManArgs),
}

/// Options of the packing commands.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The model file. With --out-dir: model files, folders of models or quoted glob patterns.
    pub model: PathBuf,
    /// More models (with --out-dir).
    #[arg(value_name = "MODEL")]
    pub more_models: Vec<PathBuf>,
    /// Archive to write; model.tar.gz.manifest.json and SHA256SUMS go beside it.
    #[arg(short, long, default_value = "model.tar.gz")]
    pub output: PathBuf,
    /// Overwrite the archive and its sidecars if they exist.
    #[arg(long)]
    pub force: bool,
    /// SageMaker container tag to target (e.g. 1.7-1). XGBoost: a model this tag would not
    /// load, or would mispredict, is converted for it (see --no-convert). Without it the
    /// model is judged against the newest tag and never converted.
    #[arg(long, value_name = "TAG")]
    pub container: Option<String>,
    /// XGBoost: pack the model as given even when --container's tag would not load it or
    /// would mispredict; exit 1 in that case.
    #[arg(long, requires = "container")]
    pub no_convert: bool,
    /// Sample to predict before packing: XGBoost, a request body (text/csv, text/libsvm
    /// or application/x-recordio-protobuf rows); fastText, text lines. With --expect, packing stops (exit 1, nothing written)
    /// when the model that goes into the archive predicts anything else.
    #[arg(long, value_name = "FILE", requires = "expect")]
    pub sample: Option<PathBuf>,
    /// The predictions expected for --sample, in the layout `sm-pack predict` prints
    /// (XGBoost: one comma-separated row per line; fastText: `label prob ...` per line,
    /// or the BlazingText JSON / JSON Lines response).
    #[arg(long, value_name = "FILE", requires = "sample")]
    pub expect: Option<PathBuf>,
    /// Sample check tolerance: |got - expected| <= TOL x max(1, |expected|)
    /// [default: 1e-6 for XGBoost, 1e-5 for fastText, whose CLI prints 6 digits].
    #[arg(long, value_name = "TOL")]
    pub tolerance: Option<f64>,
    /// gzip level: 0 stores; 1 (fastest) to 9 (smallest) set the LZ77 effort on blocks with
    /// repeated strings (JSON, text, zero runs). Blocks without them, such as float weight
    /// matrices, are Huffman-coded alike at every level 1-9, several times faster than LZ77
    /// and no larger. The default, 6, is gzip's (formats/archive.md, "gzip").
    #[arg(long, default_value_t = sm_pack::archive::DEFAULT_LEVEL, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,
    /// Compression threads (0 = one per CPU). The output is the same for any value.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Store the bytes of a symlinked model instead of refusing it.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// fastText only: pack a quantized (.ftz) model, although BlazingText
    /// hosting of quantized models is unverified.
    #[arg(long)]
    pub allow_quantized: bool,
    #[command(flatten)]
    pub upload: super::upload::UploadFlags,
    #[command(flatten)]
    pub batch: super::batch::BatchFlags,
}

/// Options of `sm-pack inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A model file (XGBoost or fastText) or a model.tar.gz; detected from the bytes.
    pub file: PathBuf,
    /// XGBoost: exit 1 unless this container tag loads the model and predicts the same numbers.
    #[arg(long, value_name = "TAG")]
    pub container: Option<String>,
}
