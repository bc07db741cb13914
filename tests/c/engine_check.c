/* Exercises include/ember.h: loads an engine with one f32 input of shape [batch, N] and one f32
 * output, runs it on deterministic inputs from one thread and then from eight at once, checks
 * that every threaded result equals the sequential one bit for bit, checks the error paths, and
 * prints the first sequential output so the caller can compare it with `ember run`.
 *
 *   engine_check ENGINE BATCH OUTPUT.raw
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember.h"

#define THREADS 8

static const ember_engine *engine;
static int64_t batch, width;
static size_t out_bytes;
static float *expected[THREADS];

static void fill(float *x, int seed) {
    for (int64_t i = 0; i < batch * width; i++) x[i] = (float)((i * 7 + seed * 13) % 29) / 7.0f - 2.0f;
}

static int run(int seed, float *out) {
    float *x = malloc(sizeof(float) * batch * width);
    fill(x, seed);
    int64_t dims[2] = {batch, width};
    ember_engine_input_info(engine, 0, &(ember_tensor_info){0});
    ember_tensor_info info;
    ember_engine_input_info(engine, 0, &info);
    ember_tensor input = {info.name, EMBER_F32, 2, dims, x, sizeof(float) * batch * width};
    int64_t out_dims[EMBER_MAX_RANK];
    ember_tensor output = {NULL, 0, 0, out_dims, out, out_bytes};
    int status = ember_engine_run(engine, &input, 1, &output, 1);
    free(x);
    return status;
}

static void *worker(void *arg) {
    int seed = (int)(intptr_t)arg;
    float *out = malloc(out_bytes);
    for (int round = 0; round < 20; round++) {
        if (run(seed, out) != 0 || memcmp(out, expected[seed], out_bytes) != 0) {
            fprintf(stderr, "thread %d round %d differs from the sequential run: %s\n", seed, round, ember_last_error());
            exit(1);
        }
    }
    free(out);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: engine_check ENGINE BATCH OUTPUT.raw\n"); return 2; }
    if (ember_engine_load("/no/such/engine") != NULL || strstr(ember_last_error(), "/no/such/engine") == NULL) {
        fprintf(stderr, "loading a missing engine did not fail with its path in the message\n");
        return 1;
    }
    engine = ember_engine_load(argv[1]);
    if (!engine) { fprintf(stderr, "load failed: %s\n", ember_last_error()); return 1; }
    ember_tensor_info in, out;
    if (ember_engine_input_count(engine) != 1 || ember_engine_input_info(engine, 0, &in) != 0 ||
        ember_engine_output_info(engine, 0, &out) != 0 || in.rank != 2) {
        fprintf(stderr, "unexpected engine interface: %s\n", ember_last_error());
        return 1;
    }
    printf("ember %s, input %s [%s, %lld], output %s\n", ember_version(), in.name,
           in.dim_names[0] ? in.dim_names[0] : "?", (long long)in.dims[1], out.name);
    batch = atoll(argv[2]);
    width = in.dims[1];
    out_bytes = sizeof(float) * batch * width;

    /* Error paths: a too-small output buffer and a wrong input shape fail and say why. */
    float small[1];
    out_bytes = sizeof small;
    if (run(0, small) == 0 || strstr(ember_last_error(), "bytes") == NULL) {
        fprintf(stderr, "a too-small output buffer was not refused\n");
        return 1;
    }
    out_bytes = sizeof(float) * batch * width;
    width += 1;
    float *scratch = malloc(out_bytes + 64);
    if (run(0, scratch) == 0 || strstr(ember_last_error(), in.name) == NULL) {
        fprintf(stderr, "a wrong input shape was not refused: %s\n", ember_last_error());
        return 1;
    }
    width -= 1;
    free(scratch);

    for (int t = 0; t < THREADS; t++) {
        expected[t] = malloc(out_bytes);
        if (run(t, expected[t]) != 0) { fprintf(stderr, "run failed: %s\n", ember_last_error()); return 1; }
    }
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);

    FILE *f = fopen(argv[3], "wb");
    fwrite(expected[0], 1, out_bytes, f);
    fclose(f);
    ember_engine_free((ember_engine *)engine);
    printf("8 threads x 20 runs match the sequential results\n");
    return 0;
}
