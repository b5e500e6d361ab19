package dev.ppoengine.cli;

import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** {@code ppo --version}: the project version Maven filters into /dev/ppoengine/version.properties. */
final class VersionProvider implements CommandLine.IVersionProvider {

    /** The version string, or a note saying why it is unknown (e.g. classes run from an unfiltered source tree). */
    static String version() {
        try (InputStream in = VersionProvider.class.getResourceAsStream("/dev/ppoengine/version.properties")) {
            if (in == null) return "unknown (version.properties missing from the class path)";
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "").trim();
            if (v.isEmpty() || v.startsWith("${")) return "unknown (version.properties was not filtered by the build)";
            return v;
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    @Override
    public String[] getVersion() {
        return new String[] {"ppo-engine " + version()};
    }
}
