/* libasound prints its errors ("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM
 * default") to stderr through a C variadic handler. A variadic function cannot be defined in
 * stable Rust, so this shim formats the message and hands it to Rust
 * (skylark_alsa_message in alsa_log.rs), which logs it through `tracing` at debug. */
#include <stdarg.h>
#include <stdio.h>

typedef void (*snd_lib_error_handler_t)(const char *file, int line, const char *function,
                                        int err, const char *fmt, ...);
extern int snd_lib_error_set_handler(snd_lib_error_handler_t handler);
extern void skylark_alsa_message(const char *file, int line, const char *function, int err,
                                 const char *message);

static void skylark_alsa_handler(const char *file, int line, const char *function, int err,
                                 const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt ? fmt : "", ap);
    va_end(ap);
    skylark_alsa_message(file, line, function, err, message);
}

int skylark_alsa_route_errors(void) { return snd_lib_error_set_handler(skylark_alsa_handler); }
