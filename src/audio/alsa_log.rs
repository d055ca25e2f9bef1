//! libasound's own error printing, routed into `tracing` at debug (target `alsa`), so a
//! machine without a sound card does not get hundreds of `ALSA lib …` lines on stderr from the
//! microphone's retry loop. The daemon says itself, once, that there is no microphone and how
//! to fix it (`capture.rs`). `SKYLARK_LOG=alsa=debug` shows libasound's lines again.
//!
//! libasound's handler is variadic; stable Rust cannot define one, so `alsa_log.c` (built by
//! `build.rs` with `cc`) formats the message and calls [`skylark_alsa_message`].

use std::ffi::{c_char, c_int, CStr};
use std::sync::Once;

extern "C" {
    fn skylark_alsa_route_errors() -> c_int;
}

/// Installs the handler (once per process). Safe to call from anywhere, any number of times.
pub fn route_to_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sets a process-wide function pointer in libasound; the handler it installs
        // only formats into a stack buffer and calls `skylark_alsa_message`.
        let rc = unsafe { skylark_alsa_route_errors() };
        if rc != 0 {
            tracing::debug!(
                rc,
                "snd_lib_error_set_handler failed; libasound may print to stderr"
            );
        }
    });
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libasound passes NUL-terminated strings (or NULL, handled above) that live for
    // the call; the message comes from the shim's NUL-terminated buffer.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Called by the C shim for each libasound error. Never unwinds into C.
#[no_mangle]
pub extern "C" fn skylark_alsa_message(
    file: *const c_char,
    line: c_int,
    function: *const c_char,
    err: c_int,
    message: *const c_char,
) {
    let _ = std::panic::catch_unwind(|| {
        let (file, function, message) = (text(file), text(function), text(message));
        tracing::debug!(target: "alsa", err, "{file}:{line}:({function}) {message}");
    });
}
