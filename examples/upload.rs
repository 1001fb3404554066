//! Upload an archive sm-pack made (with its manifest and `SHA256SUMS`) to S3:
//! per-part SHA-256 checks, a read-back comparison, the upload recorded in the
//! local manifest. Needs the `s3` feature (on by default).
//!
//! ```sh
//! cargo run --example pack
//! cargo run --example upload -- target/example-pack/model.tar.gz s3://my-bucket/models/churn/
//! # against an S3-compatible store (e.g. the local test server of scripts/s3-server.sh):
//! cargo run --example upload -- target/example-pack/model.tar.gz s3://bucket/p/ http://127.0.0.1:4566
//! ```
//!
//! Credentials come from the usual AWS places (environment, `~/.aws`, SSO,
//! instance roles); they are never printed.

use sm_pack::s3::{ObjectStatus, S3Settings, S3Uri, TransferOptions, upload_archive_file};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [archive, destination, rest @ ..] = args.as_slice() else {
        eprintln!("usage: upload ARCHIVE s3://BUCKET/PREFIX/ [ENDPOINT_URL]");
        std::process::exit(2);
    };
    let archive = PathBuf::from(archive);
    let settings = S3Settings {
        // An S3-compatible store is usually addressed path-style.
        path_style: !rest.is_empty(),
        endpoint_url: rest.first().cloned(),
        ..S3Settings::default()
    };
    let result = S3Uri::parse(destination).and_then(|dest| {
        upload_archive_file(&archive, &dest, settings, TransferOptions::default())
    });
    match result {
        Ok(report) => {
            for object in std::iter::once(&report.archive).chain(&report.sidecars) {
                let status = match object.status {
                    ObjectStatus::Uploaded => "uploaded",
                    ObjectStatus::AlreadyUploaded => "already there",
                };
                println!("{status:<13} {} ({} bytes)", object.record.uri, object.size);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
