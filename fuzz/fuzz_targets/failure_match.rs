#![no_main]
libfuzzer_sys::fuzz_target!(init: aos_fuzz_targets::init("failure_match"), |data: &[u8]| aos_fuzz_targets::failure_match(data));
