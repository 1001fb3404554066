//! Validates fastText models with sm-pack's streaming reader and prints the
//! summary, findings and elapsed time. Used for the by-hand benchmark against
//! `fasttext.load_model` (see formats/fasttext.md).
//!
//! ```sh
//! cargo run --release --example fasttext_validate -- [--json] [--push] [--load] [--allow-quantized] MODEL...
//! ```
//!
//! `--push` drives the `Write` sink (the archive writer's path) with 64 KiB
//! chunks instead of the pull reader; `--load` loads the in-memory model.
//! Exit status 1 when any model has error findings.

use sm_pack::fasttext::{Model, Options, Validator, inspect_file_with};
use sm_pack::report::Findings;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

fn main() {
    let mut opts = Options::default();
    let (mut json, mut push, mut load) = (false, false, false);
    let mut paths = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--json" => json = true,
            "--push" => push = true,
            "--load" => load = true,
            "--allow-quantized" => opts.allow_quantized = true,
            _ => paths.push(a),
        }
    }
    if paths.is_empty() {
        eprintln!(
            "usage: fasttext_validate [--json] [--push] [--load] [--allow-quantized] MODEL..."
        );
        std::process::exit(2);
    }
    let mut failed = false;
    for p in &paths {
        let path = Path::new(p);
        let t = Instant::now();
        if load {
            match Model::load(path) {
                Ok(m) => println!(
                    "{p}: loaded {} entries, input {}×{}, output {}×{} in {:.3} s",
                    m.dictionary().len(),
                    m.input().rows(),
                    m.input().cols(),
                    m.output().rows(),
                    m.output().cols(),
                    t.elapsed().as_secs_f64()
                ),
                Err(e) => {
                    println!("{p}: {e}");
                    failed = true;
                }
            }
            continue;
        }
        let result = if push {
            push_validate(path, &opts)
        } else {
            inspect_file_with(path, &opts)
        };
        let elapsed = t.elapsed().as_secs_f64();
        match result {
            Ok(i) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&i).unwrap_or_default());
                } else {
                    println!("{p}:\n{}", i.human_summary());
                    for f in &i.findings {
                        println!("  {f}");
                    }
                }
                failed |= i.findings.has_errors();
            }
            Err(e) => {
                println!("{p}: {e}");
                failed = true;
            }
        }
        eprintln!("{p}: validated in {elapsed:.3} s");
    }
    std::process::exit(i32::from(failed));
}

fn push_validate(path: &Path, opts: &Options) -> sm_pack::Result<sm_pack::fasttext::Inspection> {
    let mut f = std::fs::File::open(path).map_err(|e| sm_pack::Error::io("open", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| sm_pack::Error::io("read", path, e))?
        .len();
    let mut v = Validator::with_len(opts, len).source(path);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| sm_pack::Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        v.write_all(&buf[..n])
            .map_err(|e| sm_pack::Error::io("write", path, e))?;
    }
    v.finish()
}
