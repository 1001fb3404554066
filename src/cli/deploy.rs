//! Deployment hints after packing: the container image for the chosen tag and
//! region, and a ready `aws sagemaker create-model` command (and the
//! CreateModel request as JSON) pointing at the uploaded archive, or at a
//! clearly marked placeholder when it was not uploaded.

use super::Ctx;
use super::style::{self, paint};
use serde::Serialize;
use sm_pack::container::ContainerTable;
use sm_pack::pack::{Family, PackOutcome};

/// Placeholder for the IAM role SageMaker assumes to pull the image and the archive.
pub const ROLE_PLACEHOLDER: &str = "<EXECUTION_ROLE_ARN>";
/// Placeholder for the archive's S3 URI when it was not uploaded.
pub const MODEL_DATA_PLACEHOLDER: &str = "<S3_URI_OF_MODEL_TAR_GZ>";
/// Placeholder for the image when the region is unknown.
pub const IMAGE_PLACEHOLDER: &str = "<IMAGE_URI>";

/// Where the region came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RegionSource {
    /// `--region`.
    #[serde(rename = "--region")]
    Flag,
    /// The region the archive was uploaded to (`--upload`).
    #[serde(rename = "upload")]
    Upload,
    /// `AWS_REGION`.
    #[serde(rename = "AWS_REGION")]
    AwsRegion,
    /// `AWS_DEFAULT_REGION`.
    #[serde(rename = "AWS_DEFAULT_REGION")]
    AwsDefaultRegion,
    /// The `region` of sm-pack.toml.
    #[serde(rename = "config")]
    Config,
}

impl RegionSource {
    fn describe(self) -> &'static str {
        match self {
            RegionSource::Flag => "from --region",
            RegionSource::Upload => "where the archive was uploaded",
            RegionSource::AwsRegion => "from AWS_REGION",
            RegionSource::AwsDefaultRegion => "from AWS_DEFAULT_REGION",
            RegionSource::Config => "from sm-pack.toml",
        }
    }
}

/// The image to deploy with.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// `xgboost` (SageMaker XGBoost algorithm container) or `blazingtext`.
    pub family: &'static str,
    /// The container tag (`1.7-1`; BlazingText `1`).
    pub tag: String,
    /// True when no `--container` was given and the newest tag was used.
    pub tag_defaulted: bool,
    /// The image URI in `region`, or null when the region is unknown or has no image.
    pub uri: Option<String>,
}

/// The `deploy` object of a pack report.
#[derive(Debug, Clone, Serialize)]
pub struct Deploy {
    /// The image.
    pub image: Image,
    /// The AWS region, or null when none was given (then `image.uri` is null).
    pub region: Option<String>,
    /// Where `region` came from.
    pub region_source: Option<RegionSource>,
    /// The archive's S3 URI when uploaded, else [`MODEL_DATA_PLACEHOLDER`].
    pub model_data_url: String,
    /// True when the archive was uploaded and `model_data_url` is its S3 URI.
    pub uploaded: bool,
    /// A model name derived from the model file and the archive digest.
    pub model_name: String,
    /// The SageMaker CreateModel request (API field names).
    pub create_model: serde_json::Value,
    /// `aws sagemaker create-model ...`, one line.
    pub aws_cli: String,
    /// The same command in lines, for the human report.
    #[serde(skip)]
    pub cli_lines: Vec<String>,
    /// Placeholders in `create_model` and `aws_cli` the user must replace.
    pub placeholders: Vec<&'static str>,
    /// What to do about each placeholder, and other advice.
    pub notes: Vec<String>,
}

/// The region for the hints: `--region`, the upload's, `AWS_REGION`,
/// `AWS_DEFAULT_REGION`, then the config file's.
pub fn resolve_region(
    flag: Option<&str>,
    uploaded: Option<&str>,
    config: Option<&str>,
) -> Option<(String, RegionSource)> {
    let clean = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    if let Some(r) = clean(flag) {
        return Some((r, RegionSource::Flag));
    }
    if let Some(r) = clean(uploaded) {
        return Some((r, RegionSource::Upload));
    }
    for (var, source) in [
        ("AWS_REGION", RegionSource::AwsRegion),
        ("AWS_DEFAULT_REGION", RegionSource::AwsDefaultRegion),
    ] {
        if let Some(r) = clean(std::env::var(var).ok().as_deref()) {
            return Some((r, source));
        }
    }
    clean(config).map(|r| (r, RegionSource::Config))
}

/// A SageMaker model name (`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`): the model
/// file's stem and the first 8 hex digits of the archive digest.
pub fn model_name(model_file: &std::path::Path, archive_sha256: &str) -> String {
    let stem = model_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or("");
    let mut name = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let digest: String = archive_sha256.chars().take(8).collect();
    name.truncate(63 - 1 - digest.len());
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        format!("model-{digest}")
    } else {
        format!("{name}-{digest}")
    }
}

/// Quotes a word for a POSIX shell when it needs quoting.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The hints for a packed archive, or `None` when there is nothing to deploy
/// (not packed, or the container check failed).
pub fn hints(
    family: Family,
    model: &std::path::Path,
    outcome: &PackOutcome,
    uploaded: Option<(&str, &str)>,
    region_flag: Option<&str>,
    config_region: Option<&str>,
) -> Option<Deploy> {
    if outcome.exit_code() != 0 {
        return None;
    }
    let manifest = outcome.manifest.as_ref()?;
    let table = ContainerTable::builtin().ok()?;
    let region = resolve_region(region_flag, uploaded.map(|(_, r)| r), config_region);
    let mut notes = Vec::new();
    let (image_family, mut tag, tag_defaulted) = match family {
        Family::Blazingtext => ("blazingtext", table.blazingtext.image_tag.clone(), false),
        _ => {
            let check = outcome.container.as_ref()?;
            ("xgboost", check.tag.clone(), check.default_tag)
        }
    };
    // Without --container the newest tag is only judged, nothing is converted:
    // never point the deployment at a tag that cannot load what was packed.
    let mut no_tag_loads = false;
    let mut newest_note = tag_defaulted;
    if let Some(check) = outcome
        .container
        .as_ref()
        .filter(|c| c.default_tag && !c.verdict.is_loads())
    {
        newest_note = false;
        let newest = check.tag.clone();
        match check.loads_in.last() {
            Some(t) => {
                tag = t.clone();
                notes.push(format!(
                    "{newest}, the newest tag, cannot load this file as packed, so the image is {tag}, \
                     the newest tag that loads it; to deploy on {newest}, pack with --container {newest} \
                     (sm-pack converts the model)"
                ));
            }
            None => {
                no_tag_loads = true;
                notes.push(format!(
                    "no tag loads this file as packed: pack with --container TAG (e.g. --container {newest}) \
                     and sm-pack converts the model for it"
                ));
            }
        }
    }
    let uri = match &region {
        Some(_) if no_tag_loads => None,
        Some((r, _)) => {
            let found = match family {
                Family::Blazingtext => table.blazingtext_image_uri(r),
                _ => table.image_uri(&tag, r),
            };
            match found {
                Ok(u) => Some(u),
                Err(e) => {
                    notes.push(e.to_string());
                    None
                }
            }
        }
        None => {
            notes.push(
                "the image URI depends on the region: pass --region REGION or set AWS_REGION \
                 (`sm-pack containers --region REGION` lists every image)"
                    .into(),
            );
            None
        }
    };
    if newest_note {
        notes.push(format!(
            "no --container was given: {tag} is the newest tag; pin the tag you deploy with --container"
        ));
    }
    let mut placeholders = vec![ROLE_PLACEHOLDER];
    notes.push(format!(
        "replace {ROLE_PLACEHOLDER} with the ARN of an IAM role SageMaker can assume that may read the archive"
    ));
    let model_data_url = match uploaded {
        Some((u, _)) => u.to_string(),
        None => {
            placeholders.push(MODEL_DATA_PLACEHOLDER);
            let archive = outcome
                .files
                .as_ref()
                .map(|f| f.archive.display().to_string())
                .unwrap_or_else(|| "model.tar.gz".into());
            let how = match &super::config::applied().destination {
                Some(d) => format!("`sm-pack upload {archive}` (to {d} of sm-pack.toml)"),
                None => format!("`sm-pack upload {archive} s3://BUCKET/PREFIX/`"),
            };
            notes.push(format!(
                "replace {MODEL_DATA_PLACEHOLDER}: the archive was not uploaded; upload it with \
                 {how} or pack with --upload, and use its S3 URI"
            ));
            MODEL_DATA_PLACEHOLDER.to_string()
        }
    };
    if uri.is_none() {
        placeholders.push(IMAGE_PLACEHOLDER);
    }
    let image = uri.clone().unwrap_or_else(|| IMAGE_PLACEHOLDER.to_string());
    let name = model_name(model, &manifest.archive.sha256);
    let create_model = serde_json::json!({
        "ModelName": name,
        "ExecutionRoleArn": ROLE_PLACEHOLDER,
        "PrimaryContainer": {
            "Image": image,
            "ModelDataUrl": model_data_url,
        },
    });
    let mut first = String::from("aws sagemaker create-model");
    if let Some((r, _)) = &region {
        first.push_str(&format!(" --region {}", shell_word(r)));
    }
    let cli_lines = vec![
        first,
        format!("--model-name {}", shell_word(&name)),
        format!("--execution-role-arn {}", shell_word(ROLE_PLACEHOLDER)),
        format!(
            "--primary-container {}",
            shell_word(&format!("Image={image},ModelDataUrl={model_data_url}"))
        ),
    ];
    Some(Deploy {
        image: Image {
            family: image_family,
            tag,
            tag_defaulted,
            uri,
        },
        region: region.as_ref().map(|(r, _)| r.clone()),
        region_source: region.map(|(_, s)| s),
        model_data_url,
        uploaded: uploaded.is_some(),
        model_name: name,
        create_model,
        aws_cli: cli_lines.join(" "),
        cli_lines,
        placeholders,
        notes,
    })
}

/// The deployment lines of the human pack report.
pub fn render(ctx: &Ctx, d: &Deploy) {
    if ctx.quiet {
        return;
    }
    let label = paint(ctx.style.out, style::GREEN, "deploy");
    match (&d.image.uri, &d.region, d.region_source) {
        (Some(uri), Some(region), Some(source)) => println!(
            "  {label}    image {uri}  ({region}, {})",
            source.describe()
        ),
        _ => println!(
            "  {label}    image {} {}: {}",
            d.image.family,
            d.image.tag,
            d.notes.first().map(String::as_str).unwrap_or("")
        ),
    }
    // The command, broken over lines as a user would paste it.
    let n = d.cli_lines.len();
    for (i, l) in d.cli_lines.iter().enumerate() {
        let indent = if i == 0 { "" } else { "    " };
        let more = if i + 1 < n { " \\" } else { "" };
        println!("            {indent}{l}{more}");
    }
    let skip = usize::from(d.image.uri.is_none() && d.region.is_none());
    for note in d.notes.iter().skip(skip) {
        println!(
            "            {} {note}",
            paint(ctx.style.out, style::DIM, "-")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_valid_sagemaker_names() {
        let d = "d543ed16ed670ac5a08c95aeb44a06f09e80441aa5f2d272f533ec93140d5742";
        let p = std::path::Path::new;
        assert_eq!(
            model_name(p("testdata/churn-xgboost.json"), d),
            "churn-xgboost-d543ed16"
        );
        assert_eq!(model_name(p("xgboost-model"), d), "xgboost-model-d543ed16");
        assert_eq!(model_name(p("__my model__.bin"), d), "my-model-d543ed16");
        assert_eq!(model_name(p(".bin"), d), "model-d543ed16");
        let long = model_name(p(&"x".repeat(300)), d);
        assert_eq!(long.len(), 63);
        for n in [long, model_name(p("a_b.c"), d)] {
            assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            assert!(!n.starts_with('-') && !n.ends_with('-') && !n.contains("--"));
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("eu-west-1"), "eu-west-1");
        assert_eq!(shell_word("<ROLE>"), "'<ROLE>'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(
            shell_word("Image=1.dkr.ecr/x:1.7-1,ModelDataUrl=s3://b/k"),
            "Image=1.dkr.ecr/x:1.7-1,ModelDataUrl=s3://b/k"
        );
    }
}
