package dev.ppoengine.tensor;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (Hugging Face; what PyTorch's {@code safetensors.torch.save_file} writes):
 * <pre>
 *   [8 bytes]  N, unsigned little-endian: length of the JSON header
 *   [N bytes]  UTF-8 JSON object: {"__metadata__": {str: str}?, NAME: {"dtype": "F32", "shape": [d0, ...],
 *                                  "data_offsets": [begin, end]}, ...}   (may end with spaces)
 *   [rest]     the data section; tensor bytes are data[begin:end), little-endian, row-major, dense
 * </pre>
 * Reading maps the file (one {@link FileChannel#map} into an {@link Arena}) and returns tensors that are views of
 * the mapping, so nothing is copied; they stay valid until the {@link SafetensorsFile} is closed. The whole header
 * is validated first (the rules follow the format's reference implementation, huggingface/safetensors, except that
 * gaps between tensors are tolerated): any defect is a {@link FormatException} naming the file and the tensor.
 *
 * <p>Writing is atomic: everything goes to a temporary file in the target's directory, which is fsynced and then
 * renamed over the target, so a reader never sees a partial file and a failed write leaves nothing behind.
 * The header is padded with spaces to a multiple of 8 bytes so the data section starts 8-byte aligned.
 */
public final class Safetensors {
    private Safetensors() {}

    /** The reference implementation refuses headers above 100 MB; a larger length means a corrupt file. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final String METADATA_KEY = "__metadata__";

    static {
        // Tensor reads elements in the host's byte order and the format is little-endian: refuse to misread.
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("safetensors I/O needs a little-endian host");
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /** A malformed safetensors file; the message names the file and, where one is at fault, the tensor. */
    public static final class FormatException extends IOException {
        FormatException(String message) {
            super(message);
        }
    }

    // ------------------------------------------------------------------------------------------------ reading

    /** Opens and validates {@code file}; tensors view the mapping and stay valid until the returned file is closed. */
    public static SafetensorsFile read(Path file) throws IOException {
        String name = file.toString();
        if (Files.isDirectory(file)) throw new IOException(name + ": is a directory, not a safetensors file");
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapped;
            try (FileChannel ch = openForRead(file)) {
                long size = ch.size();
                if (size < 8) {
                    throw new FormatException(name + ": file of " + size + " bytes is too short for the 8-byte header length");
                }
                mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            Parsed parsed = parse(name, mapped);
            return new MappedFile(name, arena, parsed.tensors, parsed.metadata);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static FileChannel openForRead(Path file) throws IOException {
        try {
            return FileChannel.open(file, StandardOpenOption.READ);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException(file + ": no such file", e);
        } catch (java.nio.file.AccessDeniedException e) {
            throw new IOException(file + ": permission denied", e);
        }
    }

    private record Parsed(Map<String, Tensor> tensors, Map<String, String> metadata) {}

    /** One header entry before the overlap check: its name and byte range in the data section. */
    private record Span(String name, long begin, long end) {}

    private static Parsed parse(String file, MemorySegment mapped) throws FormatException {
        long size = mapped.byteSize();
        long headerLen = mapped.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        // An unsigned length above 2^63 reads as negative: it is as absurd as any other length past EOF.
        if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
            throw new FormatException(file + ": header length " + Long.toUnsignedString(headerLen)
                    + " is absurd (limit " + MAX_HEADER_BYTES + " bytes); not a safetensors file?");
        }
        if (8 + headerLen > size) {
            throw new FormatException(file + ": header length " + headerLen + " runs past the end of the file ("
                    + size + " bytes)");
        }
        // Why the narrowing cast is safe: headerLen <= MAX_HEADER_BYTES < 2^31.
        byte[] headerBytes = mapped.asSlice(8, headerLen).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        String headerText;
        try {
            headerText = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new FormatException(file + ": header is not valid UTF-8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(headerText);
        } catch (JsonProcessingException e) {
            throw new FormatException(file + ": header is not valid JSON: " + oneLine(e.getOriginalMessage()));
        }
        if (root == null || !root.isObject()) {
            throw new FormatException(file + ": header must be a JSON object, got "
                    + (root == null ? "nothing" : root.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)));
        }
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        MemorySegment data = mapped.asSlice(dataStart, dataSize);

        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        List<Span> spans = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String key = e.getKey();
            JsonNode v = e.getValue();
            if (key.equals(METADATA_KEY)) {
                readMetadata(file, v, metadata);
                continue;
            }
            String where = file + ": tensor '" + key + "'";
            if (!v.isObject()) throw new FormatException(where + ": entry must be an object, got " + describe(v));
            DType dtype = readDtype(where, v.get("dtype"));
            long[] shape = readShape(where, v.get("shape"));
            long[] offsets = readOffsets(where, v.get("data_offsets"));
            long begin = offsets[0], end = offsets[1];
            if (begin > end) {
                throw new FormatException(where + ": data_offsets [" + begin + ", " + end + "] have begin > end");
            }
            if (end > dataSize) {
                throw new FormatException(where + ": data_offsets [" + begin + ", " + end
                        + "] lie outside the data section of " + dataSize + " bytes");
            }
            long expected = byteCount(where, shape, dtype);
            if (end - begin != expected) {
                throw new FormatException(where + ": shape " + Arrays.toString(shape) + " of " + dtype.safetensorsName()
                        + " needs " + expected + " bytes but data_offsets [" + begin + ", " + end + "] span " + (end - begin));
            }
            spans.add(new Span(key, begin, end));
            tensors.put(key, Tensor.of(data.asSlice(begin, end - begin), dtype, shape));
        }
        checkOverlap(file, spans);
        return new Parsed(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static void readMetadata(String file, JsonNode v, Map<String, String> out) throws FormatException {
        if (!v.isObject()) throw new FormatException(file + ": " + METADATA_KEY + " must be an object, got " + describe(v));
        for (Map.Entry<String, JsonNode> m : v.properties()) {
            if (!m.getValue().isTextual()) {
                throw new FormatException(file + ": " + METADATA_KEY + " value of '" + m.getKey()
                        + "' must be a string, got " + describe(m.getValue()));
            }
            out.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static DType readDtype(String where, JsonNode node) throws FormatException {
        if (node == null) throw new FormatException(where + ": missing field 'dtype'");
        if (!node.isTextual()) throw new FormatException(where + ": 'dtype' must be a string, got " + describe(node));
        DType d = DType.fromSafetensors(node.textValue());
        if (d == null) {
            StringBuilder known = new StringBuilder();
            for (DType k : DType.values()) known.append(known.isEmpty() ? "" : ", ").append(k.safetensorsName());
            throw new FormatException(where + ": unknown or unsupported dtype '" + node.textValue() + "' (supported: " + known + ")");
        }
        return d;
    }

    private static long[] readShape(String where, JsonNode node) throws FormatException {
        if (node == null) throw new FormatException(where + ": missing field 'shape'");
        if (!node.isArray()) throw new FormatException(where + ": 'shape' must be an array, got " + describe(node));
        long[] shape = new long[node.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = node.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong()) {
                throw new FormatException(where + ": shape entry " + i + " must be an integer, got " + describe(d));
            }
            shape[i] = d.longValue();
            if (shape[i] < 0) throw new FormatException(where + ": shape " + node + " has a negative dimension");
        }
        return shape;
    }

    private static long[] readOffsets(String where, JsonNode node) throws FormatException {
        if (node == null) throw new FormatException(where + ": missing field 'data_offsets'");
        if (!node.isArray() || node.size() != 2) {
            throw new FormatException(where + ": 'data_offsets' must be an array [begin, end], got " + describe(node));
        }
        long[] o = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode d = node.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0) {
                throw new FormatException(where + ": data_offsets entry " + i + " must be a non-negative integer, got " + describe(d));
            }
            o[i] = d.longValue();
        }
        return o;
    }

    private static long byteCount(String where, long[] shape, DType dtype) throws FormatException {
        try {
            return Math.multiplyExact(Tensor.numel(shape), (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new FormatException(where + ": shape " + Arrays.toString(shape) + " overflows 64-bit sizes");
        }
    }

    /** Tensors must not share bytes (empty tensors occupy none, so they may sit anywhere). */
    private static void checkOverlap(String file, List<Span> spans) throws FormatException {
        List<Span> sorted = new ArrayList<>();
        for (Span s : spans) if (s.end > s.begin) sorted.add(s);
        sorted.sort(Comparator.comparingLong(Span::begin));
        for (int i = 1; i < sorted.size(); i++) {
            Span prev = sorted.get(i - 1), cur = sorted.get(i);
            if (cur.begin < prev.end) {
                throw new FormatException(file + ": tensor '" + cur.name + "' (bytes [" + cur.begin + ", " + cur.end
                        + ")) overlaps tensor '" + prev.name + "' (bytes [" + prev.begin + ", " + prev.end + "))");
            }
        }
    }

    private static String describe(JsonNode n) {
        String text = n.toString();
        if (text.length() > 60) text = text.substring(0, 57) + "...";
        return n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT) + " " + text;
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s+", " ").trim();
    }

    /** The opened file: views of one shared mapping, unmapped on close (idempotent). */
    private static final class MappedFile implements SafetensorsFile {
        private final String name;
        private final Arena arena;
        private final Map<String, Tensor> tensors;
        private final Map<String, String> metadata;
        private boolean closed;

        MappedFile(String name, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
            this.name = name;
            this.arena = arena;
            this.tensors = tensors;
            this.metadata = metadata;
        }

        @Override public Map<String, Tensor> tensors() { return tensors; }
        @Override public Map<String, String> metadata() { return metadata; }
        @Override public String fileName() { return name; }

        @Override
        public synchronized void close() {
            if (closed) return;
            closed = true;
            arena.close();
        }
    }

    // ------------------------------------------------------------------------------------------------ writing

    /** Writes tensors (in the map's order) and string metadata (nullable) atomically. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        String fname = file.toString();
        byte[] header = header(fname, tensors, metadata);
        Path dir = file.toAbsolutePath().getParent();
        if (Files.isDirectory(file)) throw new IOException(fname + ": is a directory");
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IOException(fname + ": directory " + dir + " does not exist");
        }
        Path tmp = createTemp(dir, file.getFileName().toString());
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                    try {
                        writeData(ch, e.getValue());
                    } catch (RuntimeException ex) {
                        throw new IOException(fname + ": cannot write tensor '" + e.getKey() + "': " + ex.getMessage(), ex);
                    }
                }
                ch.force(true); // the data must be on disk before the rename makes it visible
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException(fname + ": the file system cannot rename atomically within " + dir, e);
            }
            done = true;
            syncDirectory(dir);
        } finally {
            if (!done) Files.deleteIfExists(tmp);
        }
    }

    /**
     * A fresh hidden file next to the target. Unlike {@link Files#createTempFile} it gets the default permissions
     * (umask), which the renamed output then keeps.
     */
    private static Path createTemp(Path dir, String base) throws IOException {
        for (int attempt = 0; ; attempt++) {
            long tag = java.util.concurrent.ThreadLocalRandom.current().nextLong() >>> 1;
            Path p = dir.resolve("." + base + "." + Long.toString(tag, 36) + ".tmp");
            try {
                return Files.createFile(p);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt >= 100) throw e;
            } catch (java.nio.file.AccessDeniedException e) {
                throw new IOException(base + ": cannot create a file in " + dir + ": permission denied", e);
            }
        }
    }

    /** The JSON header, space-padded so that 8 + its length is a multiple of 8. */
    private static byte[] header(String fname, Map<String, Tensor> tensors, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = root.putObject(METADATA_KEY);
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                if (e.getKey() == null || e.getValue() == null) {
                    throw new IllegalArgumentException(fname + ": metadata keys and values must not be null");
                }
                m.put(e.getKey(), e.getValue());
            }
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (name == null || name.isEmpty() || name.equals(METADATA_KEY)) {
                throw new IllegalArgumentException(fname + ": invalid tensor name '" + name + "'");
            }
            if (t == null) throw new IllegalArgumentException(fname + ": tensor '" + name + "' is null");
            if (t.isDevice()) {
                throw new IllegalArgumentException(fname + ": tensor '" + name + "' lives on the device; copy it to the host first");
            }
            ObjectNode info = root.putObject(name);
            info.put("dtype", t.dtype().safetensorsName());
            ArrayNode shape = info.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            long bytes = Math.multiplyExact(t.numel(), (long) t.dtype().byteSize());
            ArrayNode offs = info.putArray("data_offsets");
            offs.add(offset);
            offs.add(offset + bytes);
            offset = Math.addExact(offset, bytes);
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise the safetensors header: " + e.getMessage(), e);
        }
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** Slices of at most this many bytes go to one write call (a ByteBuffer view holds < 2^31 bytes). */
    private static final long CHUNK = 1L << 26;

    /**
     * Writes the tensor's elements densely in row-major order (a strided tensor row by row). Tensor memory holds
     * elements in the host's byte order, which is little-endian on every platform the engine runs on (x86-64,
     * aarch64), so the bytes go out as they are.
     */
    private static void writeData(FileChannel ch, Tensor t) throws IOException {
        long n = t.numel();
        if (n == 0) return;
        MemorySegment seg = t.segment();
        long elem = t.dtype().byteSize();
        if (t.isDense()) {
            writeSegment(ch, seg.asSlice(0, n * elem));
            return;
        }
        long rowBytes = t.cols() * elem, strideBytes = t.rowStride() * elem;
        for (long r = 0; r < t.rows(); r++) writeSegment(ch, seg.asSlice(r * strideBytes, rowBytes));
    }

    private static void writeSegment(FileChannel ch, MemorySegment s) throws IOException {
        for (long off = 0; off < s.byteSize(); off += CHUNK) {
            writeFully(ch, s.asSlice(off, Math.min(CHUNK, s.byteSize() - off)).asByteBuffer());
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** fsync of the directory makes the rename itself durable (Linux; silently unsupported elsewhere). */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Not every OS/file system can open or sync a directory; the file content is already durable.
        }
    }
}
