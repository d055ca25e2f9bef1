//! Audio a client hands over as a file descriptor (D-Bus `Transcribe`): a WAV in any PCM
//! layout, or raw s16le 16 kHz mono, read into 16 kHz mono `f32` with a cap on its length.
//!
//! The descriptor comes from an untrusted client, so reading it must neither hang nor grow
//! memory without bound:
//! - only regular files and pipes are read; a directory, socket or device is refused before
//!   any read (a socket whose peer stays silent would block a thread for ever);
//! - a pipe that delivers nothing for [`IDLE_TIMEOUT`] is given up on, and so is one that has
//!   not delivered all of its audio within [`READ_DEADLINE`] (a byte every few seconds would
//!   otherwise hold a thread for ever);
//! - sample rates outside 8–192 kHz and non-finite samples are refused (`wav.rs`), and a regular
//!   file must hold the data its header declares;
//! - the length is capped in *seconds of audio* (`asr.max_audio_seconds`): a WAV header that
//!   declares more is refused before its body is read, and a stream that does not declare
//!   its length (a WAV written to a pipe, raw audio) is read only up to the cap.

use std::fs::File;
use std::io::{Cursor, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};

use super::wav::{read_wav_from, WavError, TARGET_SAMPLE_RATE};

/// How long a pipe may stay silent before the read is abandoned.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading one client's audio may take in all, however steadily it trickles in.
pub const READ_DEADLINE: Duration = Duration::from_secs(30);
/// Bytes read before the WAV header is parsed; headers with larger metadata are refused.
const HEADER_PREFIX: u64 = 256 * 1024;
/// Data-chunk lengths writers use when they cannot seek back to fill in the real one
/// (espeak-ng and sox writing to a pipe: just under 2^31; ffmpeg streaming: 0 or 2^32 − 1).
fn is_streaming_len(len: u32) -> bool {
    len == 0 || len == u32::MAX || (0x7fff_0000..=0x7fff_ffff).contains(&len)
}

/// Why client audio was refused. Every variant is the client's fault (an invalid argument).
#[derive(Debug, thiserror::Error)]
pub enum AudioInputError {
    #[error("the file descriptor is {what}, not a readable file or pipe; pass an open WAV file or a pipe")]
    NotReadable { what: &'static str },
    #[error("cannot read the audio from the file descriptor: {0}")]
    Io(std::io::Error),
    #[error("the pipe delivered no data for {} s; write the audio and close the pipe", IDLE_TIMEOUT.as_secs())]
    Stalled,
    #[error(
        "the pipe did not deliver its audio within {} s; write the whole audio at once and close \
         the pipe (live audio: StartListening)",
        READ_DEADLINE.as_secs()
    )]
    TooSlow,
    #[error(
        "the WAV header declares {declared} bytes of audio but the file holds {present}: the \
         file is truncated or its header is wrong"
    )]
    LengthMismatch { declared: u64, present: u64 },
    #[error("the audio is empty (zero bytes)")]
    Empty,
    #[error(
        "the audio is {}{seconds:.1} s long, more than the limit of {max} s (asr.max_audio_seconds); \
         split it into shorter pieces",
        if *at_least { "at least " } else { "" }
    )]
    TooLong {
        seconds: f64,
        max: u32,
        /// The stream was not read to its end: it is longer still.
        at_least: bool,
    },
    #[error(
        "raw audio must be s16le (2 bytes a sample), but {bytes} bytes is an odd count: the \
         stream is truncated"
    )]
    OddRaw { bytes: usize },
    #[error("{0} (for raw s16le 16 kHz mono audio pass the option format=raw)")]
    Wav(WavError),
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

/// A reader that gives up on a pipe that stays silent for [`IDLE_TIMEOUT`] or has not
/// finished by `deadline`.
struct Patient<'a> {
    file: &'a File,
    pipe: bool,
    deadline: Instant,
}

impl Read for Patient<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pipe {
            let mut fds = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            loop {
                let left = self.deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(std::io::Error::other(TooSlow));
                }
                // Whichever comes first: the idle timeout, or the overall deadline.
                let by_deadline = left < IDLE_TIMEOUT;
                let ms = left.min(IDLE_TIMEOUT).as_millis().max(1) as libc::c_int;
                // SAFETY: one valid pollfd, for a descriptor `self.file` keeps open.
                let n = unsafe { libc::poll(&mut fds, 1, ms) };
                if n > 0 {
                    break;
                }
                if n == 0 {
                    if by_deadline {
                        return Err(std::io::Error::other(TooSlow));
                    }
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

/// The marker of an [`io::Error`](std::io::Error) for a read past [`READ_DEADLINE`].
#[derive(Debug)]
struct TooSlow;
impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("past the read deadline")
    }
}
impl std::error::Error for TooSlow {}

fn io_error(e: std::io::Error) -> AudioInputError {
    if e.get_ref().is_some_and(|inner| inner.is::<TooSlow>()) {
        AudioInputError::TooSlow
    } else if e.kind() == std::io::ErrorKind::TimedOut {
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
/// The one validation of audio handed to skylark: D-Bus `Transcribe` and the CLI's
/// `transcribe` / `recognize --audio` both read through it.
pub fn read_client_audio(
    file: &File,
    raw: bool,
    max_seconds: u32,
) -> Result<Vec<f32>, AudioInputError> {
    read_within(file, raw, max_seconds, READ_DEADLINE)
}

fn read_within(
    file: &File,
    raw: bool,
    max_seconds: u32,
    deadline: Duration,
) -> Result<Vec<f32>, AudioInputError> {
    check_kind(file)?;
    let meta = file.metadata().map_err(AudioInputError::Io)?;
    let pipe = meta.file_type().is_fifo();
    // What a regular file holds from here on (`None` for a pipe): a header declaring more
    // is refused before its body is read.
    let size = (!pipe).then(|| {
        let mut f = file;
        let at = std::io::Seek::stream_position(&mut f).unwrap_or(0);
        meta.len().saturating_sub(at)
    });
    let mut reader = Patient {
        file,
        pipe,
        deadline: Instant::now() + deadline,
    };
    if raw {
        read_raw(&mut reader, max_seconds, size)
    } else {
        read_wav(&mut reader, max_seconds, size)
    }
}

/// [`read_client_audio`] of the WAV file at `path` (the CLI's `transcribe`, `recognize --audio`).
pub fn read_audio_file(
    path: &std::path::Path,
    max_seconds: u32,
) -> Result<Vec<f32>, AudioFileError> {
    let fail = |source| AudioFileError {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|e| fail(AudioInputError::Io(e)))?;
    read_client_audio(&file, false, max_seconds).map_err(fail)
}

/// [`read_client_audio`] of audio already in memory, read as a regular file holding exactly
/// `bytes` would be (the fuzz target `client_audio`, `crate::fuzzing`).
pub fn read_client_bytes(
    bytes: &[u8],
    raw: bool,
    max_seconds: u32,
) -> Result<Vec<f32>, AudioInputError> {
    let size = Some(bytes.len() as u64);
    let mut reader = Cursor::new(bytes);
    if raw {
        read_raw(&mut reader, max_seconds, size)
    } else {
        read_wav(&mut reader, max_seconds, size)
    }
}

/// Audio from a file that was refused, with the file's path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct AudioFileError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: AudioInputError,
}

fn read_raw(
    reader: &mut impl Read,
    max_seconds: u32,
    size: Option<u64>,
) -> Result<Vec<f32>, AudioInputError> {
    const BYTES_PER_SEC: f64 = TARGET_SAMPLE_RATE as f64 * 2.0;
    let cap = u64::from(max_seconds) * u64::from(TARGET_SAMPLE_RATE) * 2;
    if let Some(size) = size.filter(|&s| s > cap) {
        // A file says how long it is: refuse it before reading, naming its real length.
        return Err(AudioInputError::TooLong {
            seconds: size as f64 / BYTES_PER_SEC,
            max: max_seconds,
            at_least: false,
        });
    }
    let bytes = read_up_to(reader, cap + 1)?;
    if bytes.is_empty() {
        return Err(AudioInputError::Empty);
    }
    if bytes.len() as u64 > cap {
        return Err(too_long(
            reader,
            bytes.len() as u64,
            BYTES_PER_SEC,
            max_seconds,
        ));
    }
    if bytes.len() % 2 != 0 {
        return Err(AudioInputError::OddRaw { bytes: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect())
}

/// The `TooLong` error for a stream cut at the cap after `read` bytes of audio; the rest is
/// counted (up to four times as much again) so the message can say how long it was, without
/// keeping the bytes — "at least" when even that bound was reached.
fn too_long(reader: &mut impl Read, read: u64, bytes_per_sec: f64, max: u32) -> AudioInputError {
    let bound = read.saturating_mul(4);
    let rest = std::io::copy(&mut reader.take(bound + 1), &mut std::io::sink()).unwrap_or(0);
    AudioInputError::TooLong {
        seconds: (read + rest.min(bound)) as f64 / bytes_per_sec,
        max,
        at_least: rest > bound,
    }
}

fn wav_error(e: WavError) -> AudioInputError {
    match e {
        WavError::Empty { .. } => AudioInputError::Empty,
        e => AudioInputError::Wav(e),
    }
}

const ORIGIN: &str = "the audio passed";

fn read_wav(
    reader: &mut impl Read,
    max_seconds: u32,
    size: Option<u64>,
) -> Result<Vec<f32>, AudioInputError> {
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
    if !super::wav::SAMPLE_RATES.contains(&spec.sample_rate) {
        return Err(AudioInputError::Wav(WavError::Rate {
            origin: ORIGIN.into(),
            rate: spec.sample_rate,
        }));
    }
    let streaming = data_start >= 4
        && prefix
            .get(data_start - 4..data_start)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .is_some_and(is_streaming_len);
    if !streaming {
        let present = size.map(|s| s.saturating_sub(data_start as u64));
        if let Some(present) = present.filter(|&p| declared_bytes > p) {
            return Err(AudioInputError::LengthMismatch {
                declared: declared_bytes,
                present,
            });
        }
        if declared_bytes > cap_bytes {
            return Err(AudioInputError::TooLong {
                seconds: frames as f64 / f64::from(spec.sample_rate.max(1)),
                max: max_seconds,
                at_least: false,
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
            data_len,
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
            Err(AudioInputError::TooLong {
                seconds, max: 2, ..
            }) => assert!((seconds - 3.0).abs() < 0.01),
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

    fn float_wav(rate: u32, samples: &[f32]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut cur = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
            for &s in samples {
                w.write_sample(s).unwrap();
            }
            w.finalize().unwrap();
        }
        cur.into_inner()
    }

    #[test]
    fn non_finite_samples_are_refused_by_index_before_resampling() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut samples = vec![0.1f32; 22_050];
            samples[1234] = bad;
            let e = read_client_audio(&file_with(&float_wav(22_050, &samples)), false, 600)
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    AudioInputError::Wav(WavError::NotFinite { index: 1234, .. })
                ),
                "{e:?}"
            );
            assert!(e.to_string().contains("sample 1234"), "{e}");
        }
    }

    #[test]
    fn sample_rates_outside_8_to_192_khz_are_refused() {
        for rate in [1, 3, 7_999, 192_001] {
            let e =
                read_client_audio(&file_with(&wav_bytes(rate, 1, 1.0)), false, 600).unwrap_err();
            assert!(
                matches!(e, AudioInputError::Wav(WavError::Rate { rate: r, .. }) if r == rate),
                "{rate}: {e:?}"
            );
            let e =
                crate::audio::read_wav_from(Cursor::new(wav_bytes(rate, 1, 1.0)), "x").unwrap_err();
            assert!(matches!(e, WavError::Rate { .. }), "{rate}: {e:?}");
        }
        assert!(read_client_audio(&file_with(&wav_bytes(8_000, 1, 0.5)), false, 600).is_ok());
    }

    #[test]
    fn a_file_must_hold_what_its_header_declares() {
        // One second of 8-bit audio whose header claims 2^31 - 2^17 samples (not a streaming
        // marker), and one whose header claims two seconds.
        let mut b = wav_bytes(16_000, 1, 1.0);
        b[40..44].copy_from_slice(&0x7ffe_0000u32.to_le_bytes());
        let e = read_client_audio(&file_with(&b), false, 600_000_000).unwrap_err();
        assert!(
            matches!(
                e,
                AudioInputError::LengthMismatch {
                    present: 32_000,
                    ..
                }
            ),
            "{e:?}"
        );
        let mut b = wav_bytes(16_000, 1, 1.0);
        b[40..44].copy_from_slice(&64_000u32.to_le_bytes());
        let e = read_client_audio(&file_with(&b), false, 600).unwrap_err();
        assert!(
            matches!(
                e,
                AudioInputError::LengthMismatch {
                    declared: 64_000,
                    present: 32_000
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn raw_refusal_names_the_real_duration() {
        let ten_secs = vec![0u8; 320_000];
        let e = read_client_audio(&file_with(&ten_secs), true, 2).unwrap_err();
        assert!(e.to_string().contains("is 10.0 s long"), "{e}");
    }

    #[test]
    fn a_trickling_pipe_is_given_up_at_the_overall_deadline() {
        let (r, w) = std::io::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let mut w = w;
            // A byte every 20 ms: never idle for IDLE_TIMEOUT, never done.
            for _ in 0..100 {
                if w.write_all(b"\0").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let file = File::from(std::os::fd::OwnedFd::from(r));
        let e = read_within(&file, true, 600, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, AudioInputError::TooSlow), "{e:?}");
        drop(file);
        writer.join().unwrap();
    }
}
