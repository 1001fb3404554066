//! The README's shell examples are true.
//!
//! 1. Every `sm-pack` command line in a `sh` or `yaml` fenced block names
//!    a subcommand that exists and only flags that subcommand's
//!    `--help` lists (global flags included), so the documentation cannot
//!    drift from the CLI.
//! 2. Fenced blocks marked runnable — the info string ```` ```sh runnable ````
//!    (the first word keeps GitHub's highlighting) — are run line by line
//!    with `sh -c` in a temporary folder holding a link to `testdata/`, with
//!    this build's `sm-pack` first on PATH, no AWS settings and no network.
//!    A line must exit 0, unless its comment says `exit N`
//!    (`sm-pack xgboost broken.json   # refused, exit 1`). Lines ending in
//!    `\` continue on the next line. The lines of one block share the folder
//!    (and the shell variables of one line are gone on the next), so a block
//!    can pack and then verify.

mod common;

use common::*;
use std::collections::BTreeMap;

/// A fenced block of README.md.
struct Block {
    /// The info string (`sh runnable`, `yaml`, ...).
    info: String,
    /// Line number of the opening fence (1-based).
    line: usize,
    /// Logical lines (continuations joined).
    lines: Vec<String>,
}

fn blocks() -> Vec<Block> {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => {
                    cur = Some(Block {
                        info: info.trim().to_string(),
                        line: i + 1,
                        lines: Vec::new(),
                    })
                }
            }
            continue;
        }
        if let Some(b) = &mut cur {
            match b.lines.last_mut() {
                Some(last) if last.ends_with('\\') => {
                    last.pop();
                    last.push(' ');
                    last.push_str(raw.trim());
                }
                _ => b.lines.push(raw.to_string()),
            }
        }
    }
    assert!(cur.is_none(), "README.md has an unclosed fence");
    out
}

/// The words of a command line up to a comment, redirection or the next command.
fn sm_pack_invocations(line: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        if words[i].starts_with('#') {
            break; // a comment: prose, not a command
        }
        // `x=$(sm-pack ...`, `(sm-pack ...`: the word after the last `(` or `=`.
        let w = words[i].rsplit(['(', '=']).next().unwrap_or("");
        if w == "sm-pack" || w.ends_with("/sm-pack") {
            let mut cmd = Vec::new();
            for next in &words[i + 1..] {
                if next.starts_with('#')
                    || ["|", "||", "&&", ";", "&"].contains(next)
                    || next.starts_with('>')
                    || next.starts_with('<')
                    || next.starts_with("2>")
                {
                    break;
                }
                cmd.push(next.trim_end_matches(')').to_string());
            }
            found.push(cmd);
        }
        i += 1;
    }
    found
}

fn help(args: &[&str]) -> String {
    let o = bin().args(args).arg("--help").output().unwrap();
    assert!(
        o.status.success(),
        "sm-pack {args:?} --help: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// Global options take a value: skip it when looking for the subcommand.
const GLOBAL_WITH_VALUE: &[&str] = &["--color", "--config"];

#[test]
fn every_documented_command_and_flag_exists() {
    let global = help(&[]);
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut checked = 0;
    for b in blocks() {
        let lang = b.info.split_whitespace().next().unwrap_or("");
        if !["sh", "yaml", "yml"].contains(&lang) {
            continue;
        }
        for line in &b.lines {
            for cmd in sm_pack_invocations(line) {
                // The subcommand: the first word that is not a global option or its value.
                let mut sub = None;
                let mut skip = false;
                for w in &cmd {
                    if skip {
                        skip = false;
                        continue;
                    }
                    if GLOBAL_WITH_VALUE.contains(&w.as_str()) {
                        skip = true;
                        continue;
                    }
                    if !w.starts_with('-') {
                        sub = Some(w.clone());
                        break;
                    }
                }
                let Some(sub) = sub else {
                    continue; // `sm-pack --help`, `sm-pack --version`
                };
                let text = helps
                    .entry(sub.clone())
                    .or_insert_with(|| help(&[sub.as_str()]))
                    .clone();
                for w in &cmd {
                    let flag = w.split('=').next().unwrap_or(w);
                    let is_long = flag.starts_with("--") && flag.len() > 2;
                    let is_short = flag.len() == 2
                        && flag.starts_with('-')
                        && flag.as_bytes()[1].is_ascii_alphabetic();
                    if !is_long && !is_short {
                        continue;
                    }
                    let listed = |h: &str| {
                        h.lines().any(|l| {
                            l.split(|c: char| c == ',' || c.is_whitespace())
                                .any(|t| t == flag || t.starts_with(&format!("{flag}=")))
                        })
                    };
                    assert!(
                        listed(&text) || listed(&global),
                        "README.md line {}: `sm-pack {sub}` has no option {flag}:\n{line}",
                        b.line
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} flags found: is the parser broken?"
    );
}

/// The exit code a runnable line expects: `# ... exit N`, else 0.
fn expected_exit(line: &str) -> i32 {
    let Some(comment) = line.split(" #").nth(1) else {
        return 0;
    };
    let words: Vec<&str> = comment.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "exit")
        .and_then(|w| {
            w[1].trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Runs a block's lines; returns how many ran.
#[cfg(feature = "s3")]
fn run_block(b: &Block, dir: &std::path::Path) -> usize {
    let mut ran = 0;
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sm-pack"));
    let path = format!(
        "{}:{}",
        exe.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for line in &b.lines {
        let cmd = line.trim();
        if cmd.is_empty() || cmd.starts_with('#') {
            continue;
        }
        let o = std::process::Command::new("sh")
            .args(["-c", cmd])
            .current_dir(dir)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .env("HOME", dir)
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("SM_PACK_CONFIG")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .output()
            .unwrap();
        ran += 1;
        let want = expected_exit(line);
        assert_eq!(
            o.status.code(),
            Some(want),
            "README.md block at line {}: `{cmd}` exited {:?}, the README says {want}\nstdout:\n{}\nstderr:\n{}",
            b.line,
            o.status.code(),
            stdout(&o),
            stderr(&o)
        );
    }
    ran
}

// The README uploads with --dry-run, which needs the S3 client (feature `s3`, on by default).
#[cfg(feature = "s3")]
#[test]
fn runnable_blocks_run_as_documented() {
    let runnable: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| {
            let mut words = b.info.split_whitespace();
            words.next() == Some("sh") && words.any(|w| w == "runnable")
        })
        .collect();
    assert!(
        runnable.len() >= 4,
        "expected the README's job sections to have runnable blocks, found {}",
        runnable.len()
    );
    let mut ran = 0;
    for b in &runnable {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(repo().join("testdata"), dir.path().join("testdata")).unwrap();
        ran += run_block(b, dir.path());
    }
    assert!(ran >= 25, "only {ran} runnable lines");
}

#[test]
fn the_parsers_of_this_test_work() {
    assert_eq!(
        sm_pack_invocations("x=$(sm-pack --json inspect m.json --container 1.7-1 | jq .ok)"),
        vec![vec!["--json", "inspect", "m.json", "--container", "1.7-1"]]
    );
    assert_eq!(
        sm_pack_invocations("sm-pack verify a.tar.gz && sm-pack upload a.tar.gz # note --x"),
        vec![vec!["verify", "a.tar.gz"], vec!["upload", "a.tar.gz"]]
    );
    assert_eq!(
        expected_exit("sm-pack xgboost bad.json   # refused, exit 1"),
        1
    );
    assert_eq!(expected_exit("sm-pack xgboost good.json  # packs"), 0);
    assert_eq!(expected_exit("sm-pack inspect x --container 1.5-1"), 0);
}
