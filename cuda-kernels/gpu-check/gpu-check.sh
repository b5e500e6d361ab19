#!/usr/bin/env bash
# gpu-check.sh — checks the cuda backend on a machine with an NVIDIA GPU but no JDK or build tools.
#
#   gpu-check.sh bundle [DIR]   on a build machine (JDK 25, Maven, cmake, nvcc): builds the project and writes a
#                               self-contained bundle to DIR (default: java/target/gpu-check, a build output):
#                               a jlinked JDK 25 runtime, the classes with libppo_cuda.so, the compiled tests and
#                               their jars, the JUnit launcher (GpuCheck), and the benchmark script.
#   gpu-check.sh run [DIR]      on the GPU machine (driver, python3 with torch): runs the cuda backend test suite
#                               (every op test class with the "cuda" backend + CudaDeviceTest) with the bundled
#                               runtime, then the benchmark table of each kernel against PyTorch eager (bench.md).
#                               QUICK=1: CudaDeviceTest only and smaller benchmark sizes; SWEEP=1: also time fixed
#                               linear_token_logprobs tile shapes. Exit status 0 = passed.
#                               DRY_RUN=1 (no GPU needed): the same suite on the cuda-sim emulator, no benchmark —
#                               checks the bundle itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cmd="${1:-}"
dir="${2:-$root/java/target/gpu-check}"
say() { echo "[gpu-check] $*"; }
die() { echo "[gpu-check] $*" >&2; exit 1; }

case "$cmd" in
bundle)
    : "${JAVA_HOME:?set JAVA_HOME to a JDK 25}"
    export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
    mvn_flags="${MVN_FLAGS:--o}"
    say "building the project (mvn package -DskipTests $mvn_flags)"
    (cd "$root" && mvn -B -q $mvn_flags package -DskipTests)
    classes="$root/java/target/classes"
    if [ ! -f "$classes/native/linux-x86_64/libppo_cuda.so" ]; then
        die "libppo_cuda.so was not built: $(cat "$classes/native/linux-x86_64/libppo_cuda.unavailable.txt" 2>/dev/null || echo unknown)"
    fi
    rm -rf "$dir"
    mkdir -p "$dir/lib" "$dir/launcher"
    cp -r "$classes" "$dir/classes"
    cp -r "$root/java/target/test-classes" "$dir/test-classes"
    # The test class path, as Maven resolves it (exec-maven-plugin's %classpath), jars copied into lib/.
    cpfile="$dir/test-classpath.txt"
    (cd "$root/java" && mvn -B -q $mvn_flags org.codehaus.mojo:exec-maven-plugin:3.6.4:exec -Dexec.executable=echo \
        -Dexec.args="%classpath" -Dexec.classpathScope=test -Dexec.outputFile="$cpfile")
    tr ':' '\n' <"$cpfile" | grep '\.jar$' | while read -r jar; do cp "$jar" "$dir/lib/"; done
    rm -f "$cpfile"
    # The JUnit Platform launcher matching the engine (surefire adds it at test time; the bundle needs its own).
    platform="$(ls "$dir/lib" | sed -n 's/^junit-platform-engine-\(.*\)\.jar$/\1/p' | head -n 1)"
    [ -n "$platform" ] || die "no junit-platform-engine jar among the test dependencies"
    repo="${MAVEN_REPO:-$HOME/.m2/repository}"
    launcher_jar="$repo/org/junit/platform/junit-platform-launcher/$platform/junit-platform-launcher-$platform.jar"
    [ -f "$launcher_jar" ] || die "missing $launcher_jar (fetch it once: mvn dependency:get -Dartifact=org.junit.platform:junit-platform-launcher:$platform)"
    cp "$launcher_jar" "$dir/lib/"
    "$JAVA_HOME/bin/javac" -d "$dir/launcher" -cp "$dir/classes:$dir/test-classes:$dir/lib/*" "$here/GpuCheck.java"
    # The kernel tests need java.base and java.logging (JUnit); jackson's optional java.desktop / java.sql would add
    # 20 MB and are not used by them. Native debug symbols stripped: the bundle must stay small enough to carry.
    modules="java.base,java.logging,jdk.unsupported"
    say "jlink runtime with $modules"
    "$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-java-debug-attributes --strip-native-debug-symbols=exclude-debuginfo-files \
        --no-man-pages --no-header-files --compress=zip-9 --output "$dir/jdk"
    cp "$here/gpu-check.sh" "$here/bench_vs_torch.py" "$here/bench_linear.py" "$dir/"
    say "bundle ready: $dir ($(du -sh "$dir" | cut -f1)); on the GPU machine: $dir/gpu-check.sh run $dir"
    ;;
run)
    [ -x "$dir/jdk/bin/java" ] || die "no bundle at $dir (make one with: gpu-check.sh bundle)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/[gpu-check] GPU: /' || true
    cp="$dir/classes:$dir/test-classes:$dir/lib/*:$dir/launcher"
    status=0
    # linear_token_logprobs loads cuBLAS at run time: point it at the toolkit's or the Python wheel's copy if the
    # loader does not find one by its soname.
    if [ -z "${PPO_CUBLAS:-}" ]; then
        PPO_CUBLAS="$(find /usr/local /opt /usr/lib -name 'libcublas.so.1[0-9]*' 2>/dev/null | grep -v Lt | sort | tail -n 1 || true)"
        if [ -n "$PPO_CUBLAS" ]; then export PPO_CUBLAS; say "cuBLAS: $PPO_CUBLAS"; fi
    fi
    if [ -n "${DRY_RUN:-}" ]; then
        exec "$dir/jdk/bin/java" --enable-native-access=ALL-UNNAMED -Xss8m -cp "$cp" GpuCheck --backend cuda-sim ${QUICK:+--quick}
    fi
    "$dir/jdk/bin/java" --enable-native-access=ALL-UNNAMED -Xss8m -cp "$cp" GpuCheck ${QUICK:+--quick} || status=$?
    if command -v python3 >/dev/null 2>&1 && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
        python3 "$dir/bench_vs_torch.py" --lib "$dir/classes/native/linux-x86_64/libppo_cuda.so" ${QUICK:+--quick} \
            | tee "$dir/bench.md" || status=1
        python3 "$dir/bench_linear.py" --lib "$dir/classes/native/linux-x86_64/libppo_cuda.so" ${QUICK:+--quick} \
            ${SWEEP:+--sweep} | tee -a "$dir/bench.md" || status=1
    else
        say "no python3 with a CUDA-enabled torch here: benchmark table skipped"
    fi
    exit $status
    ;;
*)
    sed -n '2,16p' "$0"
    exit 2
    ;;
esac
