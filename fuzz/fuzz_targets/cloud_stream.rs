#![no_main]
// The target's body and its promises: skylark::fuzzing::cloud_stream (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| skylark::fuzzing::cloud_stream(data));
