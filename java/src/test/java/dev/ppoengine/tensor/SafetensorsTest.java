package dev.ppoengine.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Safetensors read/write: round trips of every dtype (0-d and empty tensors, metadata, strided input), the byte
 * layout the format prescribes (LE length, JSON header padded to 8), malformed files rejected with a message that
 * names the file and the tensor, and atomic writes that leave nothing behind on failure.
 */
class SafetensorsTest {
    @TempDir Path dir;

    // ------------------------------------------------------------------ round trips

    static Stream<Arguments> dtypesAndShapes() {
        List<long[]> shapes = List.of(new long[] {}, new long[] {0}, new long[] {1}, new long[] {7},
                new long[] {3, 5}, new long[] {2, 0, 4}, new long[] {2, 3, 4});
        return Stream.of(DType.values()).flatMap(d -> shapes.stream().map(s -> Arguments.of(d, s)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dtypesAndShapes")
    void roundTripKeepsDtypeShapeAndBytes(DType dtype, long[] shape) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, dtype, shape);
            SplittableRandom rnd = new SplittableRandom(7 + dtype.ordinal());
            byte[] raw = new byte[(int) (t.numel() * dtype.byteSize())];
            rnd.nextBytes(raw);
            if (dtype == DType.BOOL) for (int i = 0; i < raw.length; i++) raw[i] &= 1;
            MemorySegment.copy(raw, 0, t.segment(), ValueLayout.JAVA_BYTE, 0, raw.length);

            Path f = dir.resolve("t.safetensors");
            Safetensors.write(f, Map.of("x", t), Map.of("format", "pt"));
            try (SafetensorsFile r = Safetensors.read(f)) {
                Tensor back = r.tensors().get("x");
                assertEquals(dtype, back.dtype());
                assertArrayEquals(shape, back.shape());
                assertArrayEquals(raw, back.segment().toArray(ValueLayout.JAVA_BYTE));
                assertEquals(Map.of("format", "pt"), r.metadata());
            }
        }
    }

    @Test
    void manyTensorsKeepOrderValuesAndMetadata() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("logits", Tensor.ofFloats(arena, DType.BF16, new float[] {1.5f, -2f, 0.25f, 3f, 0f, -0.125f}, 2, 3));
            in.put("labels", Tensor.ofLongs(arena, new long[] {2, 0}, 2));
            in.put("mask", Tensor.ofInts(arena, new int[] {1, 0, 1, 1}, 2, 2));
            in.put("scale", Tensor.scalar(arena, 0.5f));
            in.put("empty", Tensor.allocate(arena, DType.F32, 0, 3));
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("producer", "unit test");
            meta.put("ünïcödé", "値 ✓");
            Path f = dir.resolve("many.safetensors");
            Safetensors.write(f, in, meta);
            try (SafetensorsFile r = Safetensors.read(f)) {
                assertEquals(List.of("logits", "labels", "mask", "scale", "empty"), List.copyOf(r.tensors().keySet()));
                assertEquals(meta, r.metadata());
                assertArrayEquals(new float[] {1.5f, -2f, 0.25f, 3f, 0f, -0.125f}, r.tensors().get("logits").toFloatArray());
                assertEquals(2, r.tensors().get("labels").getLong(0));
                assertEquals(0, r.tensors().get("labels").getLong(1));
                assertEquals(0, r.tensors().get("scale").rank());
                assertEquals(0.5f, r.tensors().get("scale").getFloat(0));
                assertArrayEquals(new long[] {0, 3}, r.tensors().get("empty").shape());
                assertEquals(f.toString(), r.fileName());
            }
        }
    }

    @Test
    void headerIsLittleEndianLengthPaddedWithSpacesTo8() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path f = dir.resolve("pad.safetensors");
            // A name whose header length is not already a multiple of 8 forces padding.
            Safetensors.write(f, Map.of("abc", Tensor.ofFloats(arena, new float[] {1f, 2f}, 2)), null);
            byte[] b = Files.readAllBytes(f);
            long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, (8 + n) % 8, "data section starts 8-byte aligned");
            String header = new String(b, 8, (int) n, StandardCharsets.UTF_8);
            assertTrue(header.startsWith("{\"abc\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), header);
            assertTrue(header.strip().endsWith("}"));
            assertEquals(8 + n + 8, b.length, "header + two f32");
            // Data bytes: 1.0f = 0x3F800000 little-endian = 00 00 80 3F.
            assertArrayEquals(new byte[] {0, 0, (byte) 0x80, 0x3F}, java.util.Arrays.copyOfRange(b, (int) (8 + n), (int) (12 + n)));
        }
    }

    @Test
    void stridedTensorIsWrittenDensely() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            // A [3, 5] buffer 0..14, viewed as [3, 2] with row stride 5: rows {0,1}, {5,6}, {10,11}.
            float[] all = new float[15];
            for (int i = 0; i < 15; i++) all[i] = i;
            Tensor base = Tensor.ofFloats(arena, all, 3, 5);
            Tensor view = Tensor.strided(base.segment(), DType.F32, 5, 3, 2);
            Path f = dir.resolve("strided.safetensors");
            Safetensors.write(f, Map.of("v", view), Map.of());
            try (SafetensorsFile r = Safetensors.read(f)) {
                Tensor back = r.tensors().get("v");
                assertTrue(back.isDense());
                assertArrayEquals(new float[] {0, 1, 5, 6, 10, 11}, back.toFloatArray());
            }
        }
    }

    @Test
    void readIsAZeroCopyViewOfTheMappingAndCloseUnmaps() throws IOException {
        Path f = dir.resolve("map.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.write(f, Map.of("a", Tensor.ofFloats(arena, new float[] {4f, 5f}, 2)), null);
        }
        SafetensorsFile r = Safetensors.read(f);
        Tensor a = r.tensors().get("a");
        assertTrue(a.segment().isMapped(), "tensor is a view of the file mapping");
        assertEquals(5f, a.getFloat(1));
        r.close();
        r.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> a.getFloat(0), "no access after unmapping");
    }

    @Test
    void readsAHandWrittenFileWithUnpaddedHeaderAndF64() throws IOException {
        // What another writer may produce: header not padded, keys not in data order, f64 data, a gap-free layout.
        String json = "{\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[4,20]},"
                + "\"a\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}";
        ByteBuffer data = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
        data.putInt(-7).putDouble(0.1).putDouble(-1e300);
        Path p = file("hand.safetensors", json, data.array());
        try (SafetensorsFile r = Safetensors.read(p)) {
            assertEquals(-7, r.tensors().get("a").getLong(0));
            assertEquals(0.1, r.tensors().get("b").getDouble(0));
            assertEquals(-1e300, r.tensors().get("b").getDouble(1));
            assertTrue(r.metadata().isEmpty());
        }
    }

    @Test
    void bf16AndF16AreRoundedToNearestEvenOnTheWayIn() throws IOException {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties go to the even mantissa, 1.0.
        // 1 + 3·2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): rounds up to 1.015625.
        // For f16 the same with 2^-11: 1 + 2^-11 → 1.0, 1 + 3·2^-11 → 1 + 2^-9.
        try (Arena arena = Arena.ofConfined()) {
            float h8 = (float) Math.pow(2, -8), h11 = (float) Math.pow(2, -11);
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("bf", Tensor.ofFloats(arena, DType.BF16, new float[] {1 + h8, 1 + 3 * h8}, 2));
            in.put("hf", Tensor.ofFloats(arena, DType.F16, new float[] {1 + h11, 1 + 3 * h11}, 2));
            Path f = dir.resolve("half.safetensors");
            Safetensors.write(f, in, null);
            try (SafetensorsFile r = Safetensors.read(f)) {
                assertArrayEquals(new float[] {1f, 1.015625f}, r.tensors().get("bf").toFloatArray());
                assertArrayEquals(new float[] {1f, 1f + (float) Math.pow(2, -9)}, r.tensors().get("hf").toFloatArray());
                // The raw bits: bf16 1.0 = 0x3F80, 1.015625 = 0x3F82.
                assertEquals((short) 0x3F82, r.tensors().get("bf").segment().get(ValueLayout.JAVA_SHORT_UNALIGNED, 2));
            }
        }
    }

    @Test
    void overwritingReplacesTheOldFile() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path f = dir.resolve("o.safetensors");
            Safetensors.write(f, Map.of("a", Tensor.scalar(arena, 1f)), null);
            Safetensors.write(f, Map.of("b", Tensor.scalar(arena, 2f)), null);
            try (SafetensorsFile r = Safetensors.read(f)) {
                assertEquals(List.of("b"), List.copyOf(r.tensors().keySet()));
            }
            assertEquals(List.of("o.safetensors"), listing());
        }
    }

    // ------------------------------------------------------------------ malformed files

    private Path file(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** 8-byte LE length + the header text + data bytes. */
    private Path file(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        return file(name, b.array());
    }

    private Path file(String name, String header, int dataBytes) throws IOException {
        return file(name, header, new byte[dataBytes]);
    }

    /** Reads {@code p}, expecting a failure whose message names the file and contains every fragment. */
    private static void assertRejected(Path p, String... fragments) {
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(p).close());
        String msg = e.getMessage();
        assertTrue(msg.contains(p.toString()), "message names the file: " + msg);
        for (String frag : fragments) assertTrue(msg.contains(frag), "message '" + msg + "' should mention '" + frag + "'");
        assertFalse(msg.contains("\n"), "one line: " + msg);
    }

    private static String entry(String name, String dtype, String shape, String offsets) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
    }

    @Test
    void rejectsFileTooShortForTheLength() throws IOException {
        assertRejected(file("short.st", new byte[] {1, 2, 3}), "too short");
    }

    @Test
    void rejectsEmptyFile() throws IOException {
        assertRejected(file("empty.st", new byte[0]), "0 bytes", "too short");
    }

    @Test
    void rejectsHeaderLengthPastEof() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + 10).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        assertRejected(file("past.st", b.array()), "header length 1000", "past the end");
    }

    @Test
    void rejectsAbsurdHeaderLength() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L); // 2^64 − 1 unsigned
        assertRejected(file("absurd.st", b.array()), "18446744073709551615", "absurd");
        ByteBuffer c = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(200_000_000L);
        assertRejected(file("absurd2.st", c.array()), "200000000", "absurd");
    }

    @Test
    void rejectsBadJson() throws IOException {
        assertRejected(file("json.st", "{\"a\": {\"dtype\": ", 0), "not valid JSON");
    }

    @Test
    void rejectsTrailingGarbageAfterTheJson() throws IOException {
        assertRejected(file("trail.st", "{} {}", 0), "not valid JSON");
    }

    @Test
    void rejectsInvalidUtf8() throws IOException {
        byte[] bad = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        ByteBuffer b = ByteBuffer.allocate(8 + bad.length).order(ByteOrder.LITTLE_ENDIAN).putLong(bad.length).put(bad);
        assertRejected(file("utf8.st", b.array()), "UTF-8");
    }

    @Test
    void rejectsHeaderThatIsNotAnObject() throws IOException {
        assertRejected(file("array.st", "[1, 2]", 0), "must be a JSON object", "array");
    }

    @Test
    void rejectsUnknownDtype() throws IOException {
        assertRejected(file("dtype.st", "{" + entry("w", "F8_E4M3", "[2]", "[0,2]") + "}", 2),
                "tensor 'w'", "unsupported dtype 'F8_E4M3'");
    }

    @Test
    void rejectsMissingFields() throws IOException {
        assertRejected(file("nodtype.st", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "missing field 'dtype'");
        assertRejected(file("noshape.st", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "missing field 'shape'");
        assertRejected(file("nooffs.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor 'w'", "missing field 'data_offsets'");
    }

    @Test
    void rejectsIllTypedFields() throws IOException {
        assertRejected(file("entry.st", "{\"w\": 3}", 0), "tensor 'w'", "must be an object");
        assertRejected(file("dtypenum.st", "{" + entry("w", "F32", "[1]", "[0,4]").replace("\"F32\"", "5") + "}", 4),
                "tensor 'w'", "'dtype' must be a string");
        assertRejected(file("shapestr.st", "{" + entry("w", "F32", "\"1\"", "[0,4]") + "}", 4), "tensor 'w'", "'shape' must be an array");
        assertRejected(file("shapefrac.st", "{" + entry("w", "F32", "[1.5]", "[0,4]") + "}", 4), "tensor 'w'", "shape entry 0 must be an integer");
        assertRejected(file("offs3.st", "{" + entry("w", "F32", "[1]", "[0,4,8]") + "}", 8), "tensor 'w'", "'data_offsets' must be an array [begin, end]");
        assertRejected(file("offsneg.st", "{" + entry("w", "F32", "[1]", "[-4,0]") + "}", 8), "tensor 'w'", "non-negative integer");
    }

    @Test
    void rejectsNegativeDimension() throws IOException {
        assertRejected(file("neg.st", "{" + entry("w", "F32", "[2,-1]", "[0,4]") + "}", 4), "tensor 'w'", "negative dimension");
    }

    @Test
    void rejectsOffsetsOutsideTheData() throws IOException {
        assertRejected(file("outside.st", "{" + entry("w", "F32", "[4]", "[0,16]") + "}", 8),
                "tensor 'w'", "outside the data section of 8 bytes");
    }

    @Test
    void rejectsBeginAfterEnd() throws IOException {
        assertRejected(file("backwards.st", "{" + entry("w", "F32", "[1]", "[8,4]") + "}", 8), "tensor 'w'", "begin > end");
    }

    @Test
    void rejectsOverlappingTensors() throws IOException {
        String h = "{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}";
        assertRejected(file("overlap.st", h, 12), "tensor 'b'", "overlaps tensor 'a'");
    }

    @Test
    void rejectsShapeTimesDtypeNotEqualToTheSpan() throws IOException {
        assertRejected(file("span.st", "{" + entry("w", "F32", "[3]", "[0,8]") + "}", 8),
                "tensor 'w'", "needs 12 bytes", "span 8");
        assertRejected(file("span16.st", "{" + entry("h", "BF16", "[2,2]", "[0,4]") + "}", 4), "tensor 'h'", "needs 8 bytes");
    }

    @Test
    void rejectsShapeOverflow() throws IOException {
        String h = "{" + entry("w", "F32", "[4611686018427387904,4]", "[0,4]") + "}";
        assertRejected(file("overflow.st", h, 4), "tensor 'w'", "overflows");
    }

    @Test
    void rejectsDuplicateTensorNames() throws IOException {
        String h = "{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("a", "F32", "[1]", "[4,8]") + "}";
        assertRejected(file("dup.st", h, 8), "Duplicate field 'a'");
    }

    @Test
    void rejectsBadMetadata() throws IOException {
        assertRejected(file("meta1.st", "{\"__metadata__\": [1]}", 0), "__metadata__ must be an object");
        assertRejected(file("meta2.st", "{\"__metadata__\": {\"epoch\": 3}}", 0), "__metadata__ value of 'epoch' must be a string");
    }

    @Test
    void rejectsMissingFileAndDirectory() {
        IOException missing = assertThrows(IOException.class, () -> Safetensors.read(dir.resolve("nope.safetensors")));
        assertTrue(missing.getMessage().endsWith("nope.safetensors: no such file"), missing.getMessage());
        IOException isDir = assertThrows(IOException.class, () -> Safetensors.read(dir));
        assertTrue(isDir.getMessage().contains("is a directory"), isDir.getMessage());
    }

    // ------------------------------------------------------------------ atomic writes

    private List<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void writeIntoMissingDirectoryFailsWithoutLeavingAFile() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path f = dir.resolve("no-such-dir").resolve("out.safetensors");
            IOException e = assertThrows(IOException.class,
                    () -> Safetensors.write(f, Map.of("a", Tensor.scalar(arena, 1f)), null));
            assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
            assertEquals(List.of(), listing());
        }
    }

    @Test
    void writeWhereTheParentIsAFileFails() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Files.writeString(dir.resolve("plain"), "x");
            Path f = dir.resolve("plain").resolve("out.safetensors");
            assertThrows(IOException.class, () -> Safetensors.write(f, Map.of("a", Tensor.scalar(arena, 1f)), null));
            assertEquals(List.of("plain"), listing());
        }
    }

    @Test
    void writeOntoADirectoryFails() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Files.createDirectory(dir.resolve("d"));
            IOException e = assertThrows(IOException.class,
                    () -> Safetensors.write(dir.resolve("d"), Map.of("a", Tensor.scalar(arena, 1f)), null));
            assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
            assertEquals(List.of("d"), listing());
        }
    }

    @Test
    void failureMidWriteLeavesNoPartialFileAndKeepsTheOldOne() throws IOException {
        Path f = dir.resolve("keep.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.write(f, Map.of("old", Tensor.scalar(arena, 3f)), null);
        }
        byte[] before = Files.readAllBytes(f);
        Arena ok = Arena.ofConfined();
        Arena gone = Arena.ofConfined();
        Tensor good = Tensor.ofFloats(ok, new float[] {1f, 2f, 3f}, 3);
        Tensor dead = Tensor.ofFloats(gone, new float[] {4f, 5f}, 2);
        gone.close(); // its memory is freed: writing it fails after the header and the first tensor went out
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("good", good);
        in.put("dead", dead);
        IOException e = assertThrows(IOException.class, () -> Safetensors.write(f, in, null));
        ok.close();
        assertTrue(e.getMessage().contains("tensor 'dead'"), e.getMessage());
        assertEquals(List.of("keep.safetensors"), listing(), "no temporary file left behind");
        assertArrayEquals(before, Files.readAllBytes(f), "the previous file is untouched");
    }

    @Test
    void deviceTensorsAndBadNamesAreRejectedBeforeAnyFileIsCreated() throws IOException {
        Path f = dir.resolve("dev.safetensors");
        Tensor dev = Tensor.device(0x1000, DType.F32, 4, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Safetensors.write(f, Map.of("d", dev), null));
        assertTrue(e.getMessage().contains("tensor 'd' lives on the device"), e.getMessage());
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException m = assertThrows(IllegalArgumentException.class,
                    () -> Safetensors.write(f, Map.of("__metadata__", Tensor.scalar(arena, 1f)), null));
            assertTrue(m.getMessage().contains("invalid tensor name '__metadata__'"), m.getMessage());
        }
        assertEquals(List.of(), listing());
    }

    @Test
    void writtenFileIsReadableByTheStrictLayoutRules() throws IOException {
        // The reference implementation also requires tensors to tile the data section with no gaps:
        // check the writer's offsets do exactly that.
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("a", Tensor.ofInts(arena, new int[] {1, 2, 3}, 3));
            in.put("e", Tensor.allocate(arena, DType.F16, 0));
            in.put("b", Tensor.ofFloats(arena, DType.BF16, new float[] {1f}, 1));
            in.put("c", Tensor.ofLongs(arena, new long[] {9}, 1, 1));
            Path f = dir.resolve("tile.safetensors");
            Safetensors.write(f, in, null);
            long expectEnd = 0;
            try (SafetensorsFile r = Safetensors.read(f)) {
                for (Tensor t : r.tensors().values()) expectEnd += t.numel() * t.dtype().byteSize();
            }
            byte[] b = Files.readAllBytes(f);
            long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(12 + 0 + 2 + 8, expectEnd);
            assertEquals(8 + n + expectEnd, b.length, "data section is exactly the tensors' bytes");
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void zeroDimensionalScalarOfEveryDtype(DType dtype) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, dtype);
            t.setFloat(0, 1);
            Path f = dir.resolve("s.safetensors");
            Safetensors.write(f, Map.of("s", t), null);
            byte[] b = Files.readAllBytes(f);
            int n = (int) ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            String header = new String(b, 8, n, StandardCharsets.UTF_8);
            assertTrue(header.contains("\"shape\":[]"), header);
            try (SafetensorsFile r = Safetensors.read(f)) {
                assertEquals(0, r.tensors().get("s").rank());
                assertEquals(1.0, r.tensors().get("s").getDouble(0));
            }
        }
    }
}
