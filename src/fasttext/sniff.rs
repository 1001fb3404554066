//! Naming what a file is when it is not a fastText model.

use super::args::MAGIC;

/// What the leading bytes look like, and what to do about it.
pub(crate) fn describe(prefix: &[u8], total: u64) -> (String, Option<String>) {
    let p = prefix;
    if total == 0 {
        return (
            "the file is empty (0 bytes)".into(),
            Some("check that training finished and the file was copied completely".into()),
        );
    }
    if p.len() >= 4 && p[..4] == MAGIC.to_be_bytes() {
        return (
            "a big-endian fastText model (byte-swapped magic); fastText files are little-endian"
                .into(),
            Some(
                "re-save the model with fastText on a little-endian machine (x86-64 or ARM)".into(),
            ),
        );
    }
    if p.starts_with(&[0x1f, 0x8b]) {
        return (
            "gzip-compressed data (a .bin.gz?); fastText reads only the uncompressed model".into(),
            Some("decompress it first: gunzip -k MODEL.bin.gz".into()),
        );
    }
    let compressed: [(&[u8], &str, &str); 5] = [
        (b"BZh", "bzip2-compressed data", "bunzip2 -k"),
        (b"\xfd7zXZ\x00", "xz-compressed data", "unxz -k"),
        (b"\x28\xb5\x2f\xfd", "zstd-compressed data", "unzstd"),
        (b"PK\x03\x04", "a zip archive", "unzip"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive", "7z x"),
    ];
    for (magic, what, tool) in compressed {
        if p.starts_with(magic) {
            return (
                format!("{what}; fastText reads only the uncompressed model"),
                Some(format!("extract the model first ({tool})")),
            );
        }
    }
    if p.len() >= 262 && &p[257..262] == b"ustar" {
        return (
            "a tar archive (already a model.tar.gz contents?)".into(),
            Some("extract model.bin from it and pass that file".into()),
        );
    }
    if p.starts_with(b"version https://git-lfs") {
        return (
            "a Git LFS pointer file, not the model itself".into(),
            Some("run `git lfs pull` to fetch the real file".into()),
        );
    }
    if matches!(p.first(), Some(0x80)) && matches!(p.get(1), Some(2..=5)) {
        return (
            "a Python pickle (not a fastText binary)".into(),
            Some("save the model with fastText's save_model".into()),
        );
    }
    if p.starts_with(b"{L") || p.starts_with(b"{i") || p.starts_with(b"{U") || p.starts_with(b"{$")
    {
        return (
            "UBJSON data (an XGBoost .ubj model?)".into(),
            Some("for XGBoost models use `sm-pack xgboost`".into()),
        );
    }
    if p.starts_with(b"binf") {
        return (
            "a legacy binary XGBoost model".into(),
            Some("for XGBoost models use `sm-pack xgboost`".into()),
        );
    }
    let trimmed: &[u8] = {
        let start = p
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(p.len());
        &p[start..]
    };
    if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        let what = if trimmed.windows(7).any(|w| w == b"learner") {
            "JSON (an XGBoost model)"
        } else {
            "JSON text"
        };
        return (
            what.into(),
            Some("for XGBoost models use `sm-pack xgboost`".into()),
        );
    }
    if looks_like_text(p) {
        if let Some(line) = p.split(|&b| b == b'\n').next() {
            let fields: Vec<&[u8]> = line
                .split(|&b| b == b' ')
                .filter(|f| !f.is_empty())
                .collect();
            if fields.len() == 2 && fields.iter().all(|f| f.iter().all(u8::is_ascii_digit)) {
                return (
                    "a text word-vector file (.vec: \"<words> <dim>\" then one vector per line); BlazingText hosts the binary model".into(),
                    Some("pass the .bin file fastText saved next to the .vec".into()),
                );
            }
        }
        return (
            "text, not a binary fastText model".into(),
            Some("pass the .bin (or .ftz) file that fastText's save_model wrote".into()),
        );
    }
    if let Some(old) = pre_2017(p) {
        return (
            old,
            Some("this pre-2017 format (no magic number) is rejected by fastText ≥ 0.1; re-train or convert the model with a current fastText".into()),
        );
    }
    let shown: Vec<String> = p.iter().take(8).map(|b| format!("{b:02x}")).collect();
    (
        format!(
            "unknown binary data (first bytes {}); a fastText model starts with ba 16 4f 2f",
            shown.join(" ")
        ),
        Some("pass the .bin or .ftz file written by fastText's save_model".into()),
    )
}

fn looks_like_text(p: &[u8]) -> bool {
    let sample = match std::str::from_utf8(p) {
        Ok(s) => s,
        // A prefix may cut a multi-byte character at its end.
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&p[..e.valid_up_to()]) {
            Ok(s) => s,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    !sample.is_empty()
        && sample
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// A file from before the magic number starts directly with the args block:
/// small positive dim, ws, epoch, minCount, neg, wordNgrams, then loss 1..3
/// and model 1..3.
fn pre_2017(p: &[u8]) -> Option<String> {
    if p.len() < 32 {
        return None;
    }
    let i = |k: usize| i32::from_le_bytes([p[4 * k], p[4 * k + 1], p[4 * k + 2], p[4 * k + 3]]);
    let (dim, ws, epoch, min_count, neg, wng, loss, model) =
        (i(0), i(1), i(2), i(3), i(4), i(5), i(6), i(7));
    let plausible = (1..=100_000).contains(&dim)
        && (1..=1_000).contains(&ws)
        && (1..=100_000).contains(&epoch)
        && (0..=1_000_000).contains(&min_count)
        && (0..=1_000).contains(&neg)
        && (1..=100).contains(&wng)
        && (1..=4).contains(&loss)
        && (1..=3).contains(&model);
    plausible.then(|| {
        format!("a fastText model from before 2017-05 (no magic number; the file starts with the args: dim {dim}, ws {ws}, epoch {epoch})")
    })
}
