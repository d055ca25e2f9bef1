#![no_main]
// The target's body and its promises: skylark::fuzzing::intent_json (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| skylark::fuzzing::intent_json(data));
