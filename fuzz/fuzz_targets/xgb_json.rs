//! XGBoost JSON: the text parser (nesting cap, escapes, UTF-8, number
//! grammar, packed arrays), then the document-to-model mapping, validation
//! and rendering whenever the bytes parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::xgboost::json;

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || match json::parse(data) {
        Ok((root, facts)) => {
            assert!(facts.end as usize <= data.len(), "end beyond the input");
            let _ = root.value.to_json();
            sm_pack_fuzz::xgb_inspect(data);
        }
        Err(e) => {
            let _ = e.message.len();
        }
    })
});
