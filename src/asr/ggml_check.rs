//! A cheap structural check of a whisper.cpp ggml model file before handing it to whisper.cpp.
//!
//! whisper.cpp does not check every read while loading: a file cut short inside the last
//! tensors can load with garbage weights, and a wrong file gives only a generic failure. Walking
//! the headers (no weights are read, only seeks) lets us say "truncated" or "not a whisper
//! model" and name the file, before any native code touches it.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// "ggml" as whisper.cpp writes it (little-endian u32 0x67676d6c).
const GGML_MAGIC: u32 = 0x6767_6d6c;

/// What the headers say about the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GgmlSummary {
    pub n_vocab: i32,
    pub n_tensors: usize,
}

/// `Err(reason)` describes what is wrong, for [`super::AsrError::ModelCorrupt`].
pub(crate) fn check_ggml_whisper(path: &Path) -> Result<GgmlSummary, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let file_len = file
        .metadata()
        .map_err(|e| format!("cannot stat: {e}"))?
        .len();
    let mut r = BufReader::new(file);
    let eof = |what: &str| format!("the file ends inside the {what} ({file_len} bytes)");

    let magic = read_u32(&mut r).map_err(|_| eof("header"))?;
    if magic != GGML_MAGIC {
        return Err(format!(
            "bad magic 0x{magic:08x}, expected 0x{GGML_MAGIC:08x} (\"ggml\")"
        ));
    }
    let mut hp = [0i32; 11];
    for v in hp.iter_mut() {
        *v = read_i32(&mut r).map_err(|_| eof("hyper-parameters"))?;
    }
    let n_vocab = hp[0];
    if !(1..=1_000_000).contains(&n_vocab) || hp.iter().take(10).any(|&v| v <= 0) {
        return Err(format!("implausible hyper-parameters {hp:?}"));
    }
    let n_mel = read_i32(&mut r).map_err(|_| eof("mel filters"))?;
    let n_fft = read_i32(&mut r).map_err(|_| eof("mel filters"))?;
    if !(0..=1024).contains(&n_mel) || !(0..=4096).contains(&n_fft) {
        return Err(format!("implausible mel filter shape {n_mel}x{n_fft}"));
    }
    skip(&mut r, 4 * n_mel as i64 * n_fft as i64).map_err(|_| eof("mel filters"))?;
    let n_words = read_i32(&mut r).map_err(|_| eof("vocabulary"))?;
    if !(0..=n_vocab.max(0)).contains(&n_words) {
        return Err(format!(
            "vocabulary of {n_words} words for n_vocab {n_vocab}"
        ));
    }
    for _ in 0..n_words {
        let len = read_i32(&mut r).map_err(|_| eof("vocabulary"))?;
        if !(0..=1024).contains(&len) {
            return Err(format!("implausible vocabulary entry length {len}"));
        }
        skip(&mut r, len as i64).map_err(|_| eof("vocabulary"))?;
    }

    let mut n_tensors = 0usize;
    loop {
        let pos = r.stream_position().map_err(|e| e.to_string())?;
        if pos == file_len {
            break;
        }
        let n_dims = read_i32(&mut r).map_err(|_| eof("tensor headers"))?;
        let name_len = read_i32(&mut r).map_err(|_| eof("tensor headers"))?;
        let ttype = read_i32(&mut r).map_err(|_| eof("tensor headers"))?;
        if !(1..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(format!("bad tensor header at byte {pos}"));
        }
        let mut elems: u64 = 1;
        for _ in 0..n_dims {
            let d = read_i32(&mut r).map_err(|_| eof("tensor headers"))?;
            if d <= 0 {
                return Err(format!("bad tensor dimension {d} at byte {pos}"));
            }
            elems = elems.saturating_mul(d as u64);
        }
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name).map_err(|_| eof("tensor headers"))?;
        let Some(nbytes) = tensor_bytes(ttype, elems) else {
            // A type we do not know the block size of: whisper.cpp will judge the rest.
            return Ok(GgmlSummary { n_vocab, n_tensors });
        };
        let end = r
            .stream_position()
            .map_err(|e| e.to_string())?
            .saturating_add(nbytes);
        if end > file_len {
            return Err(format!(
                "truncated: tensor {} needs bytes up to {end}, the file has {file_len}",
                String::from_utf8_lossy(&name)
            ));
        }
        r.seek(SeekFrom::Start(end)).map_err(|e| e.to_string())?;
        n_tensors += 1;
    }
    if n_tensors == 0 {
        return Err("the file holds no tensors".into());
    }
    Ok(GgmlSummary { n_vocab, n_tensors })
}

/// Bytes of a tensor of `elems` elements of ggml type `ttype` (block-quantised types included).
fn tensor_bytes(ttype: i32, elems: u64) -> Option<u64> {
    let (block, bytes) = match ttype {
        0 => (1, 4),      // F32
        1 => (1, 2),      // F16
        2 => (32, 18),    // Q4_0
        3 => (32, 20),    // Q4_1
        6 => (32, 22),    // Q5_0
        7 => (32, 24),    // Q5_1
        8 => (32, 34),    // Q8_0
        10 => (256, 84),  // Q2_K
        11 => (256, 110), // Q3_K
        12 => (256, 144), // Q4_K
        13 => (256, 176), // Q5_K
        14 => (256, 210), // Q6_K
        _ => return None,
    };
    Some(elems.div_ceil(block) * bytes)
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_i32(r: &mut impl Read) -> std::io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_le_bytes(b))
}

/// Skip `n` bytes, failing if that would pass the end of the file.
fn skip<R: Read + Seek>(r: &mut R, n: i64) -> std::io::Result<()> {
    let mut sink = r.by_ref().take(n as u64);
    let copied = std::io::copy(&mut sink, &mut std::io::sink())?;
    if copied as i64 != n {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}
