#![no_main]
//! STUB: filled in by the codec owner.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
