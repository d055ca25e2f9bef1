package io.skylark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The skylark voice assistant, in process: the same engine as the Linux daemon (intent grammar,
 * speech recognition, lite LLM, speech synthesis) behind a small API.
 *
 * <p>Android owns the microphone and the speaker: the app captures audio with
 * {@code AudioRecord} and {@link #feedAudio feeds} it (voice activity detection and recognition
 * run on it), and plays what {@link #synthesize} returns with {@code AudioTrack}.
 *
 * <p>Thread-safe: every method may be called from any thread, concurrently. {@link #close}
 * waits for the calls in progress, then frees the native engine; any call after it throws
 * {@link IllegalStateException}. Engine errors throw {@link SkylarkException} with the reason;
 * a {@code null} argument throws {@link NullPointerException}.
 */
public final class Assistant implements AutoCloseable {
    static {
        String path = System.getProperty("skylark.library");
        if (path != null && !path.isEmpty()) {
            System.load(path);
        } else {
            System.loadLibrary("skylark_jni");
        }
    }

    /** Calls hold the read side; close holds the write side, so a handle is never freed in use. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private long handle;

    private Assistant(long handle) {
        this.handle = handle;
    }

    /**
     * Loads the assistant. Blocking (seconds with every model): call it off the main thread.
     *
     * @param configTomlOrPath the configuration as TOML text, or the path of a TOML file; empty
     *     or {@code null} for the defaults (the keys are those of the daemon's config.toml)
     * @param modelsDir the folder the models are installed in ({@code skylark models fetch})
     * @throws SkylarkException when the configuration is invalid or the folder does not exist;
     *     a model that is missing only leaves its stage out (see {@link #missingStages})
     */
    public static Assistant create(String configTomlOrPath, String modelsDir) {
        Objects.requireNonNull(modelsDir, "modelsDir");
        return new Assistant(nativeCreate(configTomlOrPath == null ? "" : configTomlOrPath, modelsDir));
    }

    /** One line per stage that could not load (what is missing and the fix); empty when all did. */
    public List<String> missingStages() {
        long h = acquire();
        try {
            String missing = nativeMissing(h);
            return missing.isEmpty()
                    ? Collections.emptyList()
                    : Collections.unmodifiableList(new ArrayList<>(Arrays.asList(missing.split("\n"))));
        } finally {
            release();
        }
    }

    /** {@link #recognize(String, String)} in the assistant's language. */
    public IntentResult recognize(String text) {
        return recognize(text, null);
    }

    /**
     * Text → intent with the grammar (microseconds; a few milliseconds when the tolerant match
     * runs after an exact miss); nothing is executed. Runs on the calling thread.
     *
     * @param language BCP-47 tag ({@code en}, {@code zh-CN}), or {@code null} for the
     *     assistant's language
     */
    public IntentResult recognize(String text, String language) {
        Objects.requireNonNull(text, "text");
        long h = acquire();
        try {
            return IntentResult.decode(nativeRecognize(h, text, language));
        } finally {
            release();
        }
    }

    /** {@link #ask(String, String, TurnListener)} in the assistant's language. */
    public long ask(String text, TurnListener listener) {
        return ask(text, null, listener);
    }

    /**
     * Starts a whole turn on {@code text}: understand (grammar, then the models), act, answer.
     * Returns at once with the turn's number; the listener hears the rest.
     */
    public long ask(String text, String language, TurnListener listener) {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(listener, "listener");
        long h = acquire();
        try {
            return nativeAsk(h, text, language, new TurnBridge(listener));
        } finally {
            release();
        }
    }

    /** {@link #startListening(String, TurnListener)} in the assistant's language. */
    public long startListening(TurnListener listener) {
        return startListening(null, listener);
    }

    /**
     * Push-to-talk: the audio {@link #feedAudio fed} from now on is listened to until the end of
     * speech (or 6 s without speech), transcribed, then handled as {@link #ask}.
     */
    public long startListening(String language, TurnListener listener) {
        Objects.requireNonNull(listener, "listener");
        long h = acquire();
        try {
            return nativeStartListening(h, language, new TurnBridge(listener));
        } finally {
            release();
        }
    }

    /**
     * Turns the wake word ("hey livekit", the {@code [wakeword]} keywords of the configuration)
     * on or off. While it is on and no turn runs, the audio {@link #feedAudio fed} is listened
     * to for the wake word; hearing it starts a listening turn on the command that follows
     * (until the end of speech), handled as {@link #ask}. Those turns go to the
     * {@link #setWakeListener wake listener}, {@link TurnListener#onWakeWord} first. Feed audio
     * continuously while it is on.
     *
     * @throws SkylarkException when no wake-word model or voice activity detection could load
     *     (see {@link #missingStages})
     */
    public void setWakeWordEnabled(boolean enabled) {
        long h = acquire();
        try {
            nativeSetWakeWordEnabled(h, enabled);
        } finally {
            release();
        }
    }

    /**
     * Receives the turns the wake word starts: {@link TurnListener#onWakeWord}, then the turn's
     * events as for {@link #startListening}, one turn after the other, from one native thread.
     * {@code null} removes it (the turns still run, unheard). Set it before
     * {@link #setWakeWordEnabled turning the wake word on}.
     */
    public void setWakeListener(TurnListener listener) {
        long h = acquire();
        try {
            nativeSetWakeListener(h, listener == null ? null : new TurnBridge(listener));
        } finally {
            release();
        }
    }

    /**
     * Audio the app captured: 16-bit mono PCM at any rate from 8000 to 192000 Hz (resampled to
     * 16 kHz). Feed it as it arrives, e.g. every 20 ms from {@code AudioRecord.read}.
     */
    public void feedAudio(short[] pcm, int sampleRate) {
        Objects.requireNonNull(pcm, "pcm");
        long h = acquire();
        try {
            nativeFeedAudio(h, pcm, sampleRate);
        } finally {
            release();
        }
    }

    /** {@link #synthesize(String, String)} in the assistant's language. */
    public Speech synthesize(String text) {
        return synthesize(text, null);
    }

    /** {@code text} as speech (English: the Piper voice; Mandarin: espeak-ng). Blocking. */
    public Speech synthesize(String text, String language) {
        Objects.requireNonNull(text, "text");
        long h = acquire();
        try {
            int[] rate = new int[1];
            short[] pcm = nativeSynthesize(h, text, language, rate);
            return new Speech(pcm, rate[0]);
        } finally {
            release();
        }
    }

    /**
     * Replaces dynamic list {@code name} (e.g. {@code contact_name}): spoken form → value the
     * intent's slot gets. Up to {@code dbus.max_list_entries} entries.
     */
    public void setList(String name, Map<String, String> entries) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(entries, "entries");
        String[] spoken = new String[entries.size()];
        String[] values = new String[entries.size()];
        int i = 0;
        for (Map.Entry<String, String> e : entries.entrySet()) {
            spoken[i] = Objects.requireNonNull(e.getKey(), "a spoken form");
            values[i] = Objects.requireNonNull(e.getValue(), "a value");
            i++;
        }
        long h = acquire();
        try {
            nativeSetList(h, name, spoken, values);
        } finally {
            release();
        }
    }

    /** Stops turn {@code turn} at once (its listener gets {@code onFinished("cancelled")}). */
    public void cancel(long turn) {
        long h = acquire();
        try {
            nativeCancel(h, turn);
        } finally {
            release();
        }
    }

    public boolean isClosed() {
        lock.readLock().lock();
        try {
            return handle == 0;
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Cancels running turns (waiting up to a second for them), then frees the engine. Idempotent.
     */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            long h = handle;
            handle = 0;
            if (h != 0) {
                nativeClose(h);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    private long acquire() {
        lock.readLock().lock();
        if (handle == 0) {
            lock.readLock().unlock();
            throw new IllegalStateException("the assistant is closed");
        }
        return handle;
    }

    private void release() {
        lock.readLock().unlock();
    }

    private static native long nativeCreate(String config, String modelsDir);

    private static native void nativeClose(long handle);

    private static native String nativeMissing(long handle);

    private static native String nativeRecognize(long handle, String text, String language);

    private static native long nativeAsk(long handle, String text, String language, TurnBridge bridge);

    private static native long nativeStartListening(long handle, String language, TurnBridge bridge);

    private static native void nativeFeedAudio(long handle, short[] pcm, int sampleRate);

    private static native short[] nativeSynthesize(long handle, String text, String language, int[] rate);

    private static native void nativeSetList(long handle, String name, String[] spoken, String[] values);

    private static native void nativeCancel(long handle, long turn);

    private static native void nativeSetWakeWordEnabled(long handle, boolean enabled);

    private static native void nativeSetWakeListener(long handle, TurnBridge bridge);
}
