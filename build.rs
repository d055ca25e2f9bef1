//! Builds the libasound error-handler shim (`src/audio/alsa_log.c`) on Linux, where cpal uses
//! ALSA (and alsa-sys already links libasound). Android has no libasound.
fn main() {
    println!("cargo:rerun-if-changed=src/audio/alsa_log.c");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        cc::Build::new()
            .file("src/audio/alsa_log.c")
            .warnings(true)
            .compile("skylark_alsa_log");
        println!("cargo:rustc-link-lib=asound");
    }
}
