package dev.ppoengine.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The byte tokenizer by hand; a tiny GPT-2-style byte-level BPE tokenizer.json through the HF library. */
class TokenizerTest {

    @Test
    void byteTokenizerRoundTripsUtf8() {
        ByteTokenizer t = new ByteTokenizer();
        assertArrayEquals(new int[] {104, 105}, t.encode("hi"));            // 'h' = 0x68, 'i' = 0x69
        assertArrayEquals(new int[] {0xc3, 0xa9}, t.encode("é"));           // U+00E9 in UTF-8
        String text = "Grüße, 世界! \n\t🙂";
        assertEquals(text, t.decode(t.encode(text), true));
        assertEquals("a<|eos|>b", t.decode(new int[] {97, ByteTokenizer.EOS, 98}, false));
        assertEquals("ab", t.decode(new int[] {97, ByteTokenizer.PAD, 98}, true));
        assertEquals("\uFFFD", t.decode(new int[] {0xc3}, true));           // a cut 2-byte character
        assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {259}, true));
        assertEquals(257, t.eosTokenId());
    }

    /** Byte-level BPE in GPT-2's format: "Ġ" is the byte-level symbol of the space. */
    static final String TINY_BPE = """
            {
              "version": "1.0",
              "truncation": null,
              "padding": null,
              "added_tokens": [
                {"id": 12, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true}
              ],
              "normalizer": null,
              "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
              "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
              "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
              "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
                "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "w": 5, "r": 6, "d": 7,
                          "he": 8, "ll": 9, "hell": 10, "hello": 11, "<|endoftext|>": 12},
                "merges": ["h e", "l l", "he ll", "hell o"]
              }
            }
            """;

    @Test
    void huggingFaceTokenizerJsonLoadsAndRoundTrips(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("tokenizer.json"), TINY_BPE);
        try (Tokenizer t = Tokenizers.forCheckpoint(dir, GptConfig.of(1, 1, 4, 13, 8).withSpecialTokens(12, 12))) {
            assertInstanceOf(HfTokenizer.class, t);
            // "hello" merges fully (h e → he, l l → ll, he ll → hell, hell o → hello); " world" is Ġ w o r l d.
            assertArrayEquals(new int[] {11, 4, 5, 3, 6, 2, 7}, t.encode("hello world"));
            assertEquals("hello world", t.decode(new int[] {11, 4, 5, 3, 6, 2, 7}, true));
            assertEquals(12, t.eosTokenId());
            assertEquals(12, t.padTokenId());
            assertEquals("hello", t.decode(new int[] {11, 12}, true));
        }
    }

    @Test
    void withoutTokenizerJsonTheByteTokenizerNeedsItsVocabulary(@TempDir Path dir) throws Exception {
        try (Tokenizer t = Tokenizers.forCheckpoint(dir, GptConfig.of(1, 1, 4, 300, 8))) {
            assertInstanceOf(ByteTokenizer.class, t);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tokenizers.forCheckpoint(dir, GptConfig.of(1, 1, 4, 100, 8)));
        assertTrue(e.getMessage().contains("vocab_size=100"), e.getMessage());
    }

    @Test
    void brokenTokenizerJsonIsAnIoErrorNamingTheFile(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": 3}");
        Exception e = assertThrows(java.io.IOException.class,
                () -> Tokenizers.forCheckpoint(dir, GptConfig.of(1, 1, 4, 13, 8)));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
    }
}
