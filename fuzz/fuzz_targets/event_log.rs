#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poolscope_fuzz::event_log(data));
