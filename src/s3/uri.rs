//! `s3://bucket/key` destinations.

use super::error::{Result, UploadError};
use std::fmt;

/// A parsed `s3://bucket/prefix/` or `s3://bucket/exact/key` destination.
///
/// ```
/// use sm_pack::s3::S3Uri;
/// let prefix = S3Uri::parse("s3://models/churn/")?;
/// assert_eq!(prefix.object_key("model.tar.gz"), "churn/model.tar.gz");
/// let exact = S3Uri::parse("s3://models/churn/v3.tar.gz")?;
/// assert_eq!(exact.object_key("model.tar.gz"), "churn/v3.tar.gz");
/// # Ok::<(), sm_pack::s3::UploadError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    /// Bucket name.
    pub bucket: String,
    /// Key, or a prefix when empty or ending with `/`.
    pub key: String,
}

/// Longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The error for an unusable URI. The URI is shown without a query string
/// or user info: a presigned URL pasted here must not be echoed with its
/// signature ([`super::scrub::url_for_display`]).
fn invalid(uri: &str, reason: impl Into<String>) -> UploadError {
    UploadError::InvalidUri {
        uri: super::scrub::url_for_display(uri),
        reason: reason.into(),
    }
}

/// Checks a bucket name against S3's rules for new buckets.
fn check_bucket(uri: &str, b: &str) -> Result<()> {
    if b.len() < 3 || b.len() > 63 {
        return Err(invalid(uri, "bucket names are 3 to 63 characters long"));
    }
    if !b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return Err(invalid(
            uri,
            "bucket names hold only lower-case letters, digits, dots and hyphens \
             (access point ARNs are not supported; use the access point alias)",
        ));
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !b.bytes().next().is_some_and(alnum) || !b.bytes().last().is_some_and(alnum) {
        return Err(invalid(
            uri,
            "bucket names start and end with a letter or digit",
        ));
    }
    if b.contains("..") {
        return Err(invalid(
            uri,
            "bucket names cannot contain two dots in a row",
        ));
    }
    Ok(())
}

impl S3Uri {
    /// Parses `s3://bucket`, `s3://bucket/prefix/` or `s3://bucket/key`.
    pub fn parse(uri: &str) -> Result<S3Uri> {
        let rest = uri.strip_prefix("s3://").ok_or_else(|| {
            let lower = uri.to_ascii_lowercase();
            if lower.starts_with("https://") || lower.starts_with("http://") {
                invalid(
                    uri,
                    "it must start with s3://, e.g. s3://bucket/models/ (an https:// or presigned \
                     URL is not an upload destination; sm-pack signs its own requests)",
                )
            } else {
                invalid(uri, "it must start with s3://, e.g. s3://bucket/models/")
            }
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(uri, bucket)?;
        if key.len() > MAX_KEY_BYTES {
            return Err(invalid(uri, "S3 keys are at most 1024 bytes long"));
        }
        if key.chars().any(|c| c.is_control()) {
            return Err(invalid(uri, "the key contains control characters"));
        }
        if key.starts_with('/') {
            return Err(invalid(
                uri,
                "the key starts with '/' (write s3://bucket/prefix/, with one slash after the bucket)",
            ));
        }
        Ok(S3Uri {
            bucket: bucket.into(),
            key: key.into(),
        })
    }

    /// True when the URI names a prefix (empty or ending in `/`): the archive
    /// keeps its file name under it.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// The archive's key: prefix + `file_name` for a prefix, else the key itself.
    pub fn object_key(&self, file_name: &str) -> String {
        if self.is_prefix() {
            format!("{}{file_name}", self.key)
        } else {
            self.key.clone()
        }
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// `s3://bucket/key`.
pub(crate) fn object_uri(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Keys of the sidecars of the archive at `archive_key`: the manifest
/// (`<key>.manifest.json`) and `SHA256SUMS` in the same folder.
pub(crate) fn sidecar_keys(archive_key: &str) -> (String, String) {
    let folder = match archive_key.rfind('/') {
        Some(i) => &archive_key[..=i],
        None => "",
    };
    (
        format!("{archive_key}.manifest.json"),
        format!("{folder}SHA256SUMS"),
    )
}

/// The last path component of a key.
pub(crate) fn base_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Checks the key an object will get.
pub(crate) fn check_key(bucket: &str, key: &str) -> Result<()> {
    if key.is_empty() || key.ends_with('/') {
        return Err(invalid(&object_uri(bucket, key), "the key is empty"));
    }
    if key.len() + ".manifest.json".len() > MAX_KEY_BYTES {
        return Err(invalid(
            &object_uri(bucket, key),
            "the key (with .manifest.json added for the manifest) is longer than 1024 bytes",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes_and_keys() {
        let u = S3Uri::parse("s3://my-bucket").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("my-bucket", ""));
        assert_eq!(u.object_key("model.tar.gz"), "model.tar.gz");
        let u = S3Uri::parse("s3://my-bucket/").unwrap();
        assert_eq!(u.object_key("model.tar.gz"), "model.tar.gz");
        let u = S3Uri::parse("s3://my.bucket-1/a/b/").unwrap();
        assert!(u.is_prefix());
        assert_eq!(u.object_key("m.tar.gz"), "a/b/m.tar.gz");
        let u = S3Uri::parse("s3://b12/a/x.tgz").unwrap();
        assert!(!u.is_prefix());
        assert_eq!(u.object_key("m.tar.gz"), "a/x.tgz");
        assert_eq!(u.to_string(), "s3://b12/a/x.tgz");
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "https://bucket/key",
            "s3:/bucket/key",
            "s3://",
            "s3://ab/key",
            "s3://Bucket/key",
            "s3://bucket_x/key",
            "s3://-bucket/key",
            "s3://bucket-/key",
            "s3://a..b/key",
            "s3://bucket//key",
            "s3://bucket/a\nb",
            "s3://arn:aws:s3:us-east-1:123:accesspoint/x/key",
        ] {
            assert!(S3Uri::parse(bad).is_err(), "{bad}");
        }
        let long = format!("s3://bucket/{}", "k".repeat(1025));
        assert!(S3Uri::parse(&long).is_err());
    }

    #[test]
    fn sidecars() {
        assert_eq!(
            sidecar_keys("a/b/model.tar.gz"),
            (
                "a/b/model.tar.gz.manifest.json".into(),
                "a/b/SHA256SUMS".into()
            )
        );
        assert_eq!(
            sidecar_keys("model.tar.gz"),
            ("model.tar.gz.manifest.json".into(), "SHA256SUMS".into())
        );
        assert_eq!(base_name("a/b/c.tgz"), "c.tgz");
        assert_eq!(base_name("c.tgz"), "c.tgz");
    }
}
