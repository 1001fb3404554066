//! XGBoost UBJSON: the binary JSON parser (typed arrays, counts, lengths,
//! nesting cap), then mapping, validation and rendering when it parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::xgboost::ubjson;

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || match ubjson::parse(data) {
        Ok((root, facts)) => {
            assert!(facts.end as usize <= data.len(), "end beyond the input");
            let _ = root.value.to_json();
            sm_pack_fuzz::xgb_inspect(data);
        }
        Err(e) => {
            assert!(
                e.offset as usize <= data.len(),
                "error offset beyond the input"
            );
        }
    })
});
