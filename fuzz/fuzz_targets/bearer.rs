#![no_main]
libfuzzer_sys::fuzz_target!(init: aos_fuzz_targets::init("bearer"), |data: &[u8]| aos_fuzz_targets::bearer(data));
