//! Deployment hints after packing: the image URI for the chosen tag and
//! region, and the `aws sagemaker create-model` command / CreateModel request
//! pointing at the uploaded archive or at a marked placeholder.

mod report_support;

use report_support::*;
use serde_json::Value;

fn example() -> String {
    fixture("example/churn-xgboost.json")
}

/// The image URI `sm-pack containers` prints for a tag (human output).
fn containers_uri(dir: &std::path::Path, region: &str, tag: &str) -> String {
    let r = run(dir, &["containers", "--region", region]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{tag} ")))
        .unwrap_or_else(|| panic!("no {tag} line:\n{}", r.stdout));
    line.split_whitespace().last().expect("uri").to_string()
}

#[test]
fn image_uri_for_the_chosen_tag_and_region_matches_the_containers_table() {
    let d = tempfile::tempdir().unwrap();
    let r = report(
        d.path(),
        &[
            "xgboost",
            &example(),
            "--container",
            "1.7-1",
            "--region",
            "eu-central-1",
        ],
        0,
    );
    let dep = &r["deploy"];
    assert_eq!(dep["region"], "eu-central-1");
    assert_eq!(dep["region_source"], "--region");
    assert_eq!(dep["image"]["tag"], "1.7-1");
    assert_eq!(dep["image"]["tag_defaulted"], false);
    let uri = containers_uri(d.path(), "eu-central-1", "1.7-1");
    assert_eq!(dep["image"]["uri"], uri.as_str());
    assert_eq!(
        uri,
        "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    );
    assert_eq!(
        dep["create_model"]["PrimaryContainer"]["Image"],
        uri.as_str()
    );
    // Not uploaded: the archive location is a marked placeholder.
    assert_eq!(dep["uploaded"], false);
    assert_eq!(dep["model_data_url"], "<S3_URI_OF_MODEL_TAR_GZ>");
    let placeholders: Vec<&str> = dep["placeholders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        placeholders,
        ["<EXECUTION_ROLE_ARN>", "<S3_URI_OF_MODEL_TAR_GZ>"]
    );
    let cli = dep["aws_cli"].as_str().unwrap();
    assert!(
        cli.starts_with(
            "aws sagemaker create-model --region eu-central-1 --model-name churn-xgboost-"
        ),
        "{cli}"
    );
    // Placeholders are quoted, so pasting the command cannot redirect anything.
    assert!(cli.contains("'<EXECUTION_ROLE_ARN>'"), "{cli}");
    assert!(
        cli.contains(&format!(
            "--primary-container 'Image={uri},ModelDataUrl=<S3_URI_OF_MODEL_TAR_GZ>'"
        )),
        "{cli}"
    );
    // The model name carries the archive digest.
    let sha = r["outcome"]["manifest"]["archive"]["sha256"]
        .as_str()
        .unwrap();
    assert_eq!(
        dep["model_name"],
        format!("churn-xgboost-{}", &sha[..8]).as_str()
    );
    // The human report prints the same.
    let h = run(
        d.path(),
        &[
            "xgboost",
            &example(),
            "--container",
            "1.7-1",
            "--region",
            "eu-central-1",
            "--force",
        ],
    );
    assert_eq!(h.code, 0, "{}", h.stderr);
    assert!(
        h.stdout
            .contains(&format!("image {uri}  (eu-central-1, from --region)")),
        "{}",
        h.stdout
    );
    assert!(
        h.stdout
            .contains("aws sagemaker create-model --region eu-central-1 \\"),
        "{}",
        h.stdout
    );
    assert!(
        h.stdout.contains("replace <S3_URI_OF_MODEL_TAR_GZ>"),
        "{}",
        h.stdout
    );
    // --quiet: no hints.
    let q = run(
        d.path(),
        &[
            "-q",
            "xgboost",
            &example(),
            "--region",
            "eu-central-1",
            "--force",
        ],
    );
    assert_eq!(q.code, 0);
    assert!(!q.stdout.contains("create-model"), "{}", q.stdout);
}

#[test]
fn region_from_the_environment_and_how_to_choose_without_one() {
    let d = tempfile::tempdir().unwrap();
    // AWS_DEFAULT_REGION when AWS_REGION is unset; the newest tag by default.
    let mut c = bin(d.path());
    c.env("AWS_DEFAULT_REGION", "ap-southeast-2")
        .args(["--json", "xgboost", &example()]);
    let r: Value = serde_json::from_slice(&c.output().unwrap().stdout).unwrap();
    assert_eq!(r["deploy"]["region"], "ap-southeast-2");
    assert_eq!(r["deploy"]["region_source"], "AWS_DEFAULT_REGION");
    assert_eq!(r["deploy"]["image"]["tag_defaulted"], true);
    let newest = r["outcome"]["container"]["tag"].as_str().unwrap();
    assert_eq!(r["deploy"]["image"]["tag"], newest);
    assert_eq!(
        r["deploy"]["image"]["uri"],
        containers_uri(d.path(), "ap-southeast-2", newest).as_str()
    );
    // AWS_REGION wins over AWS_DEFAULT_REGION; --region over both.
    let mut c = bin(d.path());
    c.env("AWS_DEFAULT_REGION", "ap-southeast-2")
        .env("AWS_REGION", "us-west-2")
        .args(["--json", "xgboost", &example(), "-o", "b.tar.gz"]);
    let r: Value = serde_json::from_slice(&c.output().unwrap().stdout).unwrap();
    assert_eq!(r["deploy"]["region"], "us-west-2");
    assert_eq!(r["deploy"]["region_source"], "AWS_REGION");
    // No region anywhere: no URI, a placeholder, and how to choose.
    let r = report(d.path(), &["xgboost", &example(), "-o", "c.tar.gz"], 0);
    assert_eq!(r["deploy"]["region"], Value::Null);
    assert_eq!(r["deploy"]["image"]["uri"], Value::Null);
    assert_eq!(
        r["deploy"]["create_model"]["PrimaryContainer"]["Image"],
        "<IMAGE_URI>"
    );
    let notes = r["deploy"]["notes"].to_string();
    assert!(notes.contains("--region"), "{notes}");
    assert!(notes.contains("AWS_REGION"), "{notes}");
    // A region without images is said, not guessed.
    let r = report(
        d.path(),
        &[
            "xgboost",
            &example(),
            "-o",
            "d.tar.gz",
            "--region",
            "xx-nowhere-1",
        ],
        0,
    );
    assert_eq!(r["deploy"]["image"]["uri"], Value::Null);
    assert!(
        r["deploy"]["notes"].to_string().contains("not published"),
        "{}",
        r["deploy"]
    );
}

#[test]
fn without_container_the_image_is_a_tag_that_loads_what_was_packed() {
    // A legacy binary from xgboost 1.7.4: the newest tag (3.2-0) cannot load
    // it and, without --container, nothing is converted. The create-model
    // hint must not name 3.2-0's image but the newest tag that loads the
    // file as packed, and say how to deploy on the newest one instead.
    let d = tempfile::tempdir().unwrap();
    let r = report(
        d.path(),
        &[
            "xgboost",
            &fixture("xgboost/1.7.4/logistic.bin"),
            "--region",
            "us-east-1",
        ],
        0,
    );
    let check = &r["outcome"]["container"];
    assert_eq!(check["default_tag"], true);
    assert_eq!(check["verdict"]["outcome"], "fails_to_load");
    let newest = check["tag"].as_str().unwrap();
    let loads_in: Vec<&str> = check["loads_in"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let chosen = *loads_in.last().expect("some tag loads a 1.7.4 binary");
    assert_ne!(chosen, newest);
    let dep = &r["deploy"];
    assert_eq!(dep["image"]["tag"], chosen);
    let uri = containers_uri(d.path(), "us-east-1", chosen);
    assert_eq!(dep["image"]["uri"], uri.as_str());
    assert_eq!(
        dep["create_model"]["PrimaryContainer"]["Image"],
        uri.as_str()
    );
    let notes = dep["notes"].to_string();
    assert!(
        notes.contains(&format!("pack with --container {newest}")),
        "{notes}"
    );
    assert!(!notes.contains("is the newest tag; pin"), "{notes}");
}

#[test]
fn blazingtext_image_for_a_fasttext_model() {
    let d = tempfile::tempdir().unwrap();
    let r = report(
        d.path(),
        &[
            "fasttext",
            &fixture("fasttext/sup_softmax.bin"),
            "--region",
            "us-west-2",
        ],
        0,
    );
    let dep = &r["deploy"];
    assert_eq!(dep["image"]["family"], "blazingtext");
    assert_eq!(
        dep["image"]["uri"],
        "433757028032.dkr.ecr.us-west-2.amazonaws.com/blazingtext:1"
    );
    let c = run(d.path(), &["containers", "--region", "us-west-2"]);
    assert!(
        c.stdout
            .contains("433757028032.dkr.ecr.us-west-2.amazonaws.com/blazingtext:1"),
        "{}",
        c.stdout
    );
}

#[test]
fn no_hints_when_nothing_can_be_deployed() {
    let d = tempfile::tempdir().unwrap();
    // Refused by validation.
    let r = report(
        d.path(),
        &[
            "xgboost",
            &fixture("example/churn-xgboost-broken.json"),
            "--region",
            "eu-west-1",
        ],
        1,
    );
    assert_eq!(r["deploy"], Value::Null);
    // Packed as given for a tag that would mispredict it.
    let r = report(
        d.path(),
        &[
            "xgboost",
            &fixture("xgboost/3.2.0/logistic.json"),
            "--container",
            "1.7-1",
            "--no-convert",
            "--region",
            "eu-west-1",
        ],
        1,
    );
    assert_eq!(r["deploy"], Value::Null);
    let h = run(
        d.path(),
        &[
            "xgboost",
            &fixture("xgboost/3.2.0/logistic.json"),
            "--container",
            "1.7-1",
            "--no-convert",
            "--force",
        ],
    );
    assert_eq!(h.code, 1);
    assert!(!h.stdout.contains("create-model"), "{}", h.stdout);
}

#[cfg(feature = "s3")]
mod s3_support;

#[cfg(feature = "s3")]
#[test]
fn uploaded_archive_is_the_model_data_url() {
    use s3_support::{S3, TestEnv, bucket_name, endpoint};
    let Some(endpoint) = endpoint() else { return };
    let env = TestEnv::new();
    let s3 = S3::new(&endpoint);
    let bucket = bucket_name("deploy-hints");
    s3.create_bucket(&bucket);
    let dest = format!("s3://{bucket}/models/churn/");
    let model = example();
    let r = env.run(&[
        "--json",
        "xgboost",
        &model,
        "--container",
        "1.7-1",
        "--upload",
        &dest,
        "--endpoint-url",
        &endpoint,
        "--path-style",
    ]);
    r.ok();
    let v = r.json();
    let dep = &v["deploy"];
    let uri = format!("{dest}model.tar.gz");
    assert_eq!(v["upload"]["archive"]["uri"], uri.as_str());
    assert_eq!(dep["uploaded"], true);
    assert_eq!(dep["model_data_url"], uri.as_str());
    assert_eq!(
        dep["create_model"]["PrimaryContainer"]["ModelDataUrl"],
        uri.as_str()
    );
    // TestEnv sets AWS_REGION=us-east-1, which is where the upload went.
    assert_eq!(dep["region"], "us-east-1");
    assert_eq!(dep["region_source"], "upload");
    assert_eq!(
        dep["image"]["uri"],
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    );
    assert_eq!(
        dep["placeholders"],
        serde_json::json!(["<EXECUTION_ROLE_ARN>"])
    );
    let errors = schema_errors(&validator(), &v);
    assert!(errors.is_empty(), "{errors:#?}");
}
