package dev.ppoengine.train;

import java.util.List;

/** The registry of built-in tasks by name. */
public final class Tasks {
    private Tasks() {}

    private static final List<Task> ALL = List.of(new UppercaseTask(), new SortDigitsTask(), new AdditionTask(), new ReverseTask());

    public static List<String> names() {
        return ALL.stream().map(Task::name).toList();
    }

    public static Task byName(String name) {
        for (Task t : ALL) if (t.name().equals(name)) return t;
        throw new IllegalArgumentException("unknown task '" + name + "' (expected one of " + names() + ")");
    }
}
