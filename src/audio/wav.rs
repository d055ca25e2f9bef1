//! WAV reading and writing.
//!
//! Any PCM WAV a user or a test hands us (16/24/32-bit integer or 32-bit float, any channel
//! count, any sample rate) is turned into 16 kHz mono `f32`, the only format the recognition
//! stages accept. Channels are averaged and the rate is converted with a band-limited FFT
//! resampler (`rubato`), never by dropping or repeating samples, so speech recorded at 8, 22.05
//! or 48 kHz keeps its spectrum below 8 kHz and gains no aliasing.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// The sample rate whisper, the VAD and the wake word models expect.
pub const TARGET_SAMPLE_RATE: u32 = 16_000;
/// Sample rates a WAV may declare. Below 8 kHz there is no speech band to recognise, and a
/// header claiming 1 Hz would make a 1 KB file hours of audio (and the resampler gigabytes).
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// Why a WAV could not be read or written. `origin` is the file path, or the name the caller
/// gave to a stream, so the message says which audio is at fault.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("cannot open audio file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not a valid WAV file ({reason}); expected a RIFF/WAVE PCM file")]
    Malformed { origin: String, reason: String },
    #[error("{origin}: the WAV file is truncated ({reason}); the recording or copy was cut short")]
    Truncated { origin: String, reason: String },
    #[error("{origin}: the WAV file holds no audio samples")]
    Empty { origin: String },
    #[error(
        "{origin}: unsupported WAV encoding ({what}); use PCM with 16-, 24- or 32-bit \
         integer or 32-bit float samples (e.g. `ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav`)"
    )]
    Unsupported { origin: String, what: String },
    #[error("{origin}: cannot resample from {from} Hz to {to} Hz: {reason}")]
    Resample {
        origin: String,
        from: u32,
        to: u32,
        reason: String,
    },
    #[error(
        "{origin}: sample rate {rate} Hz is outside {}–{} Hz; record or convert speech at 16 kHz \
         (e.g. `ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav`)",
        SAMPLE_RATES.start(),
        SAMPLE_RATES.end()
    )]
    Rate { origin: String, rate: u32 },
    #[error("{origin}: sample {index} is not a finite number (NaN or infinity); the recording is corrupt")]
    NotFinite { origin: String, index: usize },
    #[error("cannot write WAV file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// Read a WAV file and return its audio as 16 kHz mono `f32`.
pub fn read_wav(path: &Path) -> Result<Vec<f32>, WavError> {
    let file = File::open(path).map_err(|source| WavError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    read_wav_from(BufReader::new(file), &path.display().to_string())
}

/// Read a WAV from any byte stream (a file descriptor passed over D-Bus, an in-memory buffer)
/// and return 16 kHz mono `f32`. `origin` names the stream in error messages.
pub fn read_wav_from<R: Read>(reader: R, origin: &str) -> Result<Vec<f32>, WavError> {
    // Read the RIFF header ourselves first so an empty stream (a failed recording, a wrong
    // fd) is reported as empty rather than as a broken header.
    let mut reader = reader;
    let mut head = Vec::with_capacity(12);
    (&mut reader)
        .take(12)
        .read_to_end(&mut head)
        .map_err(|e| WavError::Malformed {
            origin: origin.into(),
            reason: format!("read error: {e}"),
        })?;
    if head.is_empty() {
        return Err(WavError::Empty {
            origin: origin.into(),
        });
    }
    let reader = hound::WavReader::new(std::io::Cursor::new(head).chain(reader))
        .map_err(|e| map_hound(e, origin))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 {
        return Err(WavError::Malformed {
            origin: origin.into(),
            reason: "zero channels".into(),
        });
    }
    if !SAMPLE_RATES.contains(&spec.sample_rate) {
        return Err(WavError::Rate {
            origin: origin.into(),
            rate: spec.sample_rate,
        });
    }
    let mut interleaved = decode_samples(reader, spec, origin)?;
    // A NaN or infinity would poison every output sample of the resampler's FFT (and has
    // made it panic): refuse the file, naming the first bad sample.
    if let Some(index) = interleaved.iter().position(|s| !s.is_finite()) {
        return Err(WavError::NotFinite {
            origin: origin.into(),
            index,
        });
    }
    // Float samples past full scale are clipped there, as a sound card would: values near
    // f32::MAX (found by fuzzing) overflowed to infinity in the resampler.
    for s in &mut interleaved {
        *s = s.clamp(-1.0, 1.0);
    }
    if interleaved.len() < channels {
        return Err(WavError::Empty {
            origin: origin.into(),
        });
    }
    if interleaved.len() % channels != 0 {
        return Err(WavError::Truncated {
            origin: origin.into(),
            reason: "the last frame is missing channels".into(),
        });
    }
    let mono = downmix(&interleaved, channels);
    resample(&mono, spec.sample_rate, TARGET_SAMPLE_RATE).map_err(|e| WavError::Resample {
        origin: origin.into(),
        from: e.from,
        to: e.to,
        reason: e.reason,
    })
}

/// Decode every sample to `f32` in [-1, 1], interleaved as stored.
fn decode_samples<R: Read>(
    reader: hound::WavReader<R>,
    spec: hound::WavSpec,
    origin: &str,
) -> Result<Vec<f32>, WavError> {
    use hound::SampleFormat::{Float, Int};
    match (spec.sample_format, spec.bits_per_sample) {
        (Int, 8 | 16 | 24 | 32) => {
            // Full scale of a signed `bits`-bit integer; 2^31 is exact in f32.
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| {
                    s.map(|v| v as f32 * scale)
                        .map_err(|e| map_hound(e, origin))
                })
                .collect()
        }
        (Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map_err(|e| map_hound(e, origin)))
            .collect(),
        (format, bits) => Err(WavError::Unsupported {
            origin: origin.into(),
            what: format!(
                "{bits}-bit {}",
                if format == Float { "float" } else { "integer" }
            ),
        }),
    }
}

fn map_hound(err: hound::Error, origin: &str) -> WavError {
    let origin = origin.to_string();
    match err {
        hound::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            WavError::Truncated {
                origin,
                reason: "unexpected end of data".into(),
            }
        }
        // hound reports a short read as `Other` with this message.
        hound::Error::IoError(e) if e.to_string().contains("Failed to read enough bytes") => {
            WavError::Truncated {
                origin,
                reason: "unexpected end of data".into(),
            }
        }
        hound::Error::IoError(e) => WavError::Malformed {
            origin,
            reason: format!("read error: {e}"),
        },
        // hound rejects 64-bit float as a format error; it is a valid WAV we do not decode.
        hound::Error::FormatError("bits per sample is not 32") => WavError::Unsupported {
            origin,
            what: "float samples that are not 32-bit".into(),
        },
        hound::Error::FormatError(reason) => WavError::Malformed {
            origin,
            reason: reason.into(),
        },
        hound::Error::UnfinishedSample => WavError::Truncated {
            origin,
            reason: "the data ends inside a sample".into(),
        },
        hound::Error::Unsupported => WavError::Unsupported {
            origin,
            what: "not plain PCM".into(),
        },
        hound::Error::TooWide => WavError::Unsupported {
            origin,
            what: "sample wider than 32 bits".into(),
        },
        hound::Error::InvalidSampleFormat => WavError::Unsupported {
            origin,
            what: "sample format does not match its bit depth".into(),
        },
    }
}

/// Average the channels of interleaved audio into one.
fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    let inv = 1.0 / channels as f32;
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() * inv)
        .collect()
}

/// A sample-rate conversion that could not be set up or run.
#[derive(Debug, thiserror::Error)]
#[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    pub from: u32,
    pub to: u32,
    pub reason: String,
}

/// Convert mono audio from `from` Hz to `to` Hz with rubato's FFT resampler (band-limited,
/// delay compensated). The result has `ceil(len * to / from)` samples.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    let err = |reason: String| ResampleError { from, to, reason };
    if from == 0 || to == 0 {
        return Err(err("sample rate 0".into()));
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    // rubato asserts on what it considers impossible; a panic must not cross a request path.
    let run = || -> Result<Vec<f32>, ResampleError> {
        let mut resampler = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Both)
            .map_err(|e| err(e.to_string()))?;
        let input =
            InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| err(e.to_string()))?;
        let output = resampler
            .process_all(&input, samples.len(), None)
            .map_err(|e| err(e.to_string()))?;
        Ok(output.take_data())
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the resampler failed".into());
        Err(err(why))
    })
}

/// Write 16-bit mono PCM, e.g. to keep what the microphone heard or what TTS said.
/// Samples outside [-1, 1] are clipped.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), WavError> {
    let err = |reason: String| WavError::Write {
        path: path.to_path_buf(),
        reason,
    };
    if sample_rate == 0 {
        return Err(err("sample rate 0".into()));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|e| err(e.to_string()))?;
    for &s in samples {
        let v = if s.is_finite() {
            (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
        } else {
            0
        };
        writer.write_sample(v).map_err(|e| err(e.to_string()))?;
    }
    writer.finalize().map_err(|e| err(e.to_string()))
}
