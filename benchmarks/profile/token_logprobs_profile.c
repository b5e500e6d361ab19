/*
 * token_logprobs_profile.c — a minimal driver of the native token_logprobs forward for instruction-count profiles
 * (valgrind --tool=callgrind counts instructions, which is repeatable on a shared machine; hardware counters are
 * not available on the development VMs). Usage:
 *   gcc -O2 -I native/include benchmarks/profile/token_logprobs_profile.c -o /tmp/tlp \
 *       -L java/target/classes/native/linux-x86_64 -lppo_native -Wl,-rpath,$PWD/java/target/classes/native/linux-x86_64
 *   valgrind --tool=callgrind /tmp/tlp 256 32000 1      # rows, vocab, threads
 */
#include <stdio.h>
#include <stdlib.h>
#include "ppo_kernels.h"

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 256, v = argc > 2 ? atoll(argv[2]) : 32000;
    ppo_cpu_ctx ctx = {argc > 3 ? atoi(argv[3]) : 1, 0};
    float *logits = malloc(sizeof(float) * n * v);
    int32_t *labels = malloc(sizeof(int32_t) * n);
    float *lp = malloc(sizeof(float) * n), *ent = malloc(sizeof(float) * n), *saved = malloc(sizeof(float) * n * 3);
    unsigned s = 12345;
    for (int64_t i = 0; i < n * v; i++) { s = s * 1103515245u + 12345u; logits[i] = (float)((s >> 8) & 0xffff) / 8192.0f - 4.0f; }
    for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)((i * 7919) % v);
    int st = token_logprobs(&ctx, logits, PPO_F32, n, v, v, labels, PPO_I32, 1.0, PPO_ENTROPY_SCALED, lp, ent, saved);
    if (st != PPO_OK) { fprintf(stderr, "status %d: %s\n", st, ppo_last_error()); return 1; }
    printf("logprob[0] %.6f entropy[0] %.6f\n", lp[0], ent[0]);
    return 0;
}
