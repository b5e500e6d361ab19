package dev.ppoengine.kernels;

import java.util.Arrays;
import java.util.stream.Collectors;

/** A closed set of switch values whose CLI/SPEC spelling is {@link #key()}. */
public interface Switch {
    String key();

    /** Parses the SPEC spelling (case-insensitive; '_' and '-' interchangeable). */
    static <E extends Enum<E> & Switch> E parse(Class<E> type, String s) {
        String norm = s.trim().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        for (E e : type.getEnumConstants()) {
            if (e.key().replace('_', '-').equals(norm)) return e;
        }
        throw new IllegalArgumentException("'" + s + "' is not one of " + Arrays.stream(type.getEnumConstants())
                .map(Switch::key).collect(Collectors.joining(", ")));
    }
}
