/* Exercises the compiling half of include/ember.h: checks options and ATen op support, compiles a
 * model file into an engine, saves and reloads it, and runs it into buffers allocated once the
 * output shapes are known. The model has one f32 input [batch, N] and one f32 output.
 *
 *   compile_check MODEL ENGINE BATCH OUTPUT.raw     (writes the output's dims, then its floats)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember.h"

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, ember_last_error() ? ember_last_error() : "(no message)");
    return 1;
}

/* Allocates each output with malloc and remembers its shape. */
typedef struct {
    void *data;
    int32_t rank;
    int64_t dims[EMBER_MAX_RANK];
    size_t byte_size;
    int refuse;
} allocation;

static void *allocate(void *context, int32_t index, const char *name, int32_t dtype, int32_t rank,
                      const int64_t *dims, size_t byte_size) {
    allocation *a = context;
    (void)name;
    if (index != 0 || dtype != EMBER_F32 || a->refuse) return NULL;
    a->rank = rank;
    memcpy(a->dims, dims, sizeof(int64_t) * (size_t)rank);
    a->byte_size = byte_size;
    a->data = malloc(byte_size);
    return a->data;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: compile_check MODEL ENGINE BATCH OUTPUT.raw\n"); return 2; }
    if (ember_check_options("auto", "fp32") != 0 || ember_check_options(NULL, NULL) != 0) return fail("auto fp32 refused");
    if (ember_check_options("tpu", "fp32") == 0 || !strstr(ember_last_error(), "unknown backend 'tpu'"))
        return fail("an unknown backend was accepted");
    if (ember_check_options("auto", "fp7") == 0 || !strstr(ember_last_error(), "unknown precision 'fp7'"))
        return fail("an unknown precision was accepted");
    if (!ember_torch_op_supported("aten.add.Tensor") || !ember_torch_op_supported("torch.ops.aten.relu.default") ||
        !ember_torch_op_supported("aten.add_.Tensor") || ember_torch_op_supported("aten.lstm.input") ||
        ember_torch_op_supported(NULL))
        return fail("ATen op support is wrong");
    if (ember_engine_compile("/no/such/model.pt2", NULL, NULL) != NULL || !strstr(ember_last_error(), "/no/such/model.pt2"))
        return fail("compiling a missing model did not fail with its path in the message");

    ember_engine *compiled = ember_engine_compile(argv[1], "auto", "fp32");
    if (!compiled) return fail("compile failed");
    if (!ember_engine_backend(compiled) || ember_engine_save(compiled, argv[2]) != 0) return fail("save failed");
    ember_engine_free(compiled);
    ember_engine *engine = ember_engine_load(argv[2]);
    if (!engine) return fail("reload failed");
    printf("backend %s\n", ember_engine_backend(engine));

    ember_tensor_info in;
    if (ember_engine_input_info(engine, 0, &in) != 0 || in.rank != 2) return fail("unexpected input");
    int64_t batch = atoll(argv[3]), width = in.dims[1];
    float *x = malloc(sizeof(float) * (size_t)(batch * width));
    for (int64_t i = 0; i < batch * width; i++) x[i] = (float)((i * 7) % 29) / 7.0f - 2.0f;
    int64_t dims[2] = {batch, width};
    ember_tensor input = {in.name, EMBER_F32, 2, dims, x, sizeof(float) * (size_t)(batch * width)};

    allocation refused = {.refuse = 1};
    if (ember_engine_run_allocating(engine, &input, 1, allocate, &refused) == 0 || !strstr(ember_last_error(), "allocator"))
        return fail("a refused allocation did not fail the run");
    if (ember_engine_run_allocating(engine, &input, 1, NULL, NULL) == 0) return fail("a NULL allocator was accepted");

    allocation out = {0};
    if (ember_engine_run_allocating(engine, &input, 1, allocate, &out) != 0) return fail("run failed");
    FILE *f = fopen(argv[4], "wb");
    fwrite(&out.rank, sizeof out.rank, 1, f);
    fwrite(out.dims, sizeof(int64_t), (size_t)out.rank, f);
    fwrite(out.data, 1, out.byte_size, f);
    fclose(f);
    free(out.data);
    free(x);
    ember_engine_free(engine);
    printf("compiled, saved, reloaded and ran\n");
    return 0;
}
