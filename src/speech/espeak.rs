//! espeak-ng as a voice, for languages without a neural voice (Mandarin: no registry ships a
//! Mandarin Piper voice). espeak-ng is GPL-3, so it only ever runs as a separate process
//! (`espeak-ng -v VOICE --stdout`, text on stdin) and skylark reads the WAV it writes; it is
//! never linked. The default voice is `cmn-latn-pinyin`: espeak-ng 1.51's `cmn` voice reads
//! Hanzi wrongly, `cmn-latn-pinyin` gives correct Mandarin.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::tts::normalize::{self, Reading};

/// How often a running espeak-ng is checked for cancellation.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct EspeakVoice {
    program: String,
    voice: String,
    /// Words per minute (`-s`); `None` is espeak-ng's default (175).
    speed: Option<u32>,
}

impl EspeakVoice {
    /// Checks that `program` runs and knows `voice` (by speaking a short text).
    pub fn check(program: &str, voice: &str) -> Result<EspeakVoice, String> {
        let v = EspeakVoice {
            program: program.to_string(),
            voice: voice.to_string(),
            speed: None,
        };
        let (samples, _) = v.synthesize("你好", &|| false)?;
        if samples.is_empty() {
            return Err(format!("`{program} -v {voice}` produced no audio"));
        }
        Ok(v)
    }

    pub fn voice(&self) -> &str {
        &self.voice
    }

    /// The same voice at `words_per_minute` (espeak-ng's `-s`, 80 to 450).
    pub fn with_speed(mut self, words_per_minute: u32) -> EspeakVoice {
        self.speed = Some(words_per_minute.clamp(80, 450));
        self
    }

    /// Speaks `text` to mono samples in [-1, 1] and their rate. `stop()` is polled while
    /// espeak-ng runs; when it says so the process is killed and empty audio returned.
    pub fn synthesize(
        &self,
        text: &str,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<(Vec<f32>, u32), String> {
        // Numbers, units and times in the voice's language's words (`tts::normalize`).
        let text = normalize::for_speech(text, Reading::for_espeak_voice(&self.voice));
        let mut command = Command::new(&self.program);
        command.args(["-v", &self.voice, "--stdout"]);
        if let Some(wpm) = self.speed {
            command.args(["-s", &wpm.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    format!(
                        "`{}` was not found. Fix: `apt-get install espeak-ng`",
                        self.program
                    )
                } else {
                    format!("cannot run `{}`: {e}", self.program)
                }
            })?;
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out);
            }
            let mut err = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_string(&mut err);
            }
            (out, err)
        });
        // Text on stdin, not as an argument: a text starting with '-' stays text. Written
        // while the reader drains stdout, so a long text cannot deadlock on full pipes.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text.as_bytes());
        }
        let status = loop {
            if stop() {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                return Ok((Vec::new(), 16_000));
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => std::thread::sleep(POLL),
                Err(e) => return Err(format!("waiting for `{}`: {e}", self.program)),
            }
        };
        let (out, err) = reader
            .join()
            .map_err(|_| format!("reading the output of `{}` failed", self.program))?;
        if !status.success() {
            return Err(format!(
                "`{} -v {}` failed ({status}): {}. Check the voice with `espeak-ng --voices`",
                self.program,
                self.voice,
                err.trim()
            ));
        }
        parse_stream_wav(&out).map_err(|why| format!("`{}` wrote {why}", self.program))
    }
}

/// The samples of the 16-bit PCM WAV espeak-ng writes to a pipe. Its header cannot carry the
/// real length (it says 0x7ffff000), so the data runs to the end of the stream.
fn parse_stream_wav(bytes: &[u8]) -> Result<(Vec<f32>, u32), String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("no WAV data".into());
    }
    let mut pos = 12;
    let mut format: Option<(u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            let f = bytes.get(body..body + 16).ok_or("a short fmt chunk")?;
            let channels = u16::from_le_bytes([f[2], f[3]]);
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            format = Some((channels, rate, bits));
        } else if id == b"data" {
            let (channels, rate, bits) = format.ok_or("data before its format")?;
            if channels != 1 || bits != 16 || rate == 0 {
                return Err(format!(
                    "{channels} channels of {bits}-bit audio at {rate} Hz, not 16-bit mono"
                ));
            }
            let samples = bytes[body..]
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                .collect();
            return Ok((samples, rate));
        }
        pos = body.saturating_add(len + (len & 1));
    }
    Err("a WAV without data".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_header_length_is_ignored() {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF\x24\xf0\xff\x7fWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00");
        b.extend_from_slice(&22050u32.to_le_bytes());
        b.extend_from_slice(&44100u32.to_le_bytes());
        b.extend_from_slice(b"\x02\x00\x10\x00data\x00\xf0\xff\x7f");
        b.extend_from_slice(&[0x00, 0x40, 0x00, 0xc0]);
        let (s, rate) = parse_stream_wav(&b).unwrap();
        assert_eq!(rate, 22050);
        assert_eq!(s, vec![0.5, -0.5]);
        assert!(parse_stream_wav(b"not a wav").is_err());
    }
}
