//! skylark: an on-device voice assistant engine.
