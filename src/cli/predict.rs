//! `sm-pack predict`: quick local predictions with the pure-Rust evaluators.

use super::Ctx;
use anyhow::{Context, Result};
use clap::Args;
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Options of `sm-pack predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model file (XGBoost or fastText; detected from the bytes).
    pub model: PathBuf,
    /// Input rows: text lines for fastText ("-" reads stdin).
    #[arg(short, long, default_value = "-")]
    pub input: PathBuf,
    /// fastText: number of labels per line (-1 = all).
    #[arg(short, long, default_value_t = 1, allow_negative_numbers = true)]
    pub k: i32,
    /// fastText: drop labels whose probability is below this.
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f32,
}

fn read_lines(input: &PathBuf) -> Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(input).map_err(|e| sm_pack::Error::io("open", input, e))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut lines = Vec::new();
    for l in reader.split(b'\n') {
        let l = l.with_context(|| format!("reading {}", input.display()))?;
        lines.push(String::from_utf8_lossy(&l).into_owned());
    }
    Ok(lines)
}

fn is_fasttext(path: &PathBuf) -> Result<bool> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| sm_pack::Error::io("open", path, e))?;
    let n =
        std::io::Read::read(&mut f, &mut head).map_err(|e| sm_pack::Error::io("read", path, e))?;
    Ok(head[..n] == [0xBA, 0x16, 0x4F, 0x2F])
}

pub fn run_predict(ctx: &Ctx, a: &PredictArgs) -> Result<i32> {
    if !is_fasttext(&a.model)? {
        anyhow::bail!(sm_pack::Error::Usage {
            message: format!(
                "{}: XGBoost prediction is not available in this build yet",
                a.model.display()
            )
        });
    }
    let model = sm_pack::fasttext::Model::load(&a.model)?;
    let p = sm_pack::fasttext::Predictor::new(&model)?;
    let lines = read_lines(&a.input)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    if ctx.json {
        // Exactly what the BlazingText endpoint returns for {"instances": lines, "configuration": {"k": k}}.
        let v = p.blazingtext_response(&lines, Some(a.k))?;
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
        return Ok(0);
    }
    for line in &lines {
        if p.is_supervised() {
            // Like `fasttext predict-prob`: label prob pairs, space separated.
            let preds = p.predict(line.as_bytes(), a.k, a.threshold)?;
            let parts: Vec<String> = preds
                .iter()
                .map(|x| format!("{} {}", x.label_lossy(), x.prob))
                .collect();
            writeln!(out, "{}", parts.join(" "))?;
        } else {
            // Like `fasttext print-word-vectors`: the word, then its vector.
            let v = p.word_vector(line.trim().as_bytes())?;
            let nums: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            writeln!(out, "{} {}", line.trim(), nums.join(" "))?;
        }
    }
    out.flush()?;
    Ok(0)
}
