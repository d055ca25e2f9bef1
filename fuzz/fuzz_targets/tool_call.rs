#![no_main]
// The target's body and its promises: skylark::fuzzing::tool_call (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| skylark::fuzzing::tool_call(data));
