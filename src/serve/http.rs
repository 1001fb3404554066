//! The HTTP front of an [`Endpoint`] (feature `serve`): axum on tokio,
//! HTTP/1.1 with keep-alive, one JSON access-log line per request,
//! graceful shutdown.
//!
//! Routes: `GET /ping`, `POST /invocations`, `GET /execution-parameters`
//! (XGBoost; 404 for BlazingText); any other path is 404 and a known path
//! with another method 405, as Flask answers. A body over the endpoint's
//! payload limit gets 413 before it is read (by its `Content-Length`) or as
//! soon as it passes the limit (chunked). Large requests are evaluated on
//! tokio's blocking pool so that `/ping` and small requests stay fast.

use super::{Endpoint, Request, Response};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request as HttpRequest, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Oversized bodies up to this size are read before the 413 is sent.
const DRAIN_BYTES: u64 = 16 << 20;

/// Bodies from this size on are evaluated on the blocking pool.
const BLOCKING_BODY_BYTES: usize = 64 << 10;

/// Where access-log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessLog {
    /// One JSON object per line on stderr.
    Stderr,
    /// No access log.
    Off,
}

#[derive(Clone)]
struct AppState {
    endpoint: Arc<Endpoint<'static>>,
    log: AccessLog,
}

/// Body length of a response this module built (for the access log).
#[derive(Clone, Copy)]
struct BodyLen(usize);

/// The routes for `endpoint`. The endpoint must live as long as the
/// server: build it from [`super::LoadedModels`] kept for the whole process
/// (e.g. leaked with `Box::leak`).
pub fn router(endpoint: Arc<Endpoint<'static>>, log: AccessLog) -> Router {
    let state = AppState { endpoint, log };
    Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
        .route("/execution-parameters", get(execution_parameters))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), access_log))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

fn into_http(r: Response) -> axum::response::Response {
    let len = r.body.len();
    let mut resp = axum::response::Response::new(Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = r.content_type
        && let Ok(v) = HeaderValue::from_str(&ct)
    {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.extensions_mut().insert(BodyLen(len));
    resp
}

async fn ping(State(st): State<AppState>) -> axum::response::Response {
    into_http(st.endpoint.ping())
}

async fn execution_parameters(State(st): State<AppState>) -> axum::response::Response {
    match st.endpoint.execution_parameters() {
        Some(r) => into_http(r),
        None => not_found().await,
    }
}

async fn not_found() -> axum::response::Response {
    into_http(Response::text(
        404,
        "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n",
    ))
}

fn header_text(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    // Werkzeug decodes header bytes as latin-1.
    h.get(name)
        .map(|v| v.as_bytes().iter().map(|&b| b as char).collect())
}

async fn invocations(State(st): State<AppState>, req: HttpRequest) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let limit = st.endpoint.max_payload();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    if let Some(len) = declared
        && limit.is_none_or(|max| len > max)
    {
        // Read (and drop) a moderately oversized body first, so that the
        // client reads the 413 instead of a reset connection.
        if len <= DRAIN_BYTES {
            let _ = to_bytes(body, DRAIN_BYTES as usize).await;
        }
        return into_http(st.endpoint.payload_too_large());
    }
    let max = limit.map_or(0, |m| usize::try_from(m).unwrap_or(usize::MAX));
    let Ok(bytes) = to_bytes(body, max).await else {
        return into_http(st.endpoint.payload_too_large());
    };
    let big = bytes.len() >= BLOCKING_BODY_BYTES;
    let content_type = header_text(&parts.headers, header::CONTENT_TYPE);
    let accept = header_text(&parts.headers, header::ACCEPT);
    let run = move |endpoint: &Endpoint<'static>| {
        endpoint.invoke(&Request {
            content_type: content_type.as_deref(),
            accept: accept.as_deref(),
            body: &bytes,
        })
    };
    let response = if big {
        let endpoint = st.endpoint.clone();
        match tokio::task::spawn_blocking(move || run(&endpoint)).await {
            Ok(r) => r,
            Err(_) => Response::text(500, "the prediction task failed"),
        }
    } else {
        run(&st.endpoint)
    };
    into_http(response)
}

async fn access_log(
    State(st): State<AppState>,
    req: HttpRequest,
    next: Next,
) -> axum::response::Response {
    if st.log == AccessLog::Off {
        return next.run(req).await;
    }
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let request_bytes = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let resp = next.run(req).await;
    let bytes = resp.extensions().get::<BodyLen>().map_or(0, |b| b.0);
    let mut line = String::with_capacity(160);
    line.push_str("{\"ts\":\"");
    line.push_str(&rfc3339_now());
    line.push_str("\",\"method\":");
    super::pyfmt::json_str(&method, &mut line);
    line.push_str(",\"path\":");
    super::pyfmt::json_str(&path, &mut line);
    line.push_str(&format!(
        ",\"status\":{},\"bytes\":{bytes},\"request_bytes\":{request_bytes},\"latency_ms\":{:.3}}}\n",
        resp.status().as_u16(),
        start.elapsed().as_secs_f64() * 1e3
    ));
    // One write per line, so lines from concurrent requests never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    resp
}

/// The current UTC time as `2026-11-25T10:00:00.123Z`.
fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = super::rfc3339_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
