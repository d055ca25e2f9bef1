//! Where the resident memory goes: the process's RSS when the assistant started to load, and
//! what each stage's load added (RSS measured before and after it; an estimate — another
//! thread allocating meanwhile counts too, and memory mapped but not yet touched does not).
//! Recorded once at start-up by `assistant::build` / `load_language_models`, read by the
//! `MemoryUsage` D-Bus method and `skylark stats`. The daemon loads its stages on several
//! threads at once, so their windows overlap and each one's raw figure counts some of the
//! others' memory too; [`apportion`] then scales them so that together they add up to what the
//! loads added in all.

use std::time::Instant;

/// What loading one stage added to the resident memory.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMemory {
    /// `start` (the process before any load: binary, libraries, runtime), `grammar`,
    /// `speech_recognition`, `speech_output`, `listening`, `llm`, `semantic`.
    pub stage: String,
    /// RSS after the load minus before (may be negative when memory was returned meanwhile).
    pub bytes: i64,
    pub load_ms: u64,
}

/// The memory report: RSS now and at its peak, and the loads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryReport {
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub stages: Vec<StageMemory>,
}

impl MemoryReport {
    /// RSS not explained by the start or a load: what turns, caches and arenas hold now.
    pub fn other_bytes(&self) -> i64 {
        self.rss_bytes as i64 - self.stages.iter().map(|s| s.bytes).sum::<i64>()
    }
}

/// The process's RSS now as the `start` entry.
pub fn at_start() -> StageMemory {
    StageMemory {
        stage: "start".into(),
        bytes: crate::alloc::resident_bytes().unwrap_or(0) as i64,
        load_ms: 0,
    }
}

/// Runs `load`, noting in `into` what it added to the RSS as `stage`.
pub fn measure<T>(into: &mut Vec<StageMemory>, stage: &str, load: impl FnOnce() -> T) -> T {
    let before = crate::alloc::resident_bytes();
    let t = Instant::now();
    let loaded = load();
    let load_ms = t.elapsed().as_millis() as u64;
    if let (Some(before), Some(after)) = (before, crate::alloc::resident_bytes()) {
        let bytes = after as i64 - before as i64;
        tracing::debug!(stage, bytes, load_ms, "stage loaded");
        into.push(StageMemory {
            stage: stage.to_string(),
            bytes,
            load_ms,
        });
    }
    loaded
}

/// Scales the `bytes` of every stage but `start` so that they add up to `added` (the RSS the
/// loads added together), keeping their proportions: for stages loaded at the same time,
/// whose raw figures overlap. Nothing changes when the raw figures add up to nothing.
pub fn apportion(stages: &mut [StageMemory], added: i64) {
    let loads = || stages.iter().filter(|s| s.stage != "start");
    let raw: i64 = loads().map(|s| s.bytes.max(0)).sum();
    if raw <= 0 {
        return;
    }
    for s in stages.iter_mut().filter(|s| s.stage != "start") {
        s.bytes = (s.bytes.max(0) as i128 * added as i128 / raw as i128) as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_touches_memory_is_measured() {
        let mut into = vec![at_start()];
        // black_box: the stores must happen (an allocation never read may be optimised out).
        let kept = measure(&mut into, "buffer", || {
            std::hint::black_box(vec![1u8; 64 << 20])
        });
        assert_eq!(kept.len(), 64 << 20);
        let added = into[1].bytes;
        assert!(added > 48 << 20, "64 MiB touched, {added} bytes measured");
        let report = MemoryReport {
            rss_bytes: 100,
            peak_rss_bytes: 100,
            stages: vec![StageMemory {
                stage: "start".into(),
                bytes: 60,
                load_ms: 0,
            }],
        };
        assert_eq!(report.other_bytes(), 40);
    }

    #[test]
    fn overlapping_loads_are_scaled_to_what_they_added_together() {
        let entry = |stage: &str, bytes| StageMemory {
            stage: stage.into(),
            bytes,
            load_ms: 0,
        };
        let mut stages = vec![
            entry("start", 10),
            entry("llm", 300),
            entry("semantic", 100),
            entry("grammar", -5),
        ];
        apportion(&mut stages, 200);
        let bytes: Vec<i64> = stages.iter().map(|s| s.bytes).collect();
        assert_eq!(bytes, [10, 150, 50, 0]);
    }
}
