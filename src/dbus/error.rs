//! Errors: the contract's named D-Bus errors (`io.skylark.Assistant1.Error.*`), and the
//! errors of starting the service.

use crate::engine::EngineError;

/// A method's error as the caller sees it: `io.skylark.Assistant1.Error.<Variant>` with the
/// engine's message.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "io.skylark.Assistant1.Error")]
pub enum MethodError {
    #[zbus(error)]
    ZBus(zbus::Error),
    InvalidArgument(String),
    NotReady(String),
    Busy(String),
    NotFound(String),
    AccessDenied(String),
    Timeout(String),
    Failed(String),
}

impl From<EngineError> for MethodError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidArgument(m) => MethodError::InvalidArgument(m),
            EngineError::NotReady(m) => MethodError::NotReady(m),
            EngineError::Busy(m) => MethodError::Busy(m),
            EngineError::NotFound(m) => MethodError::NotFound(m),
            EngineError::AccessDenied(m) => MethodError::AccessDenied(m),
            EngineError::Timeout(m) => MethodError::Timeout(m),
            EngineError::Failed(m) => MethodError::Failed(m),
        }
    }
}

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "no D-Bus session bus: {why}. Start one with `dbus-run-session -- skylark daemon` \
         (or `eval $(dbus-launch --sh-syntax)` in this shell, or log in to a desktop session); \
         a system service uses `skylark daemon --system`"
    )]
    NoSessionBus { why: String },
    #[error("cannot connect to the D-Bus {bus} bus: {source} (is the bus running? `systemctl status dbus`)")]
    Connect {
        bus: &'static str,
        source: zbus::Error,
    },
    #[error(
        "the name {name} is already owned on the {bus} bus: another skylark daemon is running \
         (stop it first: `systemctl --user stop skylark`, or `busctl --user status {name}` names its process)"
    )]
    NameTaken {
        name: &'static str,
        bus: &'static str,
    },
    #[error(
        "not allowed to own {name} on the {bus} bus: {source}. On the system bus install the D-Bus \
         policy file to /usr/share/dbus-1/system.d/ (see systemd/README.md)"
    )]
    NameDenied {
        name: &'static str,
        bus: &'static str,
        source: zbus::Error,
    },
    #[error("D-Bus error on the {bus} bus: {source}")]
    Bus {
        bus: &'static str,
        source: zbus::Error,
    },
}
