//! The KV cache between decoder steps, in one of two forms.
//!
//! *Growing* works with any decoder: each step's `present.*` outputs, one position longer
//! than its past, become the next step's `past_key_values.*` — ONNX Runtime copies the whole
//! cache into the new tensors at every step, and allocates them.
//!
//! *Shared* is for decoders whose attention is ONNX Runtime's GroupQueryAttention (checked at
//! load, see `DecoderModel::load`): one buffer per past input, `capacity` positions long, is
//! both the past input and the preallocated present output of a step, so the attention writes
//! the new positions in place (ONNX Runtime's `past_present_share_buffer`) and nothing is
//! copied or allocated per token. The buffers double when a generation outgrows them.

use std::path::{Path, PathBuf};

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::value::{DynValue, Shape, Tensor, TensorRefMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvMode {
    Grow,
    Shared,
}

/// The cache of one generation: a tensor per past input and how many positions are filled.
pub(super) struct KvCache {
    /// `[1, heads, len, dim]` (growing) or `[1, heads, capacity, dim]` (shared) each.
    pub(super) values: Vec<DynValue>,
    /// Positions filled (prompt + generated).
    pub(super) len: usize,
    /// Buffer length in positions in shared mode; `None` when growing.
    pub(super) capacity: Option<usize>,
    heads: usize,
    dim: usize,
}

/// A `[heads, len, dim]` copy of one past tensor's filled positions (the prefix cache).
pub(super) type Rows = Vec<f32>;

impl KvCache {
    /// An empty cache of `n` tensors; `capacity` positions are allocated in shared mode.
    pub(super) fn empty(
        n: usize,
        heads: usize,
        dim: usize,
        mode: KvMode,
        capacity: usize,
    ) -> Result<Self, ort::Error> {
        Self::from_rows(&vec![Vec::new(); n], 0, heads, dim, mode, capacity)
    }

    /// A cache holding the first `len` positions of `rows` (each `[heads, rows_len, dim]`,
    /// `rows_len >= len`), with room for `capacity` positions in shared mode.
    pub(super) fn from_rows(
        rows: &[Rows],
        len: usize,
        heads: usize,
        dim: usize,
        mode: KvMode,
        capacity: usize,
    ) -> Result<Self, ort::Error> {
        let cap = match mode {
            KvMode::Grow => len,
            KvMode::Shared => capacity.max(len).max(1),
        };
        let mut values = Vec::with_capacity(rows.len());
        for r in rows {
            let rows_len = r.len().checked_div(heads * dim).unwrap_or(0);
            let mut data = vec![0f32; heads * cap * dim];
            for h in 0..heads {
                let src = r
                    .get(h * rows_len * dim..(h * rows_len + len) * dim)
                    .unwrap_or(&[]);
                if let Some(dst) = data.get_mut(h * cap * dim..h * cap * dim + src.len()) {
                    dst.copy_from_slice(src);
                }
            }
            values.push(Tensor::<f32>::from_array(([1usize, heads, cap, dim], data))?.into_dyn());
        }
        Ok(Self {
            values,
            len,
            capacity: (mode == KvMode::Shared).then_some(cap),
            heads,
            dim,
        })
    }

    /// The filled positions of every tensor, `[heads, len, dim]` each; `None` if a tensor
    /// cannot be read (the caller then keeps no prefix cache).
    pub(super) fn rows(&self) -> Option<Vec<Rows>> {
        let stride = self.capacity.unwrap_or(self.len);
        let (heads, dim, len) = (self.heads, self.dim, self.len);
        self.values
            .iter()
            .map(|v| {
                let (_, data) = v.try_extract_tensor::<f32>().ok()?;
                let mut out = Vec::with_capacity(heads * len * dim);
                for h in 0..heads {
                    out.extend_from_slice(data.get(h * stride * dim..(h * stride + len) * dim)?);
                }
                Some(out)
            })
            .collect()
    }

    /// In shared mode, make room for `needed` positions (doubling, at most `limit` when
    /// known); growing caches need nothing.
    pub(super) fn reserve(&mut self, needed: usize, limit: usize) -> Result<(), ort::Error> {
        let Some(cap) = self.capacity else {
            return Ok(());
        };
        if needed <= cap {
            return Ok(());
        }
        let mut new_cap = needed.max(cap.saturating_mul(2));
        if limit > 0 {
            new_cap = new_cap.min(limit.max(needed));
        }
        let rows = self
            .rows()
            .ok_or_else(|| ort::Error::new("the KV cache could not be read to grow it"))?;
        *self = Self::from_rows(
            &rows,
            self.len,
            self.heads,
            self.dim,
            KvMode::Shared,
            new_cap,
        )?;
        Ok(())
    }

    /// Shared mode: a second view of every buffer, given to the run as its past input while
    /// the buffer itself is the preallocated present output.
    pub(super) fn input_views(&mut self) -> Result<Vec<TensorRefMut<'static, f32>>, ort::Error> {
        let cap = self.capacity.unwrap_or(self.len);
        let info = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )?;
        let shape = [1, self.heads as i64, cap as i64, self.dim as i64];
        self.values
            .iter_mut()
            .map(|v| {
                let (_, data) = v.try_extract_tensor_mut::<f32>()?;
                let ptr = data.as_mut_ptr().cast();
                // SAFETY: `ptr` points at this buffer's `heads * cap * dim` floats, owned by
                // `v`, which the caller moves into the run's preallocated outputs and takes
                // back from its outputs: the buffer outlives the view, which is dropped with
                // the run's inputs. ONNX Runtime's attention is written to read and write
                // the same buffer (past/present share-buffer mode).
                unsafe { TensorRefMut::<f32>::from_raw(info.clone(), ptr, Shape::new(shape)) }
            })
            .collect()
    }
}

/// Which cache a model gets: `run(mode)` does a prefill and a step with a fresh cache of that
/// mode and returns both logits; the shared cache is chosen when it gives the growing one's
/// logits (within 1e-3). Attention other than GroupQueryAttention fails here (its present
/// output is one position longer than the buffer) or differs, and keeps growing.
pub(super) fn probe(mut run: impl FnMut(KvMode) -> Result<(Vec<f32>, Vec<f32>), String>) -> KvMode {
    let Ok((a1, b1)) = run(KvMode::Grow) else {
        return KvMode::Grow;
    };
    match run(KvMode::Shared) {
        Ok((a2, b2)) => {
            let same_len = a1.len() == a2.len() && b1.len() == b2.len();
            let diff = a1
                .iter()
                .zip(&a2)
                .chain(b1.iter().zip(&b2))
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            if same_len && diff < 1e-3 {
                KvMode::Shared
            } else {
                tracing::debug!(
                    diff,
                    "an in-place KV cache changes this model's logits; growing the cache"
                );
                KvMode::Grow
            }
        }
        Err(e) => {
            tracing::debug!("this model cannot share its KV buffers ({e}); growing the cache");
            KvMode::Grow
        }
    }
}

/// Where [`probe`]'s verdict for one model is remembered across starts: the probe runs the
/// model four times (about 0.4 s of a 2-core VM's cold start), and its answer only changes when
/// the model file, the ONNX Runtime library, the CPU (its kernels differ by instruction set)
/// or the thread count changes — all of which name the file ([`crate::onnx::cache_key`]), so
/// any change probes again.
pub(super) fn verdict_file(cache_dir: &Path, model: &Path, threads: usize) -> Option<PathBuf> {
    let key = crate::onnx::cache_key(model, &format!("kv-probe threads={threads}"))?;
    Some(cache_dir.join("llm").join(format!("kv-{key:016x}")))
}

/// The verdict remembered in `file`, if any (anything unreadable or unknown: none).
pub(super) fn read_verdict(file: &Path) -> Option<KvMode> {
    match std::fs::read_to_string(file).ok()?.trim() {
        "shared" => Some(KvMode::Shared),
        "grow" => Some(KvMode::Grow),
        _ => None,
    }
}

/// Remembers `mode` in `file` (written aside, then renamed: a reader never sees half a file).
/// A cache that cannot be written (full, read-only) only means the next start probes again.
pub(super) fn write_verdict(file: &Path, mode: KvMode) {
    let text = match mode {
        KvMode::Shared => "shared\n",
        KvMode::Grow => "grow\n",
    };
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let written = file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, text))
        .and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!(file = %file.display(), "cannot remember the KV cache probe ({e}); the next start probes again");
    }
}
