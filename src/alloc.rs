//! The process's memory-allocator policy (glibc malloc), in one place.
//!
//! A model call allocates and frees large buffers (ONNX Runtime runs without its arena, so its
//! tensors come from malloc) on whichever blocking thread ran it. With glibc's defaults, each
//! such thread gets a malloc arena of its own, and freed blocks of up to 32 MiB are kept in the
//! heap (the mmap threshold rises to the largest block freed), so resident memory grows with the
//! largest request and the number of threads that ever ran one. Measured with
//! `SKYLARK_HOSTILE=memory cargo bench --bench hostile` (100 requests of 4 KB random text, 4
//! clients, this 2-core VM): peak 1.29× idle and 1.15× 30 s after with the defaults (under
//! load), 1.14× and 1.04× with two arenas and a fixed 256 KiB mmap threshold (quiet).

/// Most malloc arenas the process uses (glibc's default is 8 per core).
#[cfg(target_env = "gnu")]
const ARENA_MAX: libc::c_int = 2;
/// Blocks of this size or more are mmapped and unmapped on free, so they return at once.
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Applies the daemon's allocator policy. Call early, before the threads that run requests
/// start. An operator's `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` in the environment wins
/// (glibc has read them already; setting them again here would override them).
pub fn tune() {
    #[cfg(target_env = "gnu")]
    {
        let set = |name: &str| std::env::var_os(name).is_some();
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            if !set("MALLOC_ARENA_MAX") && libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX) != 1 {
                tracing::debug!("mallopt(M_ARENA_MAX) refused");
            }
            if !set("MALLOC_MMAP_THRESHOLD_")
                && libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1
            {
                tracing::debug!("mallopt(M_MMAP_THRESHOLD) refused");
            }
        }
    }
}

/// Hands the memory a model call freed back to the system: freed blocks under the mmap
/// threshold stay in the malloc arenas otherwise.
pub fn give_back() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's resident memory now (`VmRSS`), in bytes; `None` where `/proc` cannot say.
pub fn resident_bytes() -> Option<u64> {
    proc_status_bytes("self", "VmRSS:")
}

/// Another process's resident memory now (`VmRSS` of `/proc/PID/status`), in bytes
/// (`skylark bench` reads its daemon's).
pub fn resident_bytes_of(pid: u32) -> Option<u64> {
    proc_status_bytes(&pid.to_string(), "VmRSS:")
}

/// The most resident memory the process has had (`VmHWM`), in bytes.
pub fn peak_resident_bytes() -> Option<u64> {
    proc_status_bytes("self", "VmHWM:")
}

/// A `kB` line of `/proc/PROCESS/status` (`self` or a pid), in bytes.
fn proc_status_bytes(process: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_is_read() {
        let rss = super::resident_bytes().expect("VmRSS");
        let peak = super::peak_resident_bytes().expect("VmHWM");
        assert!(rss > 1 << 20 && peak >= rss, "{rss} {peak}");
    }
}
