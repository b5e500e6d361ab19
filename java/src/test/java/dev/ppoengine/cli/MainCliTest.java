package dev.ppoengine.cli;

import dev.ppoengine.kernels.Backends;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ppo --help}, {@code ppo --version}, {@code ppo info}, and the /proc/cpuinfo parsing behind info. */
class MainCliTest {

    @Test
    void helpListsTheCommandsAndExitCodes() {
        CliRunner.Result r = CliRunner.run("--help");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().startsWith("Usage: ppo"), r.out());
        assertTrue(r.out().contains("compute") && r.out().contains("info"), r.out());
        assertTrue(r.out().contains("Exit codes"), r.out());
        assertEquals("", r.err());
    }

    @Test
    void computeHelpListsEveryOpWithItsTensors() {
        CliRunner.Result r = CliRunner.run("compute", "--help");
        assertEquals(0, r.code(), r.toString());
        for (ComputeOp op : ComputeOp.values()) {
            assertTrue(r.out().contains("  " + op.key() + "\n") || r.out().contains("  " + op.key() + System.lineSeparator()),
                    op.key() + " in:\n" + r.out());
        }
        assertTrue(r.out().contains("in:  rewards, values, mask"), r.out());
        assertTrue(r.out().contains("out: advantages, returns"), r.out());
    }

    @Test
    void versionComesFromTheFilteredProperties() {
        CliRunner.Result r = CliRunner.run("--version");
        assertEquals(0, r.code(), r.toString());
        // Maven filters ${project.version} into version.properties; the test class path sees the filtered copy.
        assertTrue(r.out().strip().matches("ppo-engine \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?"), r.out());
    }

    @Test
    void infoShowsJavaCpuAndEveryBackend() {
        CliRunner.Result r = CliRunner.run("info");
        assertEquals(0, r.code(), r.toString());
        String out = r.out();
        assertTrue(out.contains("java:     " + System.getProperty("java.version")), out);
        assertTrue(out.contains("os:       " + System.getProperty("os.name")), out);
        assertTrue(out.contains("cores:    " + Runtime.getRuntime().availableProcessors()), out);
        for (Backends.Status s : Backends.statuses()) {
            String expected = s.available() ? "available" : "unavailable: " + s.unavailableReason();
            assertTrue(out.lines().anyMatch(l -> l.trim().startsWith(s.name() + " ") && l.trim().endsWith(expected)),
                    s.name() + " should read '" + expected + "' in:\n" + out);
        }
        assertTrue(out.lines().anyMatch(l -> l.startsWith("auto:     ")), out);
        assertTrue(out.contains("reference  available"), out);
        // the GEMMs of linear_token_logprobs: cuBLAS is looked up at run time, so info says whether it was found
        assertTrue(out.lines().anyMatch(l -> l.startsWith("linear_token_logprobs GEMMs: cpu OpenBLAS (JavaCPP); cuda ")
                && (l.contains("cuda cuBLAS ") || l.contains("cuda unavailable: "))), out);
        assertEquals("", r.err());
    }

    static final String X86_CPUINFO = """
            processor	: 0
            vendor_id	: GenuineIntel
            model name	: Intel(R) Xeon(R) Platinum 8480+
            flags		: fpu vme sse sse2 sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_bf16 amx_bf16

            processor	: 1
            model name	: Intel(R) Xeon(R) Platinum 8480+
            flags		: fpu vme sse sse2 sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_bf16 amx_bf16
            """;

    static final String ARM_CPUINFO = """
            processor	: 0
            BogoMIPS	: 243.75
            Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp sve
            CPU implementer	: 0x41
            CPU part	: 0xd40
            """;

    @Test
    void cpuModelAndLogicalProcessors() {
        assertEquals("Intel(R) Xeon(R) Platinum 8480+, 2 logical processors", InfoCommand.cpuModel(X86_CPUINFO));
        assertEquals("implementer 0x41, part 0xd40, 1 logical processors", InfoCommand.cpuModel(ARM_CPUINFO));
    }

    @Test
    void featuresSplitIntoPresentAndMissing() {
        String x86 = InfoCommand.features(X86_CPUINFO);
        assertEquals("sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_bf16 amx_bf16 "
                + "(missing: avx512vl avx512dq avx512_fp16 avx_vnni)", x86);
        assertEquals("asimd fphp asimdhp sve (missing: bf16 sve2)", InfoCommand.features(ARM_CPUINFO));
        assertTrue(InfoCommand.features("processor : 0\n").startsWith("unknown"));
        assertFalse(InfoCommand.cpuModel("").isEmpty());
    }
}
