//! The pickle scanner (never executes anything): opcode walk, memo, stack,
//! dangerous-global detection, payload extraction; then the whole
//! inspection of the payload it finds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::xgboost::pickle;

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || {
        if let Ok(u) = pickle::walk(data) {
            assert!(
                u.info.payload_offset as usize <= data.len(),
                "payload offset beyond the input"
            );
            let _ = u.payload.len();
        }
        if data.first() == Some(&0x80) {
            sm_pack_fuzz::xgb_inspect(data);
        }
    })
});
