//! The S3 client: AWS settings, the credential chain, and error translation.

use super::error::{Result, UploadError};
use super::scrub::{endpoint_for_display, scrub};
use aws_sdk_s3::config::{BehaviorVersion, ProvideCredentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;
use std::future::Future;

/// Server-side encryption requested for the uploaded objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Sse {
    /// `AES256` (SSE-S3).
    Aes256,
    /// `aws:kms` (SSE-KMS), with the bucket's or account's default key when `key_id` is `None`.
    Kms {
        /// KMS key id, ARN or alias.
        key_id: Option<String>,
    },
}

/// Where and as whom to connect. Everything left `None` comes from the
/// standard AWS configuration chain (environment, `~/.aws/config` and
/// `credentials` profiles, SSO, web identity, ECS and EC2 instance roles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// Profile name (else `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// Region (else `AWS_REGION`/`AWS_DEFAULT_REGION`, the profile, or IMDS).
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store (else `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL` or the profile's `endpoint_url`, as the SDK reads them).
    pub endpoint_url: Option<String>,
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    pub path_style: bool,
    /// Account id the bucket must belong to (`x-amz-expected-bucket-owner`).
    pub expected_bucket_owner: Option<String>,
    /// Server-side encryption of the uploaded objects.
    pub sse: Option<Sse>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl S3Settings {
    /// The endpoint that will be used, for messages: the explicit one, else the
    /// SDK's environment variables, else "AWS S3". Reads only the environment.
    pub fn endpoint_description(&self) -> String {
        let ignore_env = env_nonempty("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let url = self.endpoint_url.clone().or_else(|| {
            if ignore_env {
                None
            } else {
                env_nonempty("AWS_ENDPOINT_URL_S3").or_else(|| env_nonempty("AWS_ENDPOINT_URL"))
            }
        });
        match url {
            Some(u) => endpoint_for_display(&u),
            None => "AWS S3".into(),
        }
    }

    /// True when a custom endpoint is configured by option or environment.
    fn has_custom_endpoint(&self) -> bool {
        self.endpoint_description() != "AWS S3"
    }

    /// The region as far as options and environment tell (no file or network access).
    pub fn region_hint(&self) -> Option<String> {
        self.region
            .clone()
            .or_else(|| env_nonempty("AWS_REGION"))
            .or_else(|| env_nonempty("AWS_DEFAULT_REGION"))
    }

    /// The profile as far as options and environment tell.
    pub fn profile_hint(&self) -> Option<String> {
        self.profile.clone().or_else(|| env_nonempty("AWS_PROFILE"))
    }
}

/// A connected S3 client with its own small Tokio runtime. Create one with
/// [`S3Client::connect`]; it checks that credentials and a region are there.
pub struct S3Client {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    settings: S3Settings,
    endpoint: String,
    region: String,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    /// Loads the AWS configuration, resolves credentials once (so a missing
    /// credential fails here with [`UploadError::NoCredentials`], before any
    /// work) and builds the client.
    pub fn connect(settings: S3Settings) -> Result<S3Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sm-pack-s3")
            .on_thread_start(block_sigpipe)
            .enable_all()
            .build()
            .map_err(|e| UploadError::Internal(format!("cannot start the I/O runtime: {e}")))?;
        let endpoint = settings.endpoint_description();
        let (client, region) = runtime.block_on(async {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            if let Some(p) = &settings.profile {
                loader = loader.profile_name(p);
            }
            if let Some(r) = &settings.region {
                loader = loader.region(Region::new(r.clone()));
            }
            if let Some(e) = &settings.endpoint_url {
                loader = loader.endpoint_url(e);
            }
            let mut shared = loader.load().await;
            if shared.region().is_none_or(|r| r.as_ref().trim().is_empty()) {
                if settings.has_custom_endpoint() {
                    // S3-compatible stores mostly ignore the region, but SigV4 needs one.
                    shared = shared
                        .into_builder()
                        .region(Region::from_static("us-east-1"))
                        .build();
                } else {
                    return Err(UploadError::NoRegion);
                }
            }
            let region = shared.region().map(|r| r.to_string()).unwrap_or_default();
            let provider =
                shared
                    .credentials_provider()
                    .ok_or_else(|| UploadError::NoCredentials {
                        detail: "no credential provider is configured".into(),
                    })?;
            let checked = match provider.provide_credentials().await {
                Ok(c) => c,
                Err(e) => {
                    let mut detail = error_chain(&e);
                    if let Some(p) = settings.profile_hint() {
                        detail = format!(
                            "profile {p:?} was asked for: check that it exists in AWS_CONFIG_FILE \
                             or ~/.aws/config and has credentials; {detail}"
                        );
                    }
                    return Err(UploadError::NoCredentials { detail });
                }
            };
            let conf = aws_sdk_s3::config::Builder::from(&shared)
                .credentials_provider(CheckedFirst {
                    checked: std::sync::Mutex::new(Some(checked)),
                    chain: provider.clone(),
                })
                .force_path_style(settings.path_style)
                .build();
            Ok((aws_sdk_s3::Client::from_conf(conf), region))
        })?;
        Ok(S3Client {
            runtime,
            client,
            settings,
            endpoint,
            region,
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint, for messages ("AWS S3" for the default).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    pub(crate) fn sdk(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub(crate) fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Runs a future to completion on the client's runtime (from a plain thread).
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

/// The credential chain, whose first answer is the one [`S3Client::connect`]
/// already obtained to check that there are credentials. Without it the S3
/// client's identity cache would run the chain a second time at the first
/// request: a second STS `AssumeRoleWithWebIdentity` or SSO
/// `GetRoleCredentials` call, a second run of a `credential_process` (which
/// may prompt). Later refreshes (expiring session credentials during a long
/// upload) go to the chain as usual.
#[derive(Debug)]
struct CheckedFirst {
    checked: std::sync::Mutex<Option<aws_sdk_s3::config::Credentials>>,
    chain: aws_sdk_s3::config::SharedCredentialsProvider,
}

impl ProvideCredentials for CheckedFirst {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.checked.lock().ok().and_then(|mut c| c.take());
        match first {
            Some(c) => aws_credential_types::provider::future::ProvideCredentials::ready(Ok(c)),
            None => self.chain.provide_credentials(),
        }
    }
}

/// Blocks SIGPIPE in the calling thread (the runtime's threads, where the
/// HTTP connections write). The binary restores SIGPIPE's default action so
/// that `sm-pack … | head` ends quietly; without this, a server closing a
/// connection while a part is being written (`writev` has no `MSG_NOSIGNAL`)
/// would kill the process before it could retry or abort the upload. With the
/// signal blocked, the write fails with EPIPE and the SDK handles it.
fn block_sigpipe() {
    // SAFETY: plain libc calls on a local, initialised signal set; they only
    // change this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// An error and its sources on one line (without repeating a source whose
/// text is already there), scrubbed.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = tidy_service_error(&text).unwrap_or(text);
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = e.source();
    }
    scrub(&out)
}

/// The SDK prints an unmodelled service error (e.g. STS refusing a role
/// while credentials are resolved) as Rust debug text: `unhandled error
/// (AccessDenied): Error { code: "AccessDenied", message: "not this role",
/// ... }`. Keep what a person needs: `AccessDenied: not this role`.
fn tidy_service_error(text: &str) -> Option<String> {
    let field = |name: &str| -> Option<&str> {
        let start = text.find(&format!("{name}: \""))? + name.len() + 3;
        let len = text[start..].find('"')?;
        Some(&text[start..start + len])
    };
    if !text.contains("Error {") {
        return None;
    }
    let code = field("code")?;
    Some(match field("message") {
        Some(m) => format!("{code}: {m}"),
        None => code.to_string(),
    })
}

/// What to do about an S3 error code.
fn hint_for(code: &str, status: u16, region_header: Option<&str>) -> Option<String> {
    let h = match code {
        "AccessDenied" | "AllAccessDisabled" => {
            "check that the credentials may s3:PutObject, s3:GetObject and s3:AbortMultipartUpload \
             on the key (and kms:GenerateDataKey and kms:Decrypt with --sse aws:kms), and that \
             --expected-bucket-owner is right"
        }
        "NoSuchBucket" => "the bucket does not exist, or belongs to another account",
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
            "the credentials are not valid for this endpoint: check AWS_PROFILE, \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        }
        "ExpiredToken" | "TokenRefreshRequired" | "InvalidToken" => {
            "the credentials have expired: refresh them (e.g. `aws sso login`)"
        }
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => {
            return Some(match region_header {
                Some(r) => format!("the bucket is in region {r}: pass --region {r}"),
                None => "the bucket is in another region: pass --region".into(),
            });
        }
        "BadDigest" | "XAmzContentSHA256Mismatch" => {
            "S3 computed a different SHA-256 for the bytes it received, so they were damaged on \
             the way; nothing was stored"
        }
        "InvalidPart" | "InvalidPartOrder" => {
            "S3 does not have the parts as sent (checksum or ETag differs); nothing was stored"
        }
        "PreconditionFailed" | "ConditionalRequestConflict" => {
            "another object was written to the key during the upload; pass --force to replace it"
        }
        "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" => {
            "S3 stayed busy through the retries; try again later, or raise AWS_MAX_ATTEMPTS"
        }
        "KMS.NotFoundException" | "KMS.DisabledException" | "KMS.AccessDeniedException" => {
            "check --sse-kms-key-id and that the credentials may use the key"
        }
        "EntityTooSmall" => "a part was smaller than S3's 5 MiB minimum",
        _ if status == 403 => {
            "access denied: check the credentials, the bucket policy and --expected-bucket-owner"
        }
        _ if status == 301 => {
            return Some(match region_header {
                Some(r) => format!("the bucket is in region {r}: pass --region {r}"),
                None => "the bucket is in another region: pass --region".into(),
            });
        }
        _ => return None,
    };
    Some(h.into())
}

/// Turns an SDK error into an [`UploadError`], scrubbing every message.
pub(crate) fn sdk_error<E>(
    endpoint: &str,
    operation: &'static str,
    uri: &str,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> UploadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let region_header = se.raw().headers().get("x-amz-bucket-region");
            let code = se
                .err()
                .code()
                .map(str::to_string)
                .or_else(|| match status {
                    403 => Some("AccessDenied".into()),
                    404 => Some("NotFound".into()),
                    301 => Some("PermanentRedirect".into()),
                    // HEAD answers carry no error body, so no code: name the status.
                    500 => Some("InternalError".into()),
                    503 => Some("ServiceUnavailable".into()),
                    _ => None,
                });
            let message = match (se.err().message(), &code) {
                (Some(m), Some(c)) => format!("{c}: {m}"),
                (Some(m), None) => m.to_string(),
                (None, Some(c)) => format!("{c} (HTTP {status})"),
                (None, None) => format!("HTTP {status}"),
            };
            let hint = code
                .as_deref()
                .and_then(|c| hint_for(c, status, region_header));
            UploadError::Request {
                operation,
                uri: uri.into(),
                status: Some(status),
                code,
                message: scrub(&message),
                hint,
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => UploadError::Network {
            operation,
            uri: uri.into(),
            endpoint: endpoint.into(),
            message: error_chain(&err),
        },
        _ => {
            let text = error_chain(&err);
            if text.contains("credentials") && text.contains("load") {
                UploadError::NoCredentials { detail: text }
            } else {
                UploadError::Request {
                    operation,
                    uri: uri.into(),
                    status: err.raw_response().map(|r| r.status().as_u16()),
                    code: None,
                    message: text,
                    hint: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unmodelled_service_errors_read_as_code_and_message() {
        assert_eq!(
            tidy_service_error(
                r#"unhandled error (AccessDenied): Error { code: "AccessDenied", message: "not this role", aws_request_id: "x" }"#
            )
            .as_deref(),
            Some("AccessDenied: not this role")
        );
        assert_eq!(
            tidy_service_error(r#"service error: Error { code: "Throttling" }"#).as_deref(),
            Some("Throttling")
        );
        assert_eq!(tidy_service_error("dispatch failure: io error"), None);
    }

    use super::*;
    use aws_credential_types::provider::future;
    use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A chain that counts its runs and answers with a new key each time.
    #[derive(Debug, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKIACHAIN{n}"),
                "secret",
                None,
                None,
                "test",
            )))
        }
    }

    #[test]
    fn the_checked_credentials_come_first_then_the_chain() {
        let runs = Arc::new(AtomicUsize::new(0));
        let provider = CheckedFirst {
            checked: std::sync::Mutex::new(Some(Credentials::new(
                "AKIACHECKED",
                "secret",
                None,
                None,
                "test",
            ))),
            chain: SharedCredentialsProvider::new(Counting(runs.clone())),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let keys: Vec<String> = (0..3)
            .map(|_| {
                rt.block_on(provider.provide_credentials())
                    .map(|c| c.access_key_id().to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(keys, ["AKIACHECKED", "AKIACHAIN1", "AKIACHAIN2"]);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
