//! S3 upload with the official AWS SDK for Rust (cargo feature `s3`).
//! (Placeholder; the S3 work fills it in.)
