//! `skylark install` / `uninstall` (filled in below).
