#![no_main]
// The target's body and its promises: skylark::fuzzing::config (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| skylark::fuzzing::config(data));
