//! Audio a client hands over as a file descriptor (D-Bus `Transcribe`): a WAV in any PCM
//! layout, or raw s16le 16 kHz mono, read into 16 kHz mono `f32` with a cap on its length.
//!
//! The descriptor comes from an untrusted client, so reading it must neither hang nor grow
//! memory without bound:
//! - only regular files and pipes are read; a directory, socket or device is refused before
//!   any read (a socket whose peer stays silent would block a thread for ever);
//! - a pipe that delivers nothing for [`IDLE_TIMEOUT`] is given up on;
//! - the length is capped in *seconds of audio* (`asr.max_audio_seconds`): a WAV header that
//!   declares more is refused before its body is read, and a stream that does not declare
//!   its length (a WAV written to a pipe, raw audio) is read only up to the cap.

use std::fs::File;
use std::io::{Cursor, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

use super::wav::{read_wav_from, WavError, TARGET_SAMPLE_RATE};

/// How long a pipe may stay silent before the read is abandoned.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read before the WAV header is parsed; headers with larger metadata are refused.
const HEADER_PREFIX: u64 = 256 * 1024;
/// Data-chunk lengths writers use when they cannot seek back to fill in the real one
/// (espeak-ng and sox writing to a pipe, ffmpeg streaming).
const STREAMING_DATA_LEN: u32 = 0x7fff_0000;

/// Why client audio was refused. Every variant is the client's fault (an invalid argument).
#[derive(Debug, thiserror::Error)]
pub enum AudioInputError {
    #[error("the file descriptor is {what}, not a readable file or pipe; pass an open WAV file or a pipe")]
    NotReadable { what: &'static str },
    #[error("cannot read the audio from the file descriptor: {0}")]
    Io(std::io::Error),
    #[error("the pipe delivered no data for {} s; write the audio and close the pipe", IDLE_TIMEOUT.as_secs())]
    Stalled,
    #[error("the audio is empty (zero bytes)")]
    Empty,
    #[error(
        "the audio is {seconds:.1} s long, more than the limit of {max} s (asr.max_audio_seconds); \
         split it into shorter pieces"
    )]
    TooLong { seconds: f64, max: u32 },
    #[error(
        "raw audio must be s16le (2 bytes a sample), but {bytes} bytes is an odd count: the \
         stream is truncated"
    )]
    OddRaw { bytes: usize },
    #[error("{0} (for raw s16le 16 kHz mono audio pass the option format=raw)")]
    Wav(WavError),
    #[error("the audio holds samples that are not finite numbers (NaN or infinity)")]
    NotFinite,
}

/// What is behind a descriptor, from `fstat`: only regular files and FIFOs are read.
fn check_kind(file: &File) -> Result<(), AudioInputError> {
    let meta = file.metadata().map_err(AudioInputError::Io)?;
    let t = meta.file_type();
    let what = if t.is_file() || t.is_fifo() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a file"
    };
    Err(AudioInputError::NotReadable { what })
}

/// A reader that gives up on a pipe that stays silent for [`IDLE_TIMEOUT`].
struct Patient<'a> {
    file: &'a File,
    pipe: bool,
}

impl Read for Patient<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pipe {
            let mut fds = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = IDLE_TIMEOUT.as_millis() as libc::c_int;
            loop {
                // SAFETY: one valid pollfd, for a descriptor `self.file` keeps open.
                let n = unsafe { libc::poll(&mut fds, 1, ms) };
                if n > 0 {
                    break;
                }
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "stalled"));
                }
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
        let mut f = self.file;
        f.read(buf)
    }
}

fn io_error(e: std::io::Error) -> AudioInputError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        AudioInputError::Stalled
    } else {
        AudioInputError::Io(e)
    }
}

/// Reads up to `limit` bytes (all of them, or to end of stream).
fn read_up_to(r: &mut impl Read, limit: u64) -> Result<Vec<u8>, AudioInputError> {
    let mut bytes = Vec::new();
    r.take(limit).read_to_end(&mut bytes).map_err(io_error)?;
    Ok(bytes)
}

/// Read client audio from `file` as 16 kHz mono `f32`: a WAV (any rate, channels, 16/24/32-bit
/// integer or 32-bit float), or raw s16le 16 kHz mono when `raw`. At most `max_seconds` long.
pub fn read_client_audio(
    file: &File,
    raw: bool,
    max_seconds: u32,
) -> Result<Vec<f32>, AudioInputError> {
    check_kind(file)?;
    let pipe = file
        .metadata()
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false);
    let mut reader = Patient { file, pipe };
    let samples = if raw {
        read_raw(&mut reader, max_seconds)?
    } else {
        read_wav(&mut reader, max_seconds)?
    };
    if samples.iter().any(|s| !s.is_finite()) {
        return Err(AudioInputError::NotFinite);
    }
    Ok(samples)
}

fn read_raw(reader: &mut impl Read, max_seconds: u32) -> Result<Vec<f32>, AudioInputError> {
    let cap = u64::from(max_seconds) * u64::from(TARGET_SAMPLE_RATE) * 2;
    let bytes = read_up_to(reader, cap + 1)?;
    if bytes.is_empty() {
        return Err(AudioInputError::Empty);
    }
    if bytes.len() as u64 > cap {
        return Err(too_long(reader, bytes.len() as u64, 32_000.0, max_seconds));
    }
    if bytes.len() % 2 != 0 {
        return Err(AudioInputError::OddRaw { bytes: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect())
}

/// The `TooLong` error for a stream cut at the cap; its length is counted (up to a bound) so the
/// message can say how long it was, without keeping the bytes.
fn too_long(reader: &mut impl Read, read: u64, bytes_per_sec: f64, max: u32) -> AudioInputError {
    let rest = std::io::copy(
        &mut reader.take(read.saturating_mul(4)),
        &mut std::io::sink(),
    )
    .unwrap_or(0);
    AudioInputError::TooLong {
        seconds: (read + rest) as f64 / bytes_per_sec,
        max,
    }
}

fn wav_error(e: WavError) -> AudioInputError {
    match e {
        WavError::Empty { .. } => AudioInputError::Empty,
        e => AudioInputError::Wav(e),
    }
}

const ORIGIN: &str = "the audio passed";

fn read_wav(reader: &mut impl Read, max_seconds: u32) -> Result<Vec<f32>, AudioInputError> {
    let prefix = read_up_to(reader, HEADER_PREFIX)?;
    if prefix.is_empty() {
        return Err(AudioInputError::Empty);
    }
    let header = match hound::WavReader::new(Cursor::new(&prefix)) {
        Ok(r) => r,
        // Not a WAV header (or one with more than HEADER_PREFIX bytes of metadata, which is
        // then reported as truncated): let the WAV reader name the fault.
        Err(_) => return read_wav_from(Cursor::new(prefix), ORIGIN).map_err(wav_error),
    };
    let spec = header.spec();
    let frames = header.duration();
    let data_start = header.into_inner().position() as usize;
    let frame_bytes = u64::from(spec.channels) * u64::from(spec.bits_per_sample.div_ceil(8));
    let bytes_per_sec = (u64::from(spec.sample_rate) * frame_bytes).max(1);
    let cap_bytes = u64::from(max_seconds) * bytes_per_sec;
    let declared_bytes = u64::from(frames) * frame_bytes;
    let streaming = data_start >= 4
        && prefix
            .get(data_start - 4..data_start)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .is_some_and(|len| len == 0 || len >= STREAMING_DATA_LEN);
    if !streaming {
        if declared_bytes > cap_bytes {
            return Err(AudioInputError::TooLong {
                seconds: frames as f64 / f64::from(spec.sample_rate.max(1)),
                max: max_seconds,
            });
        }
        // The header bounds what is read: the WAV reader stops at the declared length.
        let stream = Cursor::new(prefix).chain(reader.take(declared_bytes + 1));
        return read_wav_from(stream, ORIGIN).map_err(wav_error);
    }
    // A length the writer could not fill in: read to the end, up to the cap, then write the
    // real length into the header so the WAV reader takes exactly what arrived.
    let have = (prefix.len() - data_start) as u64;
    let mut bytes = prefix;
    if have <= cap_bytes {
        let rest = read_up_to(reader, cap_bytes - have + 1)?;
        bytes.extend_from_slice(&rest);
    }
    let data_len = (bytes.len() - data_start) as u64;
    if data_len > cap_bytes {
        return Err(too_long(
            reader,
            bytes.len() as u64,
            bytes_per_sec as f64,
            max_seconds,
        ));
    }
    let whole_frames = data_len - data_len % frame_bytes.max(1);
    bytes.truncate(data_start + whole_frames as usize);
    let len = whole_frames as u32;
    bytes[data_start - 4..data_start].copy_from_slice(&len.to_le_bytes());
    if bytes.len() >= 8 && &bytes[0..4] == b"RIFF" {
        let riff = (bytes.len() - 8) as u32;
        bytes[4..8].copy_from_slice(&riff.to_le_bytes());
    }
    read_wav_from(Cursor::new(bytes), ORIGIN).map_err(wav_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    fn wav_bytes(rate: u32, channels: u16, seconds: f32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
            let n = (rate as f32 * seconds) as usize;
            for i in 0..n {
                let v = ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 8000.0)
                    as i16;
                for _ in 0..channels {
                    w.write_sample(v).unwrap();
                }
            }
            w.finalize().unwrap();
        }
        cur.into_inner()
    }

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn stereo_48k_becomes_16k_mono() {
        let f = file_with(&wav_bytes(48_000, 2, 1.0));
        let s = read_client_audio(&f, false, 600).unwrap();
        assert!((s.len() as i64 - 16_000).abs() <= 2, "{}", s.len());
    }

    #[test]
    fn declared_length_over_the_cap_is_refused_before_reading() {
        let f = file_with(&wav_bytes(16_000, 1, 3.0));
        match read_client_audio(&f, false, 2) {
            Err(AudioInputError::TooLong { seconds, max: 2 }) => {
                assert!((seconds - 3.0).abs() < 0.01)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn streaming_header_is_read_to_the_end_and_capped() {
        let mut b = wav_bytes(16_000, 1, 1.0);
        b[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        b[4..8].copy_from_slice(&0x7fff_f024u32.to_le_bytes());
        let s = read_client_audio(&file_with(&b), false, 600).unwrap();
        assert_eq!(s.len(), 16_000);
        let mut long = wav_bytes(16_000, 1, 3.0);
        long[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        assert!(matches!(
            read_client_audio(&file_with(&long), false, 2),
            Err(AudioInputError::TooLong { .. })
        ));
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(matches!(
            read_client_audio(&file_with(b""), false, 600),
            Err(AudioInputError::Empty)
        ));
        assert!(matches!(
            read_client_audio(&file_with(b""), true, 600),
            Err(AudioInputError::Empty)
        ));
        assert!(matches!(
            read_client_audio(&file_with(b"abc"), true, 600),
            Err(AudioInputError::OddRaw { .. })
        ));
        let garbage = read_client_audio(&file_with(b"hello, this is not audio at all"), false, 600)
            .unwrap_err();
        assert!(garbage.to_string().contains("format=raw"), "{garbage}");
        let wav = wav_bytes(16_000, 1, 1.0);
        let cut = read_client_audio(&file_with(&wav[..wav.len() / 2 + 1]), false, 600).unwrap_err();
        assert!(cut.to_string().contains("truncated"), "{cut}");
        let dir = File::open(std::env::temp_dir()).unwrap();
        assert!(matches!(
            read_client_audio(&dir, false, 600),
            Err(AudioInputError::NotReadable {
                what: "a directory"
            })
        ));
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let sock = File::from(std::os::fd::OwnedFd::from(a));
        assert!(matches!(
            read_client_audio(&sock, false, 600),
            Err(AudioInputError::NotReadable { what: "a socket" })
        ));
    }

    #[test]
    fn raw_is_capped_in_seconds() {
        let two_secs = vec![0u8; 64_000];
        assert_eq!(
            read_client_audio(&file_with(&two_secs), true, 2)
                .unwrap()
                .len(),
            32_000
        );
        let more = vec![0u8; 64_002];
        assert!(matches!(
            read_client_audio(&file_with(&more), true, 2),
            Err(AudioInputError::TooLong { .. })
        ));
    }
}
