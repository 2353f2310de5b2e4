#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sync1688::fuzzing::product_info(data));
