//! `sm-pack containers`: the tag table, pinned versions and image URIs.

mod common;

use common::{bin, stderr, stdout};

fn containers(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = bin();
    c.env_remove("AWS_REGION").env_remove("AWS_DEFAULT_REGION");
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("containers")
        .args(args)
        .output()
        .expect("run sm-pack")
}

#[test]
fn json_table_has_every_tag_with_pins_and_uris() {
    let o = containers(&["--json", "--region", "us-west-2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["command"], "containers");
    assert_eq!(v["region"], "us-west-2");
    assert_eq!(v["region_defaulted"], false);
    let tags: Vec<&str> = v["xgboost"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["tag"].as_str())
        .collect();
    assert_eq!(
        tags,
        [
            "0.90-1", "0.90-2", "1.0-1", "1.2-1", "1.2-2", "1.3-1", "1.5-1", "1.7-1", "3.0-5",
            "3.2-0"
        ]
    );
    let t = |tag: &str| {
        v["xgboost"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["tag"] == tag))
            .cloned()
            .expect("tag")
    };
    assert_eq!(
        t("1.7-1")["image_uri"],
        "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"
    );
    assert_eq!(t("1.7-1")["xgboost"], "1.7.4");
    assert_eq!(t("1.0-1")["image_tag"], "1.0-1-cpu-py3");
    assert_eq!(
        t("1.5-1")["graviton_image_uri"],
        "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.5-1-arm64"
    );
    assert_eq!(t("3.2-0")["reads"]["legacy_binary"], "fails");
    assert_eq!(t("3.2-0")["reads"]["ubjson"], "loads");
    assert_eq!(t("1.3-1")["max_pickle_protocol"], 4);
    assert_eq!(t("0.90-1")["discovery"], "first-entry");
    assert_eq!(t("1.2-2")["skip_dotfiles"], false);
    assert_eq!(
        v["blazingtext"]["image_uri"],
        "433757028032.dkr.ecr.us-west-2.amazonaws.com/blazingtext:1"
    );
}

#[test]
fn region_comes_from_the_environment_or_defaults_with_a_note() {
    let o = containers(&[], &[]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("us-east-1"), "{out}");
    assert!(out.contains("pass --region"), "{out}");
    assert!(
        out.contains("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
        "{out}"
    );

    let o = containers(&[], &[("AWS_DEFAULT_REGION", "eu-west-1")]);
    assert!(
        stdout(&o).contains("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.2-0")
    );
    let o = containers(
        &[],
        &[
            ("AWS_REGION", "cn-north-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1"),
        "{out}"
    );
    assert!(!out.contains("pass --region"), "{out}");
}

#[test]
fn unknown_region_is_a_usage_error_listing_the_valid_ones() {
    let o = containers(&["--region", "mars-north-1"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("mars-north-1") && err.contains("us-west-2"),
        "{err}"
    );
}

#[test]
fn every_image_uri_matches_the_sagemaker_sdk_data() {
    // testdata/containers/image-uris.json holds the SDK's repositories, tags
    // and region -> account maps; every tag x region URI the embedded table
    // makes must name the same account, repository and tag.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/containers/image-uris.json");
    let sdk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read image-uris.json")).expect("JSON");
    let table = sm_pack::container::ContainerTable::builtin().expect("table");
    let xgb = &sdk["sagemaker-xgboost"];
    let versions = xgb["versions"].as_object().expect("versions");
    let regions = xgb["registries"].as_object().expect("registries");
    let tags: Vec<&str> = table.xgboost.iter().map(|c| c.tag.as_str()).collect();
    let mut sdk_tags: Vec<&str> = versions.keys().map(String::as_str).collect();
    sdk_tags.sort();
    let mut ours = tags.clone();
    ours.sort();
    assert_eq!(ours, sdk_tags, "the table's tags are the SDK's");
    let mut checked = 0;
    for tag in &tags {
        for (region, account) in regions {
            let uri = table.image_uri(tag, region).expect("uri");
            let account = account.as_str().expect("account");
            let image_tag = versions[*tag].as_str().expect("image tag");
            assert!(
                uri.starts_with(&format!("{account}.dkr.ecr.")),
                "{tag} {region}: {uri}"
            );
            assert!(
                uri.ends_with(&format!("/sagemaker-xgboost:{image_tag}")),
                "{tag} {region}: {uri}"
            );
            assert!(uri.contains(region.as_str()), "{tag} {region}: {uri}");
            checked += 1;
        }
    }
    for c in &table.xgboost {
        assert_eq!(
            c.graviton_tag.as_deref(),
            xgb["graviton_tags"][c.tag.as_str()].as_str(),
            "Graviton tag of {}",
            c.tag
        );
    }
    let bt = &sdk["blazingtext"];
    for (region, account) in bt["registries"].as_object().expect("registries") {
        let uri = table.blazingtext_image_uri(region).expect("uri");
        let account = account.as_str().expect("account");
        assert!(
            uri.starts_with(&format!("{account}.dkr.ecr.")),
            "{region}: {uri}"
        );
        assert!(uri.ends_with("/blazingtext:1"), "{region}: {uri}");
        checked += 1;
    }
    // 10 tags x 37 regions + 37 BlazingText regions.
    assert_eq!(checked, tags.len() * regions.len() + 37);
}
