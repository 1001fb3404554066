//! Whatever the bytes are: sniff, read (every encoding, pickles and memory
//! snapshots included), validate, summarise, judge for every container:
//! what `sm-pack inspect` and `sm-pack xgboost` do with an untrusted file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || {
        let _ = sm_pack::xgboost::sniff::sniff(data);
        let _ = sm_pack::xgboost::sniff::describe(data);
        sm_pack_fuzz::xgb_inspect(data);
    })
});
