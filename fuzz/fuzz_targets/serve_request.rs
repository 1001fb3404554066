//! `sm-pack serve` requests: content types, CSV sniffing, libsvm,
//! RecordIO-protobuf, Accept handling and selectable output on real
//! endpoints; every body gets a status, within the memory budget.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || sm_pack_fuzz::serve_request(data))
});
