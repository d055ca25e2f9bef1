package io.skylark;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Host tests of the Java API on a real JVM with the real models (a plain runner: no JUnit is
 * needed). Run by android/test.sh:
 *
 * <pre>java -Djava.library.path=target/release -cp CLASSES io.skylark.AssistantTest MODELS_DIR DATA_DIR</pre>
 *
 * Exits 1 when a test fails. With {@code --bench N} it times N recognize calls instead.
 */
public final class AssistantTest {
    private static final String EN = "turn on the air conditioning";
    private static final String ZH = "打开空调";
    /** The answer gate is off so a long story streams (the cancel test needs a long answer). */
    private static final String CONFIG = "[llm]\ngate = false\n";

    private static Assistant assistant;
    private static Path data;

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: AssistantTest MODELS_DIR DATA_DIR [--bench N] [--only NAME]");
            System.exit(2);
        }
        String models = args[0];
        data = Paths.get(args[1]);
        String only = null;
        for (int i = 2; i + 1 < args.length; i += 2) {
            if (args[i].equals("--bench")) {
                bench(models, Integer.parseInt(args[i + 1]));
                return;
            }
            if (args[i].equals("--only")) {
                only = args[i + 1];
            }
        }
        long t0 = System.nanoTime();
        assistant = Assistant.create(CONFIG, models);
        System.out.printf("created in %.1f s; missing stages: %s%n", (System.nanoTime() - t0) / 1e9, assistant.missingStages());
        Map<String, Test> tests = new LinkedHashMap<>();
        tests.put("recognize_english", AssistantTest::recognizeEnglish);
        tests.put("recognize_mandarin", AssistantTest::recognizeMandarin);
        tests.put("recognize_nothing", AssistantTest::recognizeNothing);
        tests.put("set_list", AssistantTest::setList);
        tests.put("bad_arguments", AssistantTest::badArguments);
        tests.put("ask_listener_order", AssistantTest::askListenerOrder);
        tests.put("ask_model_answer_streams", AssistantTest::askModelAnswer);
        tests.put("listener_that_throws_is_survived", AssistantTest::listenerThrows);
        tests.put("cancel_long_answer", AssistantTest::cancelLongAnswer);
        tests.put("feed_audio_48khz", AssistantTest::feedAudio48k);
        tests.put("speech_without_wake_word_no_turn", AssistantTest::noWakeWordNoTurn);
        tests.put("wake_word_then_command_48khz", AssistantTest::wakeWordThenCommand);
        tests.put("synthesize_then_hear_it", AssistantTest::synthesizeRoundTrip);
        tests.put("threads_8x1250_recognize", AssistantTest::threads);
        tests.put("use_after_close", AssistantTest::useAfterClose);
        int failed = 0;
        int ran = 0;
        for (Map.Entry<String, Test> t : tests.entrySet()) {
            if (only != null && !t.getKey().equals(only) && !t.getKey().equals("use_after_close")) {
                continue;
            }
            ran++;
            long start = System.nanoTime();
            try {
                t.getValue().run();
                System.out.printf("ok    %-36s %6.0f ms%n", t.getKey(), (System.nanoTime() - start) / 1e6);
            } catch (Throwable e) {
                failed++;
                System.out.printf("FAIL  %-36s %s%n", t.getKey(), e);
                e.printStackTrace(System.out);
            }
        }
        System.out.printf("%d tests, %d failed%n", ran, failed);
        System.exit(failed == 0 ? 0 : 1);
    }

    interface Test {
        void run() throws Exception;
    }

    // --- recognize ---------------------------------------------------------------------------

    static void recognizeEnglish() {
        IntentResult r = assistant.recognize(EN, "en");
        check(r.intent().startsWith("climate."), "intent of '" + EN + "': " + r);
        check(r.intent().equals("climate.set_ac"), "climate.set_ac expected: " + r);
        check("on".equals(r.slots().get("state")), "state=on expected: " + r);
        check(r.source().equals("grammar"), "source grammar expected: " + r);
        check(r.confidence() > 0.99, "an exact match has confidence 1: " + r);
        IntentResult t = assistant.recognize("set the temperature to 21 degrees", "en");
        check(t.intent().equals("climate.set_temperature"), "set_temperature expected: " + t);
        check("21".equals(t.slots().get("temperature")), "temperature=21 expected: " + t);
    }

    static void recognizeMandarin() {
        IntentResult r = assistant.recognize(ZH, "zh-CN");
        check(r.intent().equals("climate.set_ac"), "intent of '" + ZH + "': " + r);
        check("on".equals(r.slots().get("state")), "state=on expected: " + r);
        IntentResult t = assistant.recognize("把温度调到二十二度", "zh-CN");
        check(t.intent().equals("climate.set_temperature"), "set_temperature expected: " + t);
        check("22".equals(t.slots().get("temperature")), "temperature=22 expected: " + t);
    }

    static void recognizeNothing() {
        IntentResult r = assistant.recognize("purple elephants compose symphonies quietly", "en");
        check(!r.matched() && r.source().equals("none") && r.confidence() == 0.0, "no intent expected: " + r);
        IntentResult empty = assistant.recognize("", "en");
        check(!empty.matched(), "the empty sentence has no intent: " + empty);
    }

    static void setList() {
        Map<String, String> contacts = new LinkedHashMap<>();
        contacts.put("Zorblax Quux", "contact-42");
        assistant.setList("contact_name", contacts);
        IntentResult r = assistant.recognize("call Zorblax Quux", "en");
        check(r.intent().equals("phone.call"), "phone.call expected: " + r);
        check("contact-42".equals(r.slots().get("contact")), "the list's value expected: " + r);
    }

    static void badArguments() throws Exception {
        expect(NullPointerException.class, () -> assistant.recognize(null, "en"), "text");
        expect(NullPointerException.class, () -> assistant.ask("hi", null), "listener");
        expect(NullPointerException.class, () -> assistant.feedAudio(null, 16000), "pcm");
        expect(NullPointerException.class, () -> Assistant.create("", null), "modelsDir");
        expect(SkylarkException.class, () -> assistant.recognize(EN, "xx-bogus"), "language");
        expect(SkylarkException.class, () -> assistant.recognize("x".repeat(100_000), "en"), "limit");
        expect(SkylarkException.class, () -> assistant.ask("   ", new TurnListener() {}), "empty");
        expect(SkylarkException.class, () -> assistant.feedAudio(new short[160], 0), "sample rate");
        expect(SkylarkException.class, () -> assistant.cancel(987_654_321L), "does not exist");
        expect(SkylarkException.class, () -> assistant.cancel(-1L), "does not exist");
        expect(SkylarkException.class, () -> assistant.setList("bad name!", Collections.emptyMap()), "not valid");
        expect(SkylarkException.class, () -> assistant.synthesize("  "), "empty");
        expect(SkylarkException.class, () -> Assistant.create("language = [", "/tmp"), "TOML");
        expect(SkylarkException.class, () -> Assistant.create("language = \"fr\"", "/tmp"), "language");
        expect(SkylarkException.class, () -> Assistant.create("", "/nonexistent/models"), "does not exist");
        // Still usable after all that.
        check(assistant.recognize(EN, "en").intent().equals("climate.set_ac"), "still recognizes");
    }

    // --- ask ---------------------------------------------------------------------------------

    /** Records every callback as one line, in order. */
    static class Recorder implements TurnListener {
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch finished = new CountDownLatch(1);
        final CountDownLatch firstChunk = new CountDownLatch(1);
        final AtomicReference<String> status = new AtomicReference<>();
        final AtomicReference<IntentResult> intent = new AtomicReference<>();
        final AtomicReference<String> finalTranscript = new AtomicReference<>("");
        final AtomicReference<String> threadName = new AtomicReference<>();

        @Override
        public void onTranscript(long turn, String text, boolean isFinal) {
            events.add((isFinal ? "transcript:" : "partial:") + text);
            if (isFinal) {
                finalTranscript.set(text);
            }
        }

        @Override
        public void onIntent(long turn, IntentResult r) {
            events.add("intent:" + r.intent());
            intent.set(r);
            threadName.set(Thread.currentThread().getName());
        }

        @Override
        public void onResponseChunk(long turn, String text) {
            events.add("chunk:" + text);
            firstChunk.countDown();
        }

        @Override
        public void onError(long turn, String message) {
            events.add("error:" + message);
        }

        @Override
        public void onFinished(long turn, String s, String response) {
            events.add("finished:" + s);
            status.set(s);
            finished.countDown();
        }

        void await(int seconds) throws InterruptedException {
            check(finished.await(seconds, TimeUnit.SECONDS), "the turn did not finish within " + seconds + " s: " + events);
        }

        int index(String prefix) {
            synchronized (events) {
                for (int i = 0; i < events.size(); i++) {
                    if (events.get(i).startsWith(prefix)) {
                        return i;
                    }
                }
            }
            return -1;
        }
    }

    static void askListenerOrder() throws Exception {
        Recorder r = new Recorder();
        long turn = assistant.ask(EN, "en", r);
        check(turn > 0, "a turn number");
        r.await(30);
        check("ok".equals(r.status.get()), "status ok expected: " + r.events);
        check(r.intent.get() != null && r.intent.get().intent().equals("climate.set_ac"), "intent expected: " + r.events);
        int intent = r.index("intent:");
        int chunk = r.index("chunk:");
        int finished = r.index("finished:");
        check(intent >= 0 && chunk > intent && finished > chunk, "intent, then chunks, then finished: " + r.events);
        check(finished == r.events.size() - 1, "finished comes last: " + r.events);
        check(!r.threadName.get().equals(Thread.currentThread().getName()), "callbacks come from a native thread");
    }

    static void askModelAnswer() throws Exception {
        Recorder r = new Recorder();
        assistant.ask("What is the capital of France?", "en", r);
        r.await(120);
        check("ok".equals(r.status.get()), "status ok expected: " + r.events);
        int chunks = 0;
        StringBuilder answer = new StringBuilder();
        synchronized (r.events) {
            for (String e : r.events) {
                if (e.startsWith("chunk:")) {
                    chunks++;
                    answer.append(e.substring(6));
                }
            }
        }
        check(chunks >= 2, "the answer streams in chunks: " + r.events);
        check(answer.toString().contains("Paris"), "the answer names Paris: " + answer);
        check(r.index("finished:") == r.events.size() - 1, "finished comes last: " + r.events);
    }

    static void listenerThrows() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        CountDownLatch finished = new CountDownLatch(1);
        TurnListener rude = new TurnListener() {
            @Override
            public void onIntent(long turn, IntentResult r) {
                calls.incrementAndGet();
                throw new IllegalStateException("listener bug (expected by the test)");
            }

            @Override
            public void onResponseChunk(long turn, String text) {
                calls.incrementAndGet();
                throw new RuntimeException("listener bug (expected by the test)");
            }

            @Override
            public void onFinished(long turn, String status, String response) {
                calls.incrementAndGet();
                finished.countDown();
                throw new Error("listener bug (expected by the test)");
            }
        };
        assistant.ask(EN, "en", rude);
        check(finished.await(30, TimeUnit.SECONDS), "onFinished still comes after the listener threw");
        check(calls.get() >= 3, "every callback came: " + calls.get());
        Recorder r = new Recorder();
        assistant.ask(EN, "en", r);
        r.await(30);
        check("ok".equals(r.status.get()), "the next turn works: " + r.events);
    }

    static void cancelLongAnswer() throws Exception {
        Recorder r = new Recorder();
        long turn = assistant.ask("Tell me a long story about a dragon who learns to drive.", "en", r);
        check(r.firstChunk.await(120, TimeUnit.SECONDS), "the story starts: " + r.events);
        long t = System.nanoTime();
        assistant.cancel(turn);
        r.await(5);
        double ms = (System.nanoTime() - t) / 1e6;
        check("cancelled".equals(r.status.get()), "status cancelled expected: " + r.events);
        check(ms < 2000, "cancel took " + ms + " ms");
        System.out.printf("      cancel -> onFinished(cancelled) in %.0f ms%n", ms);
        // Cancelling a finished turn is not an error.
        assistant.cancel(turn);
    }

    // --- audio -------------------------------------------------------------------------------

    /** 16-bit mono PCM of a WAV file (the canonical 44-byte layout or any chunk order). */
    static short[] readWav(Path path, int[] rate) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
        b.position(12);
        short[] pcm = null;
        while (b.remaining() >= 8) {
            int id = b.getInt();
            int size = b.getInt();
            if (id == 0x20746d66) { // "fmt "
                int at = b.position();
                check(b.getShort() == 1, "PCM expected");
                check(b.getShort() == 1, "mono expected");
                rate[0] = b.getInt();
                b.position(at + size);
            } else if (id == 0x61746164) { // "data"
                pcm = new short[size / 2];
                b.asShortBuffer().get(pcm);
                b.position(b.position() + size);
            } else {
                b.position(b.position() + size + (size & 1));
            }
        }
        check(pcm != null, "no data chunk in " + path);
        return pcm;
    }

    /** Linear interpolation to a higher rate: what a phone's 48 kHz AudioRecord would give. */
    static short[] upsample(short[] in, int from, int to) {
        int n = (int) ((long) in.length * to / from);
        short[] out = new short[n];
        for (int i = 0; i < n; i++) {
            double x = (double) i * from / to;
            int j = (int) x;
            double f = x - j;
            int a = in[Math.min(j, in.length - 1)];
            int c = in[Math.min(j + 1, in.length - 1)];
            out[i] = (short) Math.round(a + (c - a) * f);
        }
        return out;
    }

    /** Push-to-talk, then the audio in 20 ms pieces as AudioRecord delivers it, then silence. */
    static Recorder listenTo(short[] pcm, int rate) throws Exception {
        Recorder r = new Recorder();
        assistant.startListening("en", r);
        int piece = rate / 50;
        short[] silence = new short[rate * 2];
        short[] all = new short[rate / 2 + pcm.length + silence.length];
        System.arraycopy(pcm, 0, all, rate / 2, pcm.length);
        for (int at = 0; at < all.length; at += piece) {
            int len = Math.min(piece, all.length - at);
            short[] chunk = new short[len];
            System.arraycopy(all, at, chunk, 0, len);
            assistant.feedAudio(chunk, rate);
            if (r.finished.getCount() == 0) {
                break;
            }
        }
        r.await(60);
        return r;
    }

    static void feedAudio48k() throws Exception {
        int[] rate = new int[1];
        short[] clip = readWav(data.resolve("listen/turn_on_the_air_conditioning.wav"), rate);
        short[] at48 = upsample(clip, rate[0], 48_000);
        Recorder r = listenTo(at48, 48_000);
        String heard = r.finalTranscript.get().toLowerCase();
        check(heard.contains("air conditioning"), "transcript: " + r.events);
        check(r.intent.get() != null && r.intent.get().intent().equals("climate.set_ac"), "climate.set_ac expected: " + r.events);
        check("ok".equals(r.status.get()), "status ok expected: " + r.events);
        int transcript = r.index("transcript:");
        check(transcript >= 0 && transcript < r.index("intent:"), "the final transcript comes before the intent: " + r.events);
    }

    static short[] silence(int ms, int rate) {
        return new short[rate / 1000 * ms];
    }

    static short[] concat(short[]... parts) {
        int n = 0;
        for (short[] p : parts) {
            n += p.length;
        }
        short[] all = new short[n];
        int at = 0;
        for (short[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    /**
     * Feeds {@code pcm} in 20 ms pieces at the pace AudioRecord delivers them, then silence,
     * as a phone's microphone would, until {@code done} or {@code seconds} have passed.
     */
    static void feedLive(short[] pcm, int rate, CountDownLatch done, int seconds) throws Exception {
        int piece = rate / 50;
        long start = System.nanoTime();
        short[] quiet = new short[piece];
        for (long i = 0; ; i++) {
            long at = i * piece;
            if (at >= pcm.length && (done.getCount() == 0 || System.nanoTime() - start > seconds * 1_000_000_000L)) {
                return;
            }
            short[] chunk = quiet;
            if (at < pcm.length) {
                chunk = new short[(int) Math.min(piece, pcm.length - at)];
                System.arraycopy(pcm, (int) at, chunk, 0, chunk.length);
            }
            assistant.feedAudio(chunk, rate);
            long due = start + (i + 1) * 20_000_000L;
            long wait = due - System.nanoTime();
            if (wait > 0) {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
        }
    }

    static short[] clip48k(String name) throws IOException {
        int[] rate = new int[1];
        short[] pcm = readWav(data.resolve(name), rate);
        return upsample(pcm, rate[0], 48_000);
    }

    /** A wake-word listener that records the turn and throws from onWakeWord (survived). */
    static final class WakeRecorder extends Recorder {
        final AtomicReference<String> keyword = new AtomicReference<>();
        final CountDownLatch woken = new CountDownLatch(1);

        @Override
        public void onWakeWord(long turn, String kw, double score) {
            events.add("wake:" + kw + ":" + score);
            keyword.set(kw);
            woken.countDown();
            throw new IllegalStateException("a listener that throws from onWakeWord");
        }
    }

    /**
     * The wake word on: "hey livekit", a pause, "turn on the air conditioning", fed at 48 kHz
     * in 20 ms pieces in real time, gives onWakeWord, the transcript, climate.set_ac, finished.
     */
    static void wakeWordThenCommand() throws Exception {
        WakeRecorder r = new WakeRecorder();
        assistant.setWakeListener(r);
        assistant.setWakeWordEnabled(true);
        try {
            short[] all = concat(silence(500, 48_000), clip48k("wakeword/positive.wav"), silence(400, 48_000),
                    clip48k("listen/turn_on_the_air_conditioning.wav"));
            feedLive(all, 48_000, r.finished, 90);
            r.await(1);
        } finally {
            assistant.setWakeWordEnabled(false);
            assistant.setWakeListener(null);
        }
        check("hey_livekit".equals(r.keyword.get()), "the wake word hey_livekit expected: " + r.events);
        check(r.index("wake:") == 0, "onWakeWord comes first: " + r.events);
        check(r.finalTranscript.get().toLowerCase().contains("air conditioning"), "transcript: " + r.events);
        check(r.intent.get() != null && r.intent.get().intent().equals("climate.set_ac"), "climate.set_ac expected: " + r.events);
        check("ok".equals(r.status.get()), "status ok expected: " + r.events);
        int transcript = r.index("transcript:");
        check(transcript > 0 && transcript < r.index("intent:"), "wake word, transcript, then intent: " + r.events);
        check(r.index("finished:") == r.events.size() - 1, "finished comes last: " + r.events);
        check(!r.threadName.get().equals(Thread.currentThread().getName()), "callbacks come from a native thread");
    }

    /** The wake word on, a command without it: no wake word, no turn. */
    static void noWakeWordNoTurn() throws Exception {
        WakeRecorder r = new WakeRecorder();
        assistant.setWakeListener(r);
        assistant.setWakeWordEnabled(true);
        try {
            short[] all = concat(silence(500, 48_000), clip48k("listen/turn_on_the_air_conditioning.wav"),
                    silence(3000, 48_000));
            feedLive(all, 48_000, new CountDownLatch(0), 0);
            check(!r.woken.await(1, TimeUnit.SECONDS), "no wake word expected: " + r.events);
        } finally {
            assistant.setWakeWordEnabled(false);
            assistant.setWakeListener(null);
        }
        check(r.events.isEmpty(), "no turn expected: " + r.events);
    }

    static void synthesizeRoundTrip() throws Exception {
        Speech s = assistant.synthesize("Turn on the air conditioning.", "en");
        check(s.sampleRate() >= 16_000, "sample rate " + s.sampleRate());
        check(s.durationSeconds() > 0.8 && s.durationSeconds() < 5, "duration " + s.durationSeconds());
        long loud = 0;
        for (short v : s.pcm()) {
            loud += Math.abs(v) > 1000 ? 1 : 0;
        }
        check(loud > s.pcm().length / 10, "the audio is not silence");
        Recorder r = listenTo(s.pcm(), s.sampleRate());
        String heard = r.finalTranscript.get().toLowerCase();
        boolean understood = r.intent.get() != null && r.intent.get().intent().startsWith("climate.");
        check(understood || heard.contains("air conditioning"), "whisper heard the synthesised speech: " + r.events);
        System.out.printf("      %.2f s at %d Hz, heard '%s'%n", s.durationSeconds(), s.sampleRate(), heard);
        Speech zh = assistant.synthesize("打开空调", "zh-CN");
        check(zh.durationSeconds() > 0.3, "Mandarin speech: " + zh.durationSeconds());
    }

    // --- threads and lifetime ------------------------------------------------------------------

    static void threads() throws Exception {
        String[][] cases = {
            {EN, "en", "climate.set_ac"},
            {ZH, "zh-CN", "climate.set_ac"},
            {"set the temperature to 21 degrees", "en", "climate.set_temperature"},
            {"把温度调到二十二度", "zh-CN", "climate.set_temperature"},
            {"purple elephants compose symphonies quietly", "en", ""},
        };
        int threads = 8;
        int perThread = 1250;
        AtomicInteger wrong = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        AtomicReference<Throwable> error = new AtomicReference<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int seed = t;
            Thread w = new Thread(() -> {
                try {
                    start.await();
                    for (int i = 0; i < perThread; i++) {
                        String[] c = cases[(seed + i) % cases.length];
                        IntentResult r = assistant.recognize(c[0], c[1]);
                        if (!r.intent().equals(c[2])) {
                            wrong.incrementAndGet();
                        }
                        done.incrementAndGet();
                    }
                } catch (Throwable e) {
                    error.compareAndSet(null, e);
                }
            });
            w.start();
            workers.add(w);
        }
        long t0 = System.nanoTime();
        start.countDown();
        for (Thread w : workers) {
            w.join(120_000);
        }
        double s = (System.nanoTime() - t0) / 1e9;
        check(error.get() == null, "a thread failed: " + error.get());
        check(done.get() == threads * perThread, "calls done: " + done.get());
        check(wrong.get() == 0, wrong.get() + " wrong results");
        System.out.printf("      %d calls on %d threads in %.2f s, all correct%n", done.get(), threads, s);
    }

    static void useAfterClose() throws Exception {
        assistant.close();
        check(assistant.isClosed(), "closed");
        assistant.close(); // idempotent
        expect(IllegalStateException.class, () -> assistant.recognize(EN, "en"), "closed");
        expect(IllegalStateException.class, () -> assistant.ask(EN, new TurnListener() {}), "closed");
        expect(IllegalStateException.class, () -> assistant.feedAudio(new short[10], 16000), "closed");
        expect(IllegalStateException.class, () -> assistant.synthesize("hello"), "closed");
        expect(IllegalStateException.class, () -> assistant.cancel(1), "closed");
        expect(IllegalStateException.class, () -> assistant.setList("x", Collections.emptyMap()), "closed");
        expect(IllegalStateException.class, () -> assistant.missingStages(), "closed");
    }

    // --- bench ---------------------------------------------------------------------------------

    /** µs per recognize call through JNI (the same sentence as android/examples/recognize_bench.rs). */
    static void bench(String models, int n) {
        try (Assistant a = Assistant.create("", models)) {
            for (int i = 0; i < Math.min(n, 20_000); i++) {
                a.recognize(EN, "en");
            }
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                a.recognize(EN, "en");
            }
            double us = (System.nanoTime() - t0) / 1e3 / n;
            System.out.printf("jni recognize: %.2f us/call over %d calls%n", us, n);
        }
    }

    // --- helpers -------------------------------------------------------------------------------

    interface Body {
        void run() throws Exception;
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static void expect(Class<? extends Throwable> kind, Body body, String messageHas) throws Exception {
        try {
            body.run();
        } catch (Throwable e) {
            check(kind.isInstance(e), "expected " + kind.getSimpleName() + ", got " + e);
            String m = String.valueOf(e.getMessage());
            check(m.toLowerCase().contains(messageHas.toLowerCase()), "message of " + e + " should mention '" + messageHas + "'");
            return;
        }
        throw new AssertionError("expected " + kind.getSimpleName() + " (" + messageHas + ")");
    }
}
