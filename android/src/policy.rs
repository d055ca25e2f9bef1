//! How failures cross into Java: every error, and a panic should one happen, becomes an
//! `io.skylark.SkylarkException` carrying the message (jni's stock policy would throw a bare
//! `RuntimeException`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::errors::ErrorPolicy;
use jni::{jni_str, Env};

/// What a native method can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// The engine refused or failed; the message says why and how to fix it.
    #[error("{0}")]
    Skylark(String),
    /// A JNI call failed (a pending Java exception is left to propagate).
    #[error("JNI: {0}")]
    Jni(#[from] jni::errors::Error),
}

impl From<skylark::engine::EngineError> for BindingError {
    fn from(e: skylark::engine::EngineError) -> Self {
        BindingError::Skylark(e.to_string())
    }
}

/// Throws `SkylarkException(message)` unless an exception is pending already, and returns the
/// default value (Java sees only the exception).
pub struct ThrowSkylark;

fn throw(env: &mut Env, message: &str) {
    if env.exception_check() {
        return;
    }
    let message = jni::strings::JNIString::new(message);
    // `throw_new` reports the now-pending exception as an error: that is the point.
    let _ = env.throw_new(jni_str!("io/skylark/SkylarkException"), &message);
}

impl<T: Default> ErrorPolicy<T, BindingError> for ThrowSkylark {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        err: BindingError,
    ) -> jni::errors::Result<T> {
        throw(env, &err.to_string());
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        // Dropping a payload may itself panic: never let that unwind into the JVM.
        if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
            std::mem::forget(again);
        }
        throw(
            env,
            &format!("internal error in skylark (a bug: please report it): {what}"),
        );
        Ok(T::default())
    }
}
