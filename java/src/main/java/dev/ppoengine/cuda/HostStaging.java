package dev.ppoengine.cuda;

import dev.ppoengine.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Device copies of one call's host tensors, for the backends that serve host-tensor callers on a GPU
 * ({@link CudaStagedKernels}, {@link LinearTokenLogprobsCuda}): inputs are uploaded (a tensor passed twice is copied
 * once), outputs get device memory of the same layout and are copied back by {@link #finish}; {@link #close} frees
 * everything. An inactive staging (device tensors, or the emulator, whose device memory is host memory) passes every
 * tensor through unchanged.
 */
final class HostStaging implements AutoCloseable {
    private final CudaRuntime runtime;
    private final CudaStream stream;
    private final boolean active;
    private final Map<Tensor, Tensor> onDevice = new IdentityHashMap<>();
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private final List<Tensor[]> outputs = new ArrayList<>();   // {host, device}

    HostStaging(CudaRuntime runtime, CudaStream stream, boolean active) {
        this.runtime = runtime;
        this.stream = stream;
        this.active = active;
    }

    /** An input: copied to the device (null stays null). */
    Tensor in(Tensor host) {
        if (host == null || !active) return host;
        Tensor d = onDevice.get(host);
        if (d != null) return d;
        DeviceBuffer b = DeviceBuffer.upload(runtime, host, stream);
        buffers.add(b);
        d = b.strided(host.dtype(), host.rowStride(), host.shape());
        onDevice.put(host, d);
        return d;
    }

    /** An output written from scratch: device memory of the same layout (strided ones uploaded so their gaps survive). */
    Tensor out(Tensor host) {
        return out(host, false);
    }

    /** An output; {@code keep}: the op reads its current values (accumulation), so they are uploaded first. */
    Tensor out(Tensor host, boolean keep) {
        if (host == null || !active) return host;
        Tensor d = onDevice.get(host);
        if (d == null) {
            if (host.isDense() && !keep) {
                DeviceBuffer b = DeviceBuffer.allocate(runtime, host.spanBytes());
                buffers.add(b);
                d = b.strided(host.dtype(), host.rowStride(), host.shape());
                onDevice.put(host, d);
            } else {
                d = in(host);
            }
        }
        outputs.add(new Tensor[] {host, d});
        return d;
    }

    /** Marks an existing device copy as the device side of an output (an op writing in place over an input). */
    void outputAt(Tensor host, Tensor device) {
        if (active) outputs.add(new Tensor[] {host, device});
    }

    /** Waits for the stream and copies every output back to its host tensor. */
    void finish() {
        if (!active) return;
        stream.synchronize();
        for (Tensor[] o : outputs) {
            DeviceBuffer b = buffers.stream().filter(x -> x.address() == o[1].address()).findFirst().orElseThrow();
            b.download(o[0], stream);
        }
    }

    @Override
    public void close() {
        for (DeviceBuffer b : buffers) b.close();
    }
}
