#![no_main]
// The target's body and its promises: skylark::fuzzing::grammar_yaml (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| skylark::fuzzing::grammar_yaml(data));
