package io.skylark;

/**
 * The assistant refused or failed a call. The message says why and, where there is one, the
 * fix (a missing model names the file and how to install it; a bad argument names its limit).
 */
public class SkylarkException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SkylarkException(String message) {
        super(message);
    }
}
