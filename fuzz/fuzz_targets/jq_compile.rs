#![no_main]
libfuzzer_sys::fuzz_target!(init: aos_fuzz_targets::init("jq_compile"), |data: &[u8]| aos_fuzz_targets::jq_compile(data));
