package io.skylark;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** What a sentence means: the intent, its slots, how sure the assistant is, and which tier said so. */
public final class IntentResult {
    /** Field separator of the native encoding (U+001F); never inside a field. */
    private static final String SEPARATOR = "\u001f";

    private final String intent;
    private final Map<String, String> slots;
    private final double confidence;
    private final String source;

    public IntentResult(String intent, Map<String, String> slots, double confidence, String source) {
        this.intent = intent;
        this.slots = Collections.unmodifiableMap(new LinkedHashMap<>(slots));
        this.confidence = confidence;
        this.source = source;
    }

    /** The intent name, e.g. {@code climate.set_ac}; empty when nothing matched. */
    public String intent() {
        return intent;
    }

    /** Slot name → value as text (numbers in their usual form), in name order. */
    public Map<String, String> slots() {
        return slots;
    }

    /** 1.0 for an exact grammar match; below 1 for tolerant and model matches; 0 without intent. */
    public double confidence() {
        return confidence;
    }

    /** {@code grammar}, {@code llm}, {@code cloud}, or {@code none} when nothing matched. */
    public String source() {
        return source;
    }

    /** Whether a intent was found. */
    public boolean matched() {
        return !intent.isEmpty();
    }

    /** Decodes {@code intent␟source␟confidence[␟slot␟value]…} from the native side. */
    static IntentResult decode(String encoded) {
        String[] f = encoded.split(SEPARATOR, -1);
        if (f.length < 3 || (f.length - 3) % 2 != 0) {
            throw new SkylarkException("malformed result from the native library: " + encoded);
        }
        Map<String, String> slots = new LinkedHashMap<>();
        for (int i = 3; i + 1 < f.length; i += 2) {
            slots.put(f[i], f[i + 1]);
        }
        double confidence;
        try {
            confidence = Double.parseDouble(f[2]);
        } catch (NumberFormatException e) {
            throw new SkylarkException("malformed confidence from the native library: " + f[2]);
        }
        return new IntentResult(f[0], slots, confidence, f[1]);
    }

    @Override
    public String toString() {
        return (intent.isEmpty() ? "(no intent)" : intent) + " " + slots + " (" + source + ", " + confidence + ")";
    }
}
