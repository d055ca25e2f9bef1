//! A client of the daemon on a bus given by its address (a private bus, as `skylark bench`
//! starts one): `Recognize`, the bus's own `Peer.Ping` to the daemon (the round trip's floor),
//! and turning `WakeWordEnabled` on. The other client calls (`skylark stats`) are in [`super::usage`].

use std::collections::HashMap;

use zbus::{OwnedVariant, Variant};

/// A connection to the bus at an address, talking to `io.skylark.Assistant1`.
pub struct Client {
    conn: zbus::Connection,
}

impl Client {
    /// Connects to the bus at `address` (`unix:path=…`, as `dbus-daemon --print-address`
    /// prints it).
    pub async fn connect(address: &str) -> zbus::Result<Client> {
        let conn = zbus::connection::Builder::address(address).build().await?;
        Ok(Client { conn })
    }

    /// `Recognize(text, {language})`; the intent (`""`: none).
    pub async fn recognize(&self, text: &str, language: &str) -> zbus::Result<String> {
        let mut options: HashMap<&str, Variant<'_>> = HashMap::new();
        options.insert("language", Variant::from(language));
        let reply = self
            .conn
            .call_method(
                Some(super::NAME),
                super::PATH,
                Some(super::INTERFACE),
                "Recognize",
                &(text, options),
            )
            .await?;
        let (intent, _slots, _confidence, _source): (
            String,
            HashMap<String, OwnedVariant>,
            f64,
            String,
        ) = reply.body().deserialize()?;
        Ok(intent)
    }

    /// `org.freedesktop.DBus.Peer.Ping` to the daemon: a round trip through the bus that the
    /// daemon's connection answers without the engine.
    pub async fn ping(&self) -> zbus::Result<()> {
        self.conn
            .call_method(
                Some(super::NAME),
                super::PATH,
                Some("org.freedesktop.DBus.Peer"),
                "Ping",
                &(),
            )
            .await?;
        Ok(())
    }

    /// Turns the daemon's wake-word listening on (`WakeWordEnabled = true`), then reads the
    /// property back: whether it is listening for the wake word now.
    pub async fn enable_wake_word(&self) -> zbus::Result<bool> {
        let proxy = zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(super::NAME)
            .path(super::PATH)
            .build()
            .await?;
        let iface = zbus::names::InterfaceName::from_static_str_unchecked(super::INTERFACE);
        proxy
            .set(iface.clone(), "WakeWordEnabled", &Variant::from(true))
            .await?;
        let value: OwnedVariant = proxy.get(iface, "WakeWordEnabled").await?;
        bool::try_from(value).map_err(|e| zbus::Error::Failure(e.to_string()))
    }
}
