//! skylark on Android: the JNI side of `io.skylark.Assistant`.
//!
//! The only crate that knows JNI. It translates Java calls into calls of the engine's public
//! API (`skylark::assistant::build`, [`Engine`]) and engine events into listener calls; it
//! holds no assistant logic of its own.
//!
//! Boundaries:
//! - Every entry point runs inside `EnvUnowned::with_env`, which catches panics; errors (and a
//!   panic, should one happen) reach Java as `io.skylark.SkylarkException` with the message.
//! - A handle is a `Box<Handle>` turned into a `long`. The Java class guards it with a
//!   read-write lock: calls hold the read side, `close` the write side, so a closed or
//!   closing handle is never used here (Java throws `IllegalStateException` instead).
//! - Listener callbacks come from one Rust thread per turn, attached to the JVM, in the order
//!   the engine emitted the events. The Java `TurnBridge` they call catches whatever the app's
//!   listener throws; a Java exception that still escapes is cleared and logged here.

mod events;
mod handle;
mod policy;

/// The result encoding Java decodes (public for the overhead bench).
pub use handle::encode;

use jni::objects::{JClass, JObject, JObjectArray, JShortArray, JString};
use jni::sys::{jint, jlong};
use jni::{Env, EnvUnowned};

use handle::Handle;
use policy::{BindingError, ThrowSkylark};

/// Java `String` → Rust, `None` for `null`.
fn optional_string(env: &Env, s: &JString) -> Result<Option<String>, BindingError> {
    if s.is_null() {
        return Ok(None);
    }
    Ok(Some(s.try_to_string(env)?))
}

/// Java `String` → Rust; `null` is an error naming the argument.
fn required_string(env: &Env, s: &JString, what: &str) -> Result<String, BindingError> {
    optional_string(env, s)?.ok_or_else(|| BindingError::Skylark(format!("{what} is null")))
}

/// The handle behind `ptr`. Java passes only handles it got from `nativeCreate` and has not
/// closed (its lock guarantees that); 0 is refused anyway.
fn handle<'a>(ptr: jlong) -> Result<&'a Handle, BindingError> {
    if ptr == 0 {
        return Err(BindingError::Skylark("the assistant is closed".into()));
    }
    // SAFETY: `ptr` came from `Box::into_raw` in `nativeCreate` and is freed only by
    // `nativeClose`, which Java calls under the write lock, after every other call returned.
    Ok(unsafe { &*(ptr as *const Handle) })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeCreate<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    config: JString<'caller>,
    models_dir: JString<'caller>,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong, BindingError> {
            let config = optional_string(env, &config)?.unwrap_or_default();
            let models_dir = required_string(env, &models_dir, "modelsDir")?;
            let handle = Handle::create(&config, &models_dir)?;
            Ok(Box::into_raw(Box::new(handle)) as jlong)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeClose<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
) {
    unowned
        .with_env(|_env| -> Result<(), BindingError> {
            if ptr != 0 {
                // SAFETY: see `handle`; Java zeroes its copy under the write lock, so this
                // runs once per handle.
                let handle = unsafe { Box::from_raw(ptr as *mut Handle) };
                handle.close();
            }
            Ok(())
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeMissing<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
) -> JString<'caller> {
    unowned
        .with_env(|env| -> Result<JString<'caller>, BindingError> {
            let missing = handle(ptr)?.missing().join("\n");
            Ok(env.new_string(missing)?)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeRecognize<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    text: JString<'caller>,
    language: JString<'caller>,
) -> JString<'caller> {
    unowned
        .with_env(|env| -> Result<JString<'caller>, BindingError> {
            let h = handle(ptr)?;
            let text = required_string(env, &text, "text")?;
            let language = optional_string(env, &language)?;
            let encoded = h.recognize(&text, language.as_deref())?;
            Ok(env.new_string(encoded)?)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeAsk<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    text: JString<'caller>,
    language: JString<'caller>,
    bridge: JObject<'caller>,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong, BindingError> {
            let h = handle(ptr)?;
            let text = required_string(env, &text, "text")?;
            let language = optional_string(env, &language)?;
            let bridge = events::Bridge::new(env, &bridge)?;
            h.ask(&text, language.as_deref(), bridge)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeStartListening<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    language: JString<'caller>,
    bridge: JObject<'caller>,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong, BindingError> {
            let h = handle(ptr)?;
            let language = optional_string(env, &language)?;
            let bridge = events::Bridge::new(env, &bridge)?;
            h.start_listening(language.as_deref(), bridge)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeFeedAudio<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    pcm: JShortArray<'caller>,
    sample_rate: jint,
) {
    unowned
        .with_env(|env| -> Result<(), BindingError> {
            let h = handle(ptr)?;
            if pcm.is_null() {
                return Err(BindingError::Skylark("pcm is null".into()));
            }
            let mut samples = vec![0i16; pcm.len(env)?];
            pcm.get_region(env, 0, &mut samples)?;
            let rate = u32::try_from(sample_rate).unwrap_or(0);
            h.feed_audio(&samples, rate)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeSynthesize<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    text: JString<'caller>,
    language: JString<'caller>,
    rate_out: jni::objects::JIntArray<'caller>,
) -> JShortArray<'caller> {
    unowned
        .with_env(|env| -> Result<JShortArray<'caller>, BindingError> {
            let h = handle(ptr)?;
            let text = required_string(env, &text, "text")?;
            let language = optional_string(env, &language)?;
            let (pcm, rate) = h.synthesize(&text, language.as_deref())?;
            let array = JShortArray::new(env, pcm.len())?;
            array.set_region(env, 0, &pcm)?;
            if !rate_out.is_null() && rate_out.len(env)? > 0 {
                rate_out.set_region(env, 0, &[rate as jint])?;
            }
            Ok(array)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeSetList<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    name: JString<'caller>,
    spoken: JObjectArray<'caller, JString<'caller>>,
    values: JObjectArray<'caller, JString<'caller>>,
) {
    unowned
        .with_env(|env| -> Result<(), BindingError> {
            let h = handle(ptr)?;
            let name = required_string(env, &name, "name")?;
            if spoken.is_null() || values.is_null() {
                return Err(BindingError::Skylark("the list entries are null".into()));
            }
            let n = spoken.len(env)?;
            if values.len(env)? != n {
                return Err(BindingError::Skylark(
                    "spoken forms and values differ in number".into(),
                ));
            }
            let mut entries = Vec::with_capacity(n);
            for i in 0..n {
                let s = spoken.get_element(env, i)?;
                let v = values.get_element(env, i)?;
                let s = required_string(env, &s, "a spoken form")?;
                let v = required_string(env, &v, "a value")?;
                entries.push((s, v));
            }
            h.set_list(&name, entries)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeCancel<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    turn: jlong,
) {
    unowned
        .with_env(|_env| -> Result<(), BindingError> { handle(ptr)?.cancel(turn) })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeSetWakeWordEnabled<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    enabled: jni::sys::jboolean,
) {
    unowned
        .with_env(|_env| -> Result<(), BindingError> {
            handle(ptr)?.set_wake_word_enabled(enabled)
        })
        .resolve::<ThrowSkylark>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_io_skylark_Assistant_nativeSetWakeListener<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    ptr: jlong,
    bridge: JObject<'caller>,
) {
    unowned
        .with_env(|env| -> Result<(), BindingError> {
            let h = handle(ptr)?;
            let bridge = if bridge.is_null() {
                None
            } else {
                Some(events::Bridge::new(env, &bridge)?)
            };
            h.set_wake_listener(bridge);
            Ok(())
        })
        .resolve::<ThrowSkylark>()
}
