//! `sm-pack.toml`: optional project defaults (container tag, region, S3
//! bucket and prefix, gzip level, threads, AWS profile), so that a CI step
//! can be one short line.
//!
//! Where it is found: `--config FILE`, else `SM_PACK_CONFIG`, else the first
//! `sm-pack.toml` in the current folder or its parents up to and including
//! the git repository's root (the first folder with a `.git` entry); outside
//! a git repository only the current folder is looked at. `--no-config`
//! ignores all of them.
//!
//! Precedence: command-line flags win over everything; for the region and
//! the AWS profile the variables the AWS tools read (`AWS_REGION`,
//! `AWS_DEFAULT_REGION`, `AWS_PROFILE`) also win over the file. Unknown keys
//! are an error that names the key and the file.

use super::args::{Cli, Command};
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file name looked for.
pub const FILE_NAME: &str = "sm-pack.toml";
/// Environment variable naming a config file.
pub const ENV_VAR: &str = "SM_PACK_CONFIG";

/// The contents of `sm-pack.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// XGBoost container tag for `xgboost`, `verify` and `convert` (`--container`).
    pub container: Option<String>,
    /// AWS region: image URIs (deployment hints, `containers`) and S3 (`--region`).
    pub region: Option<String>,
    /// AWS profile for uploads (`--profile`).
    pub profile: Option<String>,
    /// gzip level 0-9 (`--level`).
    pub level: Option<u32>,
    /// Compression threads, 0 = one per CPU (`--threads`).
    pub threads: Option<usize>,
    /// Upload defaults.
    #[serde(default)]
    pub upload: UploadConfig,
}

/// The `[upload]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadConfig {
    /// S3 bucket.
    pub bucket: Option<String>,
    /// Key prefix inside the bucket (a folder: `models/churn/`).
    pub prefix: Option<String>,
    /// `xgboost`/`fasttext` upload every archive they pack to `s3://bucket/prefix`
    /// (as `--upload`). Off by default: packing uploads only when asked to.
    #[serde(default)]
    pub on_pack: bool,
}

impl UploadConfig {
    /// `s3://bucket/prefix` (a prefix gets a trailing `/`), when a bucket is set.
    pub fn destination(&self) -> Option<String> {
        let bucket = self.bucket.as_deref()?.trim();
        let prefix = self.prefix.as_deref().unwrap_or("").trim_matches('/');
        Some(if prefix.is_empty() {
            format!("s3://{bucket}/")
        } else {
            format!("s3://{bucket}/{prefix}/")
        })
    }
}

/// A config file and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// How it was found: `--config`, `SM_PACK_CONFIG` or `search`.
    pub how: &'static str,
    /// Its contents.
    pub config: Config,
}

/// What was taken from the config file (for the deployment hints).
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// `--region` was filled in from the file.
    pub region: bool,
    /// The `[upload]` destination of the file, when it sets a bucket.
    pub destination: Option<String>,
}

static APPLIED: OnceLock<Applied> = OnceLock::new();

/// What the config file contributed to this run (empty when none was used).
pub fn applied() -> &'static Applied {
    APPLIED.get_or_init(Applied::default)
}

fn usage(message: String) -> anyhow::Error {
    sm_pack::Error::Usage { message }.into()
}

/// Parses a config file's text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Config> {
    let config: Config = toml::from_str(text).map_err(|e| {
        // toml's message names the key ("unknown field `colour`, expected one of ...")
        // and shows the line; keep it whole, prefixed by the file.
        usage(format!("{}: {}", path.display(), e.to_string().trim_end()))
    })?;
    if let Some(l) = config.level
        && l > 9
    {
        return Err(usage(format!(
            "{}: level = {l}: the gzip level is 0 to 9",
            path.display()
        )));
    }
    if config.upload.on_pack && config.upload.bucket.is_none() {
        return Err(usage(format!(
            "{}: [upload] on_pack = true needs a bucket",
            path.display()
        )));
    }
    Ok(config)
}

fn read(path: &Path, how: &'static str) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::Error::new(sm_pack::Error::io("read config file", path, e)))?;
    Ok(Loaded {
        path: path.to_path_buf(),
        how,
        config: parse(&text, path)?,
    })
}

/// The `sm-pack.toml` that applies in `start`: in it or a parent, up to the
/// git root; only `start` itself outside a git repository.
pub fn search(start: &Path) -> Option<PathBuf> {
    let in_git = start.ancestors().any(|d| d.join(".git").exists());
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !in_git || dir.join(".git").exists() {
            return None;
        }
    }
    None
}

/// Finds and reads the config file for this run, if any.
pub fn load(explicit: Option<&Path>, disabled: bool) -> anyhow::Result<Option<Loaded>> {
    if disabled {
        return Ok(None);
    }
    if let Some(p) = explicit {
        return read(p, "--config").map(Some);
    }
    if let Some(p) = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()) {
        return read(Path::new(&p), ENV_VAR).map(Some);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::Error::new(sm_pack::Error::io("read", Path::new("."), e)))?;
    match search(&cwd) {
        Some(p) => read(&p, "search").map(Some),
        None => Ok(None),
    }
}

/// True when the argument was not given on the command line (default or absent).
fn unset(m: Option<&ArgMatches>, id: &str) -> bool {
    m.is_none_or(|m| {
        !matches!(
            m.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    })
}

fn env_set(names: &[&str]) -> bool {
    names
        .iter()
        .any(|n| std::env::var(n).is_ok_and(|v| !v.trim().is_empty()))
}

/// Fills the region and profile of S3 flags from the file; true when the region was filled.
fn fill_s3(
    s3: &mut super::upload::S3Flags,
    region: &Option<String>,
    profile: Option<&String>,
    keys: &mut Vec<String>,
) -> bool {
    let mut filled = false;
    if s3.region.is_none()
        && let Some(r) = region
    {
        s3.region = Some(r.clone());
        keys.push(format!("region = {r}"));
        filled = true;
    }
    if s3.profile.is_none()
        && let Some(p) = profile
    {
        s3.profile = Some(p.clone());
        keys.push(format!("profile = {p}"));
    }
    filled
}

/// Fills the options the command line left unset from the config file.
pub fn apply(cli: &mut Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    let loaded = load(cli.global.config.as_deref(), cli.global.no_config)?;
    let Some(loaded) = loaded else {
        let _ = APPLIED.set(Applied::default());
        return Ok(());
    };
    let c = &loaded.config;
    let mut keys: Vec<String> = Vec::new();
    let sub = matches.subcommand().map(|(_, m)| m);
    // The region and profile from the file, unless the AWS variables set them.
    let region = c
        .region
        .clone()
        .filter(|_| !env_set(&["AWS_REGION", "AWS_DEFAULT_REGION"]));
    let profile = c.profile.clone().filter(|_| !env_set(&["AWS_PROFILE"]));
    let mut region_filled = false;
    let is_xgboost = matches!(cli.command, Command::Xgboost(_));
    match &mut cli.command {
        Command::Xgboost(a) | Command::Fasttext(a) => {
            if is_xgboost
                && a.container.is_none()
                && let Some(t) = &c.container
            {
                a.container = Some(t.clone());
                keys.push(format!("container = {t}"));
            }
            if unset(sub, "level")
                && let Some(l) = c.level
            {
                a.level = l;
                keys.push(format!("level = {l}"));
            }
            if unset(sub, "threads")
                && let Some(t) = c.threads
            {
                a.threads = t;
                keys.push(format!("threads = {t}"));
            }
            if a.upload.upload.is_none()
                && c.upload.on_pack
                && let Some(d) = c.upload.destination()
            {
                keys.push(format!("upload = {d}"));
                a.upload.upload = Some(d);
            }
            // The profile only means something with an upload; the region
            // also picks the image of the deployment hints.
            let profile = profile.as_ref().filter(|_| a.upload.upload.is_some());
            region_filled = fill_s3(&mut a.upload.s3, &region, profile, &mut keys);
        }
        Command::Upload(a) => {
            if a.destination.is_none()
                && let Some(d) = c.upload.destination()
            {
                keys.push(format!("destination = {d}"));
                a.destination = Some(d);
            }
            region_filled = fill_s3(&mut a.s3, &region, profile.as_ref(), &mut keys);
        }
        Command::Verify(a) => {
            if a.container.is_none()
                && !a.blazingtext
                && let Some(t) = &c.container
            {
                a.container = Some(t.clone());
                keys.push(format!("container = {t}"));
            }
        }
        Command::Convert(a) => {
            if a.container.is_none()
                && let Some(t) = &c.container
            {
                a.container = Some(t.clone());
                keys.push(format!("container = {t}"));
            }
        }
        Command::Containers(a) => {
            if a.region.is_none()
                && let Some(r) = &region
            {
                a.region = Some(r.clone());
                keys.push(format!("region = {r}"));
                region_filled = true;
            }
        }
        _ => {}
    }
    if cli.global.verbose && !cli.global.json {
        let what = if keys.is_empty() {
            "nothing for this command".to_string()
        } else {
            keys.join(", ")
        };
        let how = match loaded.how {
            "search" => "found",
            other => other,
        };
        eprintln!("config: {} ({how}): {what}", loaded.path.display());
    }
    let _ = APPLIED.set(Applied {
        region: region_filled,
        destination: c.upload.destination(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_is_a_prefix() {
        let u = |b: Option<&str>, p: Option<&str>| UploadConfig {
            bucket: b.map(String::from),
            prefix: p.map(String::from),
            on_pack: false,
        };
        assert_eq!(u(None, Some("x")).destination(), None);
        assert_eq!(u(Some("b"), None).destination().unwrap(), "s3://b/");
        assert_eq!(
            u(Some("b"), Some("/models/churn")).destination().unwrap(),
            "s3://b/models/churn/"
        );
        assert_eq!(
            u(Some("b"), Some("models/churn/")).destination().unwrap(),
            "s3://b/models/churn/"
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_file() {
        let p = Path::new("/repo/sm-pack.toml");
        let e = parse("container = \"1.7-1\"\ncolour = \"red\"\n", p).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("/repo/sm-pack.toml") && m.contains("colour"),
            "{m}"
        );
        let e = parse("[upload]\nbuckit = \"b\"\n", p).unwrap_err();
        assert!(e.to_string().contains("buckit"), "{e}");
        let e = parse("level = 10\n", p).unwrap_err();
        assert!(e.to_string().contains("0 to 9"), "{e}");
        let e = parse("level = \"fast\"\n", p).unwrap_err();
        assert!(e.to_string().contains("level"), "{e}");
        let c = parse(
            "container = \"1.7-1\"\nregion = \"eu-west-1\"\nprofile = \"ml\"\nlevel = 9\nthreads = 2\n[upload]\nbucket = \"b\"\nprefix = \"p/\"\non_pack = true\n",
            p,
        )
        .unwrap();
        assert_eq!(c.level, Some(9));
        assert!(c.upload.on_pack);
    }
}
