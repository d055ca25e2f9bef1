#![no_main]
// The target's body and its promises: skylark::fuzzing::client_audio (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| skylark::fuzzing::client_audio(data));
