//! Removes credentials and request signatures from text before it is shown.

/// Query parameters and header fields whose values are secret or signed.
const SECRET_FIELDS: &[&str] = &[
    "x-amz-signature=",
    "x-amz-credential=",
    "x-amz-security-token=",
    "awsaccesskeyid=",
    "signature=",
    "credential=",
    "x-amz-security-token:",
    "authorization:",
];

/// Environment variables whose values must never be shown.
const SECRET_ENV: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

const REDACTED: &str = "[redacted]";

fn ends_value(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '&' | '"' | '\'' | '<' | '>' | ',' | ';' | ')' | ']' | '}'
        )
}

/// Replaces the values of signature and credential fields (`X-Amz-Signature=`,
/// `X-Amz-Credential=`, `X-Amz-Security-Token=`, `Signature=`, `Credential=`,
/// `Authorization:` ...) and any value of the AWS secret environment variables
/// with `[redacted]`.
///
/// ```
/// let s = sm_pack::s3::scrub("GET /b/k?X-Amz-Credential=AKIA/2024&X-Amz-Signature=abc123 HTTP/1.1");
/// assert_eq!(s, "GET /b/k?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted] HTTP/1.1");
/// ```
pub fn scrub(text: &str) -> String {
    let mut out = scrub_fields(text);
    for var in SECRET_ENV {
        if let Ok(v) = std::env::var(var) {
            let v = v.trim();
            // Very short values would redact ordinary words; real ones are long.
            if v.len() >= 8 {
                out = out.replace(v, REDACTED);
            }
        }
    }
    out
}

fn scrub_fields(text: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so matches map back to `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = SECRET_FIELDS
            .iter()
            .filter(|f| lower[i..].starts_with(*f))
            .max_by_key(|f| f.len());
        match hit {
            Some(f) => {
                let value_start = i + f.len();
                out.push_str(&text[i..value_start]);
                let rest = &text[value_start..];
                // Header values run to the end of the line; query values to a delimiter.
                let value_len = if f.ends_with(':') {
                    rest.find(['\n', '\r']).unwrap_or(rest.len())
                } else {
                    rest.find(ends_value).unwrap_or(rest.len())
                };
                if value_len > 0 {
                    out.push_str(REDACTED);
                }
                i = value_start + value_len;
            }
            None => {
                let c = text[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// An endpoint URL without user info (`http://user:pass@host` → `http://host`).
pub(crate) fn endpoint_for_display(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_query_and_headers() {
        let s = scrub_fields(
            "url https://b.s3.amazonaws.com/k?x-amz-algorithm=AWS4&X-Amz-Credential=AKIAX%2F20240101&X-Amz-Security-Token=tok&X-Amz-Signature=deadbeef rest",
        );
        assert!(!s.contains("AKIAX"), "{s}");
        assert!(!s.contains("deadbeef"), "{s}");
        assert!(!s.contains("tok&"), "{s}");
        assert!(s.contains("x-amz-algorithm=AWS4"));
        assert!(s.ends_with(" rest"));
        let h = scrub_fields(
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=ff\nnext",
        );
        assert_eq!(h, "Authorization:[redacted]\nnext");
        let c = scrub_fields("Credential=AKIA/x, SignedHeaders=host, Signature=ff");
        assert_eq!(
            c,
            "Credential=[redacted], SignedHeaders=host, Signature=[redacted]"
        );
        assert_eq!(scrub_fields("naïve Signature="), "naïve Signature=");
    }

    #[test]
    fn strips_user_info() {
        assert_eq!(
            endpoint_for_display("http://u:p@host:9000/x"),
            "http://host:9000/x"
        );
        assert_eq!(endpoint_for_display("http://host:9000"), "http://host:9000");
    }
}
