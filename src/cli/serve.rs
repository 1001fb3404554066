//! `sm-pack serve`: a local endpoint that answers requests exactly as the
//! SageMaker container would (`sm_pack::serve`).

use super::Ctx;
use anyhow::Result;
use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;

/// Options of `sm-pack serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The model.tar.gz to serve: the archive that will ship.
    pub archive: PathBuf,
    /// SageMaker XGBoost container tag to imitate, e.g. 1.7-1 (default: the newest tag).
    #[arg(long, value_name = "TAG", conflicts_with = "blazingtext")]
    pub container: Option<String>,
    /// Imitate BlazingText hosting (model.bin at the archive root) instead of XGBoost.
    #[arg(long)]
    pub blazingtext: bool,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free port. The first line on stdout is always
    /// `listening on http://ADDR:PORT`.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// A container environment variable as KEY=VALUE (repeatable), overriding sm-pack's own
    /// environment: SAGEMAKER_BATCH, SAGEMAKER_INFERENCE_OUTPUT,
    /// SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, SAGEMAKER_INFERENCE_ENSEMBLE, MAX_CONTENT_LENGTH.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// BlazingText: serve a quantized .ftz model (its hosting is undocumented).
    #[arg(long)]
    pub allow_quantized: bool,
    /// Do not write the access log (one JSON object per request on stderr).
    #[arg(long)]
    pub no_access_log: bool,
}

#[cfg(feature = "serve")]
pub use enabled::run_serve;

#[cfg(not(feature = "serve"))]
pub fn run_serve(_ctx: &Ctx, _a: &ServeArgs) -> Result<i32> {
    Err(sm_pack::Error::Usage {
        message: "this sm-pack was built without the local endpoint; rebuild with `cargo build --features serve`".into(),
    }
    .into())
}

#[cfg(feature = "serve")]
mod enabled {
    use super::*;
    use crate::cli::REPORT_SCHEMA;
    use crate::cli::render::finding_line;
    use crate::cli::style::{self, paint};
    use serde_json::json;
    use sm_pack::serve::http::{self, AccessLog};
    use sm_pack::serve::{ContainerEnv, Endpoint, Load, LoadOptions, load};
    use sm_pack::verify::Target;
    use std::io::Write;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// Runs `sm-pack serve` until SIGINT/SIGTERM; 0 after a clean stop, 1 when the
    /// container would not load the archive.
    pub fn run_serve(ctx: &Ctx, a: &ServeArgs) -> Result<i32> {
        let mut env = ContainerEnv::from_process();
        for kv in &a.env {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(sm_pack::Error::Usage {
                    message: format!("--env {kv:?}: expected KEY=VALUE"),
                }
                .into());
            };
            env.set(k, v)?;
        }
        let target = if a.blazingtext {
            Target::Blazingtext
        } else {
            Target::Xgboost(a.container.clone())
        };
        let mut opts = LoadOptions::new(target);
        opts.env = env.clone();
        opts.fasttext = sm_pack::fasttext::Options::default().allow_quantized(a.allow_quantized);
        let models = match load(&a.archive, &opts)? {
            Load::Ready(m) => m,
            Load::Refused(r) => {
                if ctx.json {
                    // An error report (formats/report.md): serve prints no report
                    // otherwise.
                    let out = json!({
                        "schema": REPORT_SCHEMA,
                        "command": "serve",
                        "ok": false,
                        "exit_code": 1,
                        "error": {
                            "message": r.message,
                            "hint": r.findings.iter().find_map(|f| f.hint.clone()),
                            "validation_failure": true,
                        },
                    });
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
                eprintln!(
                    "{} {}",
                    paint(ctx.style.err, style::RED, "refused:"),
                    r.message
                );
                for f in &r.findings {
                    eprintln!("{}", finding_line(ctx, f));
                }
                return Ok(1);
            }
        };
        // The models are served until the process ends.
        let models: &'static sm_pack::serve::LoadedModels = Box::leak(Box::new(models));
        let endpoint = Arc::new(Endpoint::new(models, env)?);
        if !ctx.quiet {
            let what = match &models.xgboost {
                Some(x) => format!("SageMaker XGBoost {} (xgboost {x})", models.container),
                None => "SageMaker BlazingText".to_string(),
            };
            eprintln!("serving {} as {what}", a.archive.display());
            for line in models.describe() {
                eprintln!("  {line}");
            }
            for f in &models.findings {
                eprintln!("{}", finding_line(ctx, f));
            }
            eprintln!("  {}", endpoint.contract_summary());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("sm-pack-serve")
            .build()?;
        let log = if a.no_access_log {
            AccessLog::Off
        } else {
            AccessLog::Stderr
        };
        let cancel = ctx.cancel.clone();
        let json_mode = ctx.json;
        let addr = SocketAddr::new(a.bind, a.port);
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr()?;
            {
                // The stable first line tests and scripts read the port from.
                let mut out = std::io::stdout().lock();
                if json_mode {
                    writeln!(
                        out,
                        "{}",
                        json!({"event": "listening", "url": format!("http://{local}"), "port": local.port()})
                    )?;
                } else {
                    writeln!(out, "listening on http://{local}")?;
                }
                out.flush()?;
            }
            let shutdown = async move {
                while !cancel.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            };
            http::serve(listener, http::router(endpoint, log), shutdown).await?;
            anyhow::Ok(())
        })?;
        // Connections still open after the requests in flight finished are dropped.
        runtime.shutdown_timeout(Duration::from_secs(1));
        if !ctx.quiet {
            eprintln!("stopped");
        }
        Ok(0)
    }
}
