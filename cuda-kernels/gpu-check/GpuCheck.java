/*
 * GpuCheck — runs the cuda backend's test suite on a machine with an NVIDIA GPU and no build tools: the JUnit
 * Platform launcher over the compiled test classes of the bundle (see gpu-check.sh), with a summary and an exit
 * status. It first insists that the cuda backend is actually usable here, so a GPU check can never pass by skipping.
 *
 * Usage (inside the bundle): java --enable-native-access=ALL-UNNAMED -cp 'classes:test-classes:lib/*:launcher' GpuCheck
 *        [--quick]            CudaDeviceTest only (a minute) instead of every op test class with the cuda backend
 *        [--backend cuda-sim] dry run of the bundle on a machine without a GPU: requires the emulator's cases instead
 *        [--class NAME]       only that test class (e.g. dev.ppoengine.ops.LinearTokenLogprobsDeviceTest)
 */

import dev.ppoengine.cuda.CudaProvider;
import dev.ppoengine.cuda.CudaRuntime;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;
import org.junit.platform.engine.TestExecutionResult;

import java.io.PrintWriter;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

public final class GpuCheck {
    public static void main(String[] args) {
        java.util.List<String> a = java.util.List.of(args);
        boolean quick = a.contains("--quick");
        int bi = a.indexOf("--backend");
        String backend = bi >= 0 && bi + 1 < a.size() ? a.get(bi + 1) : "cuda";
        if (!backend.equals("cuda") && !backend.equals("cuda-sim")) {
            System.err.println("gpu-check: --backend must be cuda or cuda-sim, got " + backend);
            System.exit(2);
        }
        String why = backend.equals("cuda") ? new CudaProvider().unavailableReason() : CudaRuntime.simUnavailableReason();
        if (why != null) {
            System.err.println("gpu-check: the " + backend + " backend is not usable here: " + why);
            System.exit(2);
        }
        // A parameterised case whose display name has the backend as an argument (cuda does not match cuda-sim).
        final Pattern caseArg = Pattern.compile("(?<![\\w-])" + Pattern.quote(backend) + "(?![\\w-])");
        CudaRuntime rt = backend.equals("cuda") ? CudaRuntime.cuda() : CudaRuntime.sim();
        System.out.println("gpu-check: " + rt.deviceCount() + " device(s); device 0: " + rt.deviceName(0)
                + ", sm_" + rt.computeCapability(0) + ", " + rt.multiprocessors(0) + " SMs; library " + rt.path());

        LauncherDiscoveryRequestBuilder b = LauncherDiscoveryRequestBuilder.request();
        int ci = a.indexOf("--class");
        if (ci >= 0 && ci + 1 < a.size()) {
            b.selectors(DiscoverySelectors.selectClass(a.get(ci + 1)));
        } else if (quick) {
            b.selectors(DiscoverySelectors.selectClass("dev.ppoengine.cuda.CudaDeviceTest"));
        } else {
            b.selectors(DiscoverySelectors.selectPackage("dev.ppoengine.ops"),
                    DiscoverySelectors.selectClass("dev.ppoengine.cuda.CudaDeviceTest"));
        }
        LauncherDiscoveryRequest request = b.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        AtomicInteger cudaRan = new AtomicInteger(), cudaSkipped = new AtomicInteger();
        TestExecutionListener cudaCases = new TestExecutionListener() {
            private boolean isCuda(TestIdentifier id) {
                return id.isTest() && caseArg.matcher(id.getDisplayName()).find();
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                // an assumption failure (backend unavailable) finishes as ABORTED: that is a skip, not a run
                if (isCuda(id)) {
                    if (result.getStatus() == TestExecutionResult.Status.ABORTED) cudaSkipped.incrementAndGet();
                    else cudaRan.incrementAndGet();
                }
                if (id.isTest() && result.getStatus() == TestExecutionResult.Status.FAILED) {
                    System.out.println("FAILED " + id.getLegacyReportingName() + ": "
                            + result.getThrowable().map(Throwable::toString).orElse(""));
                }
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                if (isCuda(id)) cudaSkipped.incrementAndGet();
            }
        };
        launcher.execute(request, summary, cudaCases);
        TestExecutionSummary s = summary.getSummary();
        s.printTo(new PrintWriter(System.out));
        s.printFailuresTo(new PrintWriter(System.out), 30);
        System.out.println("gpu-check: " + backend + " cases run " + cudaRan.get() + ", skipped " + cudaSkipped.get());
        boolean ok = s.getTotalFailureCount() == 0 && cudaRan.get() > 0 && cudaSkipped.get() == 0;
        System.out.println("gpu-check: " + (ok ? "PASSED" : "FAILED"));
        System.exit(ok ? 0 : 1);
    }
}
