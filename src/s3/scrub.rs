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
/// with `[redacted]`; in every `http(s)://` URL in the text, the user info and
/// the query string too (an endpoint given with a password or a presigned
/// query, which the SDK repeats in its errors).
///
/// ```
/// let s = sm_pack::s3::scrub("GET /b/k?X-Amz-Credential=AKIA/2024&X-Amz-Signature=abc123 HTTP/1.1");
/// assert_eq!(s, "GET /b/k?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted] HTTP/1.1");
/// ```
pub fn scrub(text: &str) -> String {
    scrub_secrets(&scrub_urls(text))
}

/// [`scrub`] without the URL pass: signature fields and secret values.
fn scrub_secrets(text: &str) -> String {
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

/// A URL (an endpoint, or whatever was given where an `s3://` URI belongs)
/// as it may be shown: without user info (`http://user:pass@host` →
/// `http://host`), with any query string or fragment replaced by
/// `?[redacted]` (a presigned URL's signature, credential and token live
/// there), and [`scrub`]bed.
pub(crate) fn url_for_display(url: &str) -> String {
    scrub_secrets(&redact_url(url))
}

/// [`url_for_display`] without the final scrubbing of secret values.
fn redact_url(url: &str) -> String {
    let (base, had_query) = match url.find(['?', '#']) {
        Some(q) => (&url[..q], q + 1 < url.len()),
        None => (url, false),
    };
    let mut shown = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if had_query {
        shown.push('?');
        shown.push_str(REDACTED);
    }
    shown
}

/// Applies [`redact_url`] to every `http://` and `https://` URL in `text`
/// (a URL ends at white space, a quote, a backtick or a closing bracket).
fn scrub_urls(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find("http") {
        let start = i + found;
        let rest = &lower[start..];
        let scheme_len = if rest.starts_with("https://") {
            8
        } else if rest.starts_with("http://") {
            7
        } else {
            out.push_str(&text[i..start + 4]);
            i = start + 4;
            continue;
        };
        let end = text[start + scheme_len..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')' | ']' | '}')
            })
            .map_or(text.len(), |n| start + scheme_len + n);
        out.push_str(&text[i..start]);
        out.push_str(&redact_url(&text[start..end]));
        i = end;
    }
    out.push_str(&text[i..]);
    out
}

/// An endpoint URL for messages: [`url_for_display`].
pub(crate) fn endpoint_for_display(url: &str) -> String {
    url_for_display(url)
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

    #[test]
    fn drops_query_strings_and_fragments() {
        let presigned = "https://b.s3.amazonaws.com/k.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                         &X-Amz-Credential=AKIAEXAMPLE%2F20240101&X-Amz-Signature=0123abcd";
        assert_eq!(
            url_for_display(presigned),
            "https://b.s3.amazonaws.com/k.tar.gz?[redacted]"
        );
        assert_eq!(
            url_for_display("http://u:p@127.0.0.1:9/?sig=x#frag"),
            "http://127.0.0.1:9/?[redacted]"
        );
        assert_eq!(url_for_display("http://h/p#f@x"), "http://h/p?[redacted]");
        assert_eq!(url_for_display("http://h/p?"), "http://h/p");
        assert_eq!(url_for_display("s3://bucket/m/"), "s3://bucket/m/");
    }

    #[test]
    fn urls_inside_text_lose_user_info_and_query() {
        assert_eq!(
            scrub("Custom endpoint `http://u:pw@127.0.0.1:9/?sig=zzz` was not a valid URI"),
            "Custom endpoint `http://127.0.0.1:9/?[redacted]` was not a valid URI"
        );
        assert_eq!(
            scrub("error sending request for url (https://b.s3.amazonaws.com/k?uploads): timeout"),
            "error sending request for url (https://b.s3.amazonaws.com/k?[redacted]): timeout"
        );
        let plain = "HTTP 500 from http://host:9000/b/k, then httpx and https: nothing";
        assert_eq!(scrub(plain), plain);
        assert_eq!(scrub("s3://b/k?x=1 HTTP"), "s3://b/k?x=1 HTTP");
        assert_eq!(scrub("naïve http://ü@h/é?q"), "naïve http://h/é?[redacted]");
    }
}
