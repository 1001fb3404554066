//! `sm-pack completions SHELL` and `sm-pack man`, generated from the clap
//! definitions: every subcommand is in them, the scripts parse in their
//! shells when those are installed, the manual pages parse with groff.

mod common;

use common::*;
use std::process::{Command, Stdio};

/// The subcommands `sm-pack --help` lists (without clap's `help`).
fn subcommands() -> Vec<String> {
    let o = bin().arg("--help").output().unwrap();
    assert!(o.status.success());
    let text = stdout(&o);
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with("  ") {
                break;
            }
            // Continuation lines of a description are indented further.
            if line.starts_with("   ") {
                continue;
            }
            if let Some(name) = line.split_whitespace().next()
                && name != "help"
            {
                names.push(name.to_string());
            }
        }
    }
    // The ones this test was written for must be among them.
    for known in [
        "xgboost",
        "fasttext",
        "inspect",
        "verify",
        "containers",
        "predict",
        "convert",
        "upload",
        "completions",
        "man",
    ] {
        assert!(names.iter().any(|n| n == known), "{known} not in {names:?}");
    }
    names
}

fn completions(shell: &str) -> String {
    let o = bin().args(["completions", shell]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn bash_completion_mentions_every_subcommand_and_parses() {
    let script = completions("bash");
    for sub in subcommands() {
        assert!(
            script.contains(&format!("sm__pack__{sub}")) || script.contains(&format!(" {sub} ")),
            "bash completion lacks {sub}"
        );
    }
    // Options of the subcommands, and the alias.
    for word in [
        "--container",
        "--upload",
        "--region",
        "blazingtext",
        "--out-dir",
    ] {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    assert!(script.contains("complete -F _sm-pack") || script.contains("complete -F _sm__pack"));
    if have("bash") {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sm-pack.bash");
        std::fs::write(&f, &script).unwrap();
        let o = Command::new("bash").arg("-n").arg(&f).output().unwrap();
        assert!(o.status.success(), "bash -n: {}", stderr(&o));
        // Sourcing it registers the completion function.
        let o = Command::new("bash")
            .args([
                "-c",
                &format!("source {} && complete -p sm-pack", f.display()),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("sm-pack"), "{}", stdout(&o));
    }
}

#[test]
fn every_shell_gets_a_script() {
    let subs = subcommands();
    for (shell, marker) in [
        ("zsh", "#compdef sm-pack"),
        ("fish", "complete -c sm-pack"),
        ("elvish", "edit:completion:arg-completer[sm-pack]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = completions(shell);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in &subs {
            assert!(
                script.contains(sub.as_str()),
                "{shell} completion lacks {sub}"
            );
        }
    }
    for (shell, check) in [("zsh", "-n"), ("fish", "--no-execute")] {
        if have(shell) {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("script");
            std::fs::write(&f, completions(shell)).unwrap();
            let o = Command::new(shell).arg(check).arg(&f).output().unwrap();
            assert!(o.status.success(), "{shell} {check}: {}", stderr(&o));
        }
    }
    // An unknown shell is a usage error listing the choices.
    let o = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bash"), "{}", stderr(&o));
}

/// Warnings groff prints for a page (none expected); None without groff.
fn groff_warnings(page: &[u8]) -> Option<String> {
    if !have("groff") {
        return None;
    }
    let mut child = Command::new("groff")
        // -k: run preconv first, as man(1) does (the help texts hold UTF-8, e.g. ×).
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), page).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "groff failed: {}", stderr(&o));
    Some(stderr(&o))
}

/// The first request of a roff page after the preamble clap_mangen writes
/// (string definitions for the apostrophe).
fn first_request(page: &str) -> &str {
    page.lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ") && !l.starts_with(".\\\""))
        .unwrap_or("")
}

#[test]
fn man_page_parses_and_lists_every_subcommand() {
    let o = bin().arg("man").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(
        first_request(&page).starts_with(".TH sm-pack 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    for sub in subcommands() {
        let roff_name = format!("sm\\-pack\\-{}(1)", sub.replace('-', "\\-"));
        assert!(page.contains(&roff_name), "man page lacks {roff_name}");
    }
    assert!(
        !page.contains("sm\\-pack\\-help(1)"),
        "no page exists for help"
    );
    if let Some(w) = groff_warnings(page.as_bytes()) {
        assert!(w.is_empty(), "groff warnings:\n{w}");
    }
}

#[test]
fn man_out_dir_writes_one_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = bin().args(["man", "--out-dir"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut expected: Vec<String> = subcommands()
        .iter()
        .map(|s| format!("sm-pack-{s}.1"))
        .collect();
    expected.push("sm-pack.1".into());
    expected.sort();
    assert_eq!(listing(&out), expected);
    for name in &expected {
        let page = std::fs::read_to_string(out.join(name)).unwrap();
        let title = name.trim_end_matches(".1");
        assert!(
            first_request(&page).starts_with(&format!(".TH {title} 1")),
            "{name}: {}",
            &page[..page.len().min(200)]
        );
        if let Some(w) = groff_warnings(page.as_bytes()) {
            assert!(w.is_empty(), "{name}: groff warnings:\n{w}");
        }
    }
    // The xgboost page documents its options.
    let page = std::fs::read_to_string(out.join("sm-pack-xgboost.1")).unwrap();
    for opt in ["\\-\\-container", "\\-\\-upload", "\\-\\-sample"] {
        assert!(page.contains(opt), "sm-pack-xgboost.1 lacks {opt}");
    }
    // A folder that cannot be created is an I/O error (exit 2), nothing half-written.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let o = bin()
        .args(["man", "--out-dir"])
        .arg(blocker.join("man1"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
