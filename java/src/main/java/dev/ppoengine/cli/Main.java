package dev.ppoengine.cli;

/** SCAFFOLD entry point; the picocli CLI replaces it. */
public final class Main {
    public static void main(String[] args) {
        System.err.println("ppo: CLI not built yet");
        System.exit(2);
    }
}
