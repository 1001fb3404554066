//! The upload's error type.

use std::io;

/// Result alias of the S3 module.
pub type Result<T, E = UploadError> = std::result::Result<T, E>;

/// Everything that can stop an upload. Messages never contain credentials or
/// signed URLs (they pass through [`super::scrub`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The destination is not a usable `s3://bucket/key` URI.
    #[error("invalid S3 URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given, without a query string or user info (they can
        /// hold a signature or a password).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A request the upload cannot satisfy as asked (bad option combination, size limits).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
    },

    /// The credential chain found nothing usable.
    #[error(
        "no AWS credentials found: set AWS_PROFILE (or pass --profile), or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or run `aws sso login` for an SSO profile; on EC2, ECS or EKS \
         attach a role ({detail})"
    )]
    NoCredentials {
        /// What the credential providers reported (scrubbed).
        detail: String,
    },

    /// No region was configured anywhere.
    #[error(
        "no AWS region configured: pass --region, or set AWS_REGION, or `region` in the profile"
    )]
    NoRegion,

    /// S3 answered with an error.
    #[error("{operation} {uri} failed: {message}{}", hint_suffix(hint))]
    Request {
        /// The S3 operation, e.g. "UploadPart".
        operation: &'static str,
        /// `s3://bucket/key` concerned.
        uri: String,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// S3 error code, e.g. "AccessDenied".
        code: Option<String>,
        /// S3's message (scrubbed).
        message: String,
        /// What to do.
        hint: Option<String>,
    },

    /// S3 could not be reached (connection, DNS, TLS, timeout), after retries.
    #[error("cannot reach S3 ({endpoint}) for {operation} {uri}: {message}")]
    Network {
        /// The S3 operation.
        operation: &'static str,
        /// `s3://bucket/key` concerned.
        uri: String,
        /// The endpoint in use.
        endpoint: String,
        /// What failed (scrubbed).
        message: String,
    },

    /// A different object is at the destination and overwriting was not allowed.
    #[error("{uri} already exists with different content ({detail}); pass --force to replace it")]
    Exists {
        /// The existing object.
        uri: String,
        /// How it differs.
        detail: String,
    },

    /// The object S3 reports after the upload is not the one that was sent.
    #[error("verification of {uri} failed: {detail}")]
    Verification {
        /// The object.
        uri: String,
        /// What differs.
        detail: String,
    },

    /// The local archive does not match its manifest or `SHA256SUMS`.
    #[error("{path} does not match {what}: {detail}")]
    LocalMismatch {
        /// The archive.
        path: String,
        /// "its manifest", "SHA256SUMS".
        what: &'static str,
        /// What differs.
        detail: String,
    },

    /// Ctrl-C or the cancel flag; the multipart upload was aborted.
    #[error("interrupted; the upload was aborted and no output was written")]
    Interrupted,

    /// The upload was stopped because the packing side failed (reported instead).
    #[error("the upload was stopped")]
    Stopped,

    /// The upload failed and aborting its multipart upload failed too.
    #[error(
        "{error}; the multipart upload could not be aborted either ({abort_error}): remove its parts \
         with `aws s3api abort-multipart-upload --bucket {bucket} --key {key} --upload-id {upload_id}`, \
         or by a bucket lifecycle rule that aborts incomplete multipart uploads"
    )]
    AbortFailed {
        /// Why the upload failed.
        error: Box<UploadError>,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The multipart upload left behind.
        upload_id: String,
        /// Why aborting failed (scrubbed).
        abort_error: String,
    },

    /// A local file operation failed.
    #[error(transparent)]
    Local(#[from] crate::Error),

    /// A broken invariant inside the uploader (a bug).
    #[error("internal error in the S3 upload: {0}")]
    Internal(String),
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(" ({h})"),
        None => String::new(),
    }
}

impl UploadError {
    /// Finds the upload error carried inside a library [`crate::Error`]
    /// (uploads that run inside [`crate::pack::pack_with`] surface as
    /// [`crate::Error::Io`] with op "upload to").
    pub fn find(err: &crate::Error) -> Option<&UploadError> {
        match err {
            crate::Error::Io { source, .. } => source.get_ref()?.downcast_ref::<UploadError>(),
            _ => None,
        }
    }

    /// The S3 error code, when S3 answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            UploadError::Request { code, .. } => code.as_deref(),
            UploadError::AbortFailed { error, .. } => error.code(),
            _ => None,
        }
    }

    /// The process exit code: 130 when interrupted, else 2 (network,
    /// credentials, usage) or the local error's own code.
    pub fn exit_code(&self) -> i32 {
        match self {
            UploadError::Interrupted => 130,
            UploadError::Local(e) => match e {
                crate::Error::Interrupted => 130,
                e => e.exit_code(),
            },
            _ => 2,
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        matches!(self, UploadError::Stopped)
    }
}

impl From<UploadError> for crate::Error {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Local(e) => e,
            UploadError::Interrupted => crate::Error::Interrupted,
            UploadError::Usage { message } => crate::Error::Usage { message },
            other => crate::Error::Io {
                op: "upload to",
                path: "S3".into(),
                source: io::Error::other(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_library_error() {
        let e = UploadError::Exists {
            uri: "s3://b/k".into(),
            detail: "sha256 differs".into(),
        };
        let lib: crate::Error = e.into();
        let found = UploadError::find(&lib).map(|u| u.to_string());
        assert_eq!(
            found.as_deref(),
            Some(
                "s3://b/k already exists with different content (sha256 differs); pass --force to replace it"
            )
        );
        assert!(matches!(
            crate::Error::from(UploadError::Interrupted),
            crate::Error::Interrupted
        ));
    }
}
