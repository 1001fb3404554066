//! XGBoost legacy binary (headerless 0.90/1.0 and `binf` 1.1 – 3.0): the
//! structural probe the sniffer uses, the parser, the validator, and the
//! whole inspection when the sniffer takes the bytes for a binary model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::xgboost::{binary, sniff, validate};

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || {
        let _ = binary::probe(data);
        let mut findings = Vec::new();
        if let Ok(model) = binary::parse(data, 0, &mut findings) {
            let _ = validate::validate(&model);
        }
        if matches!(
            sniff::sniff(data),
            Ok(sniff::Kind::BinaryWithMagic | sniff::Kind::HeaderlessBinary)
        ) {
            sm_pack_fuzz::xgb_inspect(data);
        }
    })
});
