package io.skylark;

/**
 * What happens in a turn ({@link Assistant#ask}, {@link Assistant#startListening}, or one the wake
 * word started), in order: the wake word (those turns only), transcripts (listening turns only: partial ones, then the final one), the intent, the answer
 * in chunks as it streams, then {@link #onFinished} last of all, once. A failed turn calls
 * {@link #onError} just before {@link #onFinished}.
 *
 * <p>Calls come from a native thread of the turn (one thread per turn, so one call at a time
 * per turn), never from the thread that started it: post to the main thread before touching
 * views. Whatever a method throws is logged and ignored; the next calls still come.
 */
public interface TurnListener {
    /**
     * The wake word was heard and started turn {@code turn} (wake listener only, see
     * {@link Assistant#setWakeListener}); first call of that turn. {@code score}: the
     * detector's confidence, 0 to 1.
     */
    default void onWakeWord(long turn, String keyword, double score) {}

    /** What was heard so far ({@code isFinal == false}) or in the end. */
    default void onTranscript(long turn, String text, boolean isFinal) {}

    /** What the sentence means; {@link IntentResult#matched()} is false when nothing matched. */
    default void onIntent(long turn, IntentResult intent) {}

    /** The next piece of the answer, as it is produced. */
    default void onResponseChunk(long turn, String text) {}

    /**
     * The turn ended. {@code status}: {@code ok}, {@code no_intent}, {@code cancelled},
     * {@code failed} or {@code timeout}; {@code response}: the whole answer (or why it failed).
     */
    default void onFinished(long turn, String status, String response) {}

    /** The turn failed ({@code failed} / {@code timeout}); {@code message} says why. */
    default void onError(long turn, String message) {}
}
