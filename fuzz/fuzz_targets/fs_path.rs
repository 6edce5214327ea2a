#![no_main]
libfuzzer_sys::fuzz_target!(init: aos_fuzz_targets::init("fs_path"), |data: &[u8]| aos_fuzz_targets::fs_path(data));
