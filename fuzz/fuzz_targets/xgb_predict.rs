//! Any bytes that read as an XGBoost model are compiled and evaluated on
//! rows derived from the input (NaN, ±inf, zeros, huge and tiny values,
//! category-like integers), by every tree-walk kernel this CPU runs: none
//! may panic or touch memory out of bounds (the SIMD walks use unchecked
//! gathers), and all must give the portable kernel's bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::xgboost::predict::{DenseMatrix, Kernel, PredictOptions, Predictor};

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || {
        let Ok((model, _)) = sm_pack::xgboost::read_model(data) else {
            return;
        };
        let Ok(p) = Predictor::new(&model) else {
            return;
        };
        let mut c = sm_pack_fuzz::Choices::from(data);
        let cols = p.num_feature().min(64);
        let rows = [1, 3, 8, 17, 40][c.below(5) as usize];
        let pick = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            3.0,
            1e30,
            -1e30,
            1e-30,
            16_777_216.0,
        ];
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| match c.below(3) {
                0 => pick[c.below(pick.len() as u64) as usize],
                1 => (c.below(2001) as f32 - 1000.0) / 100.0,
                _ => f32::from_bits(c.next_u64() as u32),
            })
            .collect();
        let Ok(x) = DenseMatrix::new(values, rows, cols) else {
            return;
        };
        let run = |kernel| {
            let opts = PredictOptions {
                margin: true,
                threads: 1,
                kernel,
                ..PredictOptions::default()
            };
            p.predict(&x, &opts)
                .map(|out| out.values().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        };
        let want = run(Kernel::Portable);
        for k in Kernel::available().filter(|&k| k != Kernel::Portable) {
            assert_eq!(run(k), want, "{k:?}");
        }
    })
});
