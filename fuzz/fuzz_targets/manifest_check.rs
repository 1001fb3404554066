//! The sidecar readers of `verify`: `model.tar.gz.manifest.json` (JSON,
//! schema, digests, members by name) and `SHA256SUMS` (coreutils lines).
//!
//! The archive is fixed: the example model packed by sm-pack itself once per
//! process (deterministic bytes), so a seed made by scripts/fuzz.sh from
//! `sm-pack xgboost testdata/example/churn-xgboost.json` matches it exactly
//! and the fuzzer starts from a fully consistent manifest. The input is the
//! manifest, then [`SEPARATOR`], then the SHA256SUMS text; without a
//! separator the whole input is the manifest and SHA256SUMS is absent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::pack::{Family, PackJob, pack};
use sm_pack::verify::{Sidecar, Target, VerifyOptions, verify_archive};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Between the manifest and the SHA256SUMS text in an input.
const SEPARATOR: &[u8] = b"\n\x00--SHA256SUMS--\x00\n";

const EXAMPLE: &[u8] = include_bytes!("../../testdata/example/churn-xgboost.json");

/// The folder holding `model.tar.gz` (and the sidecars of the current input).
fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = sm_pack_fuzz::scratch().join("manifest");
        std::fs::create_dir_all(&dir).expect("scratch");
        let model = sm_pack_fuzz::scratch().join("churn-xgboost.json");
        std::fs::write(&model, EXAMPLE).expect("write model");
        let mut job =
            PackJob::new(Family::Xgboost, &model, dir.join("model.tar.gz")).expect("pack job");
        job.options.overwrite = true;
        job.options.threads = 1;
        let outcome = pack(&job).expect("pack the example");
        assert!(outcome.packed);
        dir
    })
}

fn split(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        Some(i) => (&data[..i], Some(&data[i + SEPARATOR.len()..])),
        None => (data, None),
    }
}

fuzz_target!(|data: &[u8]| {
    // Packing the archive (once) is outside the budget.
    let dir = folder();
    sm_pack_fuzz::budget(data.len(), || {
        let archive = dir.join("model.tar.gz");
        let manifest = dir.join("model.tar.gz.manifest.json");
        let sums = dir.join("SHA256SUMS");
        let (m, s) = split(data);
        std::fs::write(&manifest, m).expect("write manifest");
        match s {
            Some(s) => std::fs::write(&sums, s).expect("write sums"),
            None => {
                let _ = std::fs::remove_file(&sums);
            }
        }
        // BlazingText: the cheapest container simulation; the sidecar checks
        // are the same for every target.
        let opts = VerifyOptions {
            target: Target::Blazingtext,
            manifest: Sidecar::Auto,
            sums: Sidecar::Auto,
            ..VerifyOptions::default()
        };
        let r = verify_archive(&archive, &opts).expect("verify with readable sidecars");
        let _ = r.human_lines();
        let _ = serde_json::to_string(&r);
        // A manifest byte-identical to the one sm-pack wrote must check clean.
        assert!(r.manifest.is_some(), "the manifest was not checked");
    })
});
