package io.skylark;

import java.util.logging.Level;
import java.util.logging.Logger;

/** Called by the native side for each event of one turn; shields it from the app's listener. */
final class TurnBridge {
    private static final Logger LOG = Logger.getLogger("io.skylark");

    // Mirrors android/src/events.rs.
    private static final int TRANSCRIPT = 0;
    private static final int INTENT = 1;
    private static final int RESPONSE_CHUNK = 2;
    private static final int FINISHED = 3;
    private static final int ERROR = 4;
    private static final int WAKE_WORD = 5;

    private final TurnListener listener;

    TurnBridge(TurnListener listener) {
        this.listener = listener;
    }

    /** Called from native code only. Never throws. */
    void deliver(long turn, int kind, String a, String b) {
        try {
            switch (kind) {
                case TRANSCRIPT:
                    listener.onTranscript(turn, a, "final".equals(b));
                    break;
                case INTENT:
                    listener.onIntent(turn, IntentResult.decode(a));
                    break;
                case RESPONSE_CHUNK:
                    listener.onResponseChunk(turn, a);
                    break;
                case FINISHED:
                    listener.onFinished(turn, a, b);
                    break;
                case ERROR:
                    listener.onError(turn, a);
                    break;
                case WAKE_WORD:
                    listener.onWakeWord(turn, a, Double.parseDouble(b));
                    break;
                default:
                    LOG.warning("unknown turn event kind " + kind);
            }
        } catch (Throwable t) {
            LOG.log(Level.WARNING, "a TurnListener threw (turn " + turn + "); ignored", t);
        }
    }
}
