/*
 * Ember's C API: compile a model file into an engine, save and load engines, and run them with
 * caller-owned buffers.
 *
 * An engine is immutable and may be run from many threads at once. Every function that can fail
 * returns 0 on success and non-zero on failure; `ember_last_error()` then describes the failure
 * (the message is per thread and stays valid until the thread's next Ember call).
 *
 *     ember_engine *engine = ember_engine_load("model.engine");
 *     if (!engine) { fprintf(stderr, "%s\n", ember_last_error()); return 1; }
 *     int64_t dims[4] = {1, 3, 224, 224};
 *     ember_tensor input = {"image", EMBER_F32, 4, dims, pixels, sizeof pixels};
 *     int64_t out_dims[EMBER_MAX_RANK];
 *     ember_tensor output = {"logits", EMBER_F32, 0, out_dims, logits, sizeof logits};
 *     if (ember_engine_run(engine, &input, 1, &output, 1) != 0) { ... }
 *     ember_engine_free(engine);
 */
#ifndef EMBER_H
#define EMBER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types; the values are ONNX's TensorProto.DataType codes. */
enum {
    EMBER_F32 = 1, EMBER_U8 = 2, EMBER_I8 = 3, EMBER_U16 = 4, EMBER_I16 = 5, EMBER_I32 = 6,
    EMBER_I64 = 7, EMBER_BOOL = 9, EMBER_F16 = 10, EMBER_F64 = 11, EMBER_U32 = 12, EMBER_U64 = 13,
    EMBER_BF16 = 16
};

/* The highest rank a tensor passed through this API may have. */
#define EMBER_MAX_RANK 16

typedef struct ember_engine ember_engine;

/* A tensor in caller-owned memory. For inputs every field is read. For outputs, `name` picks the
 * output (NULL: the output at the same position), `dims` must hold EMBER_MAX_RANK entries and
 * receives the shape, `rank` and `dtype` are written, and `data` must hold `byte_size` bytes. */
typedef struct {
    const char *name;
    int32_t dtype;
    int32_t rank;
    int64_t *dims;
    void *data;
    size_t byte_size;
} ember_tensor;

/* An input or output as the engine declares it. Symbolic dims are -1, with their names in
 * `dim_names` (NULL for known dims). The strings live as long as the engine. */
typedef struct {
    const char *name;
    int32_t dtype;
    int32_t rank;
    const int64_t *dims;
    const char *const *dim_names;
} ember_tensor_info;

const char *ember_version(void);
const char *ember_last_error(void);

/* Loads and checks an engine file; NULL on failure. */
ember_engine *ember_engine_load(const char *path);
void ember_engine_free(ember_engine *engine);

int32_t ember_engine_input_count(const ember_engine *engine);
int32_t ember_engine_output_count(const ember_engine *engine);
int ember_engine_input_info(const ember_engine *engine, int32_t index, ember_tensor_info *info);
int ember_engine_output_info(const ember_engine *engine, int32_t index, ember_tensor_info *info);

/* Runs the engine. Fails without writing anything when an input does not fit the engine or an
 * output buffer is too small (the message says how many bytes it needs). */
int ember_engine_run(const ember_engine *engine, const ember_tensor *inputs, int32_t input_count,
                     ember_tensor *outputs, int32_t output_count);

/* Compiles a model file into an engine: a torch.export archive (.pt2), an ONNX model (.onnx) or
 * Ember text IR, recognized by its contents. `backend` is "auto" (the best backend this machine
 * has), or a backend's name ("reference", ...); `precision` is "fp32". NULL picks "auto" and
 * "fp32". Returns NULL on failure (an unsupported op, a damaged file, an unknown backend). */
ember_engine *ember_engine_compile(const char *model_path, const char *backend, const char *precision);

/* ember_engine_compile with shape profiles: `profiles` lists them as NAME=MIN:OPT:MAX ranges of the
 * model's symbolic input dims joined by commas, profiles separated by semicolons
 * ("batch=1:8:16,seq=16:128:512;batch=1:1:1,seq=16:512:512"); NULL or "" for none. A run whose
 * sizes fit no profile fails unless ember_engine_set_allow_rebuild allowed it. A symbol that is not
 * a symbolic dim of the inputs, MIN <= OPT <= MAX broken, or a range outside the one torch.export
 * recorded fails the compile. */
ember_engine *ember_engine_compile_profiled(const char *model_path, const char *backend, const char *precision,
                                            const char *profiles);

/* The engine's shape profiles in the form ember_engine_compile_profiled takes ("" for none); the
 * string lives as long as the engine. */
const char *ember_engine_profiles(const ember_engine *engine);

/* 1: runs with shapes outside every profile are served (each new shape planned or built on first
 * use); 0 (the default): they fail, naming the profiles. Call it before running the engine. */
int ember_engine_set_allow_rebuild(ember_engine *engine, int allow);

/* Checks a backend and precision as ember_engine_compile would, without compiling anything. */
int ember_check_options(const char *backend, const char *precision);

/* Writes the engine file that ember_engine_load reads (replacing `path` atomically). */
int ember_engine_save(const ember_engine *engine, const char *path);

/* The name of the backend the engine runs on ("reference", ...); it lives as long as the engine. */
const char *ember_engine_backend(const ember_engine *engine);

/* 1 when the .pt2 importer converts the ATen op `target` ("aten.add.Tensor", with or without the
 * "torch.ops." prefix; in-place variants count as their functional form), 0 when it does not.
 * Lets a caller split a program into the parts Ember runs and the parts it leaves alone. */
int ember_torch_op_supported(const char *target);

/* 1 when this machine can run engines for `backend` ("auto", "cpu", "cuda", ...), 0 when it cannot
 * or the name is unknown; ember_last_error() then says why (no GPU, no CUDA driver). */
int ember_backend_available(const char *backend);

/* Where each node of the engine runs, as JSON: {"backend": ..., "nodes": [{"node", "op", "provider",
 * "implementation", "reference", "host", "declined"}, ...]}. "reference" marks a reference kernel
 * (correct but slow), "host" a node a CUDA engine runs on the CPU. The kernels are those chosen
 * for the inputs' shapes (only names and dims are read; data may be NULL); inputs left out take
 * their declared shape, symbolic dims as 1. The string stays valid until the next call of this
 * function on the same thread. NULL on failure. */
const char *ember_engine_placements(const ember_engine *engine, const ember_tensor *inputs, int32_t input_count);

/* Called once for each output (`index` is its position) as soon as its shape is known, which may be
 * before the engine computes it: returns a buffer of `byte_size` bytes for it (NULL fails the run
 * unless `byte_size` is 0). `dims` holds `rank` entries and is valid only during the call. */
typedef void *(*ember_output_allocator)(void *context, int32_t index, const char *name, int32_t dtype,
                                        int32_t rank, const int64_t *dims, size_t byte_size);

/* Runs the engine and lets the caller allocate every output with the shape the engine computed
 * for these inputs, then fills it. Inputs are read where they are (the CPU backend copies
 * nothing); they are checked against the engine first. `context` is passed through to `allocate`. */
int ember_engine_run_allocating(const ember_engine *engine, const ember_tensor *inputs, int32_t input_count,
                                ember_output_allocator allocate, void *context);

/* Runs a CUDA engine on device memory: each input's `data` is a device address (row-major), and
 * `allocate` returns device memory for each output. The copies and the run are queued on `stream`
 * (a CUstream or cudaStream_t, such as PyTorch's current stream; NULL for the legacy default
 * stream), and the call returns once they are done. Fails on engines of other backends. */
int ember_engine_run_device(const ember_engine *engine, const ember_tensor *inputs, int32_t input_count,
                            ember_output_allocator allocate, void *context, void *stream);

#ifdef __cplusplus
}
#endif

#endif
