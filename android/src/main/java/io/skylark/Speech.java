package io.skylark;

/** Synthesised speech: 16-bit mono PCM for {@code AudioTrack} ({@code ENCODING_PCM_16BIT}). */
public final class Speech {
    private final short[] pcm;
    private final int sampleRate;

    Speech(short[] pcm, int sampleRate) {
        this.pcm = pcm;
        this.sampleRate = sampleRate;
    }

    public short[] pcm() {
        return pcm;
    }

    /** Samples per second (22050 for the bundled voices). */
    public int sampleRate() {
        return sampleRate;
    }

    public double durationSeconds() {
        return sampleRate == 0 ? 0 : (double) pcm.length / sampleRate;
    }
}
