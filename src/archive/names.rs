//! Rules for member names in a SageMaker model archive.
//!
//! SageMaker extracts `model.tar.gz` into `/opt/ml/model`; its own rules for
//! model data (S3ModelDataSource) forbid empty names, NUL, `.`/`..` and
//! components over 255 bytes. We also refuse absolute paths, `./` prefixes,
//! backslashes and control characters, so every member lands exactly where
//! the container looks for it.

use crate::error::{Error, Result};

/// Longest path component SageMaker accepts, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Checks one member name; returns it unchanged when it is acceptable.
pub fn validate_member_name(name: &str) -> Result<&str> {
    let bad = |reason: &str| Error::InvalidMemberName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.trim().is_empty() {
        return Err(bad("names must not be empty or blank"));
    }
    if name.starts_with('/') {
        return Err(bad("names must be relative (no leading '/')"));
    }
    if name.contains('\\') {
        return Err(bad("names must use '/' as separator, not '\\'"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(bad("names must not contain NUL or control characters"));
    }
    if name.ends_with('/') {
        return Err(bad("names must name a file, not a directory"));
    }
    for comp in name.split('/') {
        match comp {
            "" => return Err(bad("names must not contain empty components ('//')")),
            "." => {
                return Err(bad(
                    "names must not contain '.' components (no './' prefix)",
                ));
            }
            ".." => return Err(bad("names must not contain '..'")),
            c if c.len() > MAX_COMPONENT_BYTES => {
                return Err(bad("a path component is longer than 255 bytes"));
            }
            _ => {}
        }
    }
    Ok(name)
}

/// Checks a whole set of names: each one valid, no duplicates, and no name
/// that is both a file and a directory (`a` and `a/b`).
pub fn validate_member_set<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut sorted: Vec<&str> = Vec::new();
    for n in names {
        validate_member_name(n)?;
        sorted.push(n);
    }
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            return Err(Error::InvalidMemberName {
                name: pair[0].to_string(),
                reason: "the same name is given twice".into(),
            });
        }
    }
    for n in &sorted {
        let prefix = format!("{n}/");
        if sorted.iter().any(|m| m.starts_with(&prefix)) {
            return Err(Error::InvalidMemberName {
                name: n.to_string(),
                reason: "it is both a file and a directory in the archive".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for n in ["xgboost-model", "model.bin", "code/inference.py", "a b"] {
            assert!(validate_member_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_unsafe_names() {
        let long = "x".repeat(256);
        for n in [
            "", " ", "/abs", "./x", "a/../b", "..", "a//b", "dir/", "a\\b", "nul\0", &long,
        ] {
            assert!(validate_member_name(n).is_err(), "{n:?}");
        }
    }

    #[test]
    fn rejects_duplicates_and_file_dir_clash() {
        assert!(validate_member_set(["a", "a"]).is_err());
        assert!(validate_member_set(["a", "a/b"]).is_err());
        assert!(validate_member_set(["a", "ab/c", "b"]).is_ok());
    }
}
