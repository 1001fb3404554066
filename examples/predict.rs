//! Predict locally with sm-pack's pure-Rust evaluators: the numbers the real
//! xgboost (or fastText) computes, shaped like the SageMaker endpoint's
//! responses.
//!
//! ```sh
//! cargo run --example predict                                   # example model on its sample rows
//! cargo run --example predict -- model.json rows.csv            # text/csv or text/libsvm rows
//! cargo run --example predict -- langid.bin lines.txt           # fastText: one text per line
//! ```

use sm_pack::xgboost::predict::{PredictOptions, Predictor, csv_response, parse_request};
use std::path::PathBuf;

fn main() -> Result<(), sm_pack::Error> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("testdata/example/churn-xgboost.json"));
    let input = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("testdata/example/sample.csv"));
    let bytes = std::fs::read(&model).map_err(|e| sm_pack::Error::io("read", &model, e))?;
    let body =
        std::fs::read_to_string(&input).map_err(|e| sm_pack::Error::io("read", &input, e))?;

    if bytes.starts_with(&[0xBA, 0x16, 0x4F, 0x2F]) {
        // fastText: the top label and its probability per line, like `fasttext predict-prob`.
        let ft = sm_pack::fasttext::Model::load(&model)?;
        let predictor = sm_pack::fasttext::Predictor::new(&ft)?;
        for line in body.lines() {
            let top = predictor.predict(line.as_bytes(), 1, 0.0)?;
            match top.first() {
                Some(p) => println!("{} {}", p.label_lossy(), p.prob),
                None => println!(),
            }
        }
        return Ok(());
    }

    // XGBoost: parse the rows as the container parses a request body (csv or libsvm, sniffed).
    let (parsed, _findings) = sm_pack::xgboost::read_model(&bytes)?;
    let cols = usize::try_from(parsed.learner.num_feature).unwrap_or(usize::MAX);
    let (rows, _content_type) = parse_request(&body, None, false, cols.saturating_add(1))?;
    let predictions = Predictor::new(&parsed)?.predict(&rows, &PredictOptions::default())?;
    // The endpoint's text/csv response: one row per line.
    print!("{}", csv_response(&predictions));
    Ok(())
}
