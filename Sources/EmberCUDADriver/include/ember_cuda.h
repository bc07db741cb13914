/*
 * The CUDA driver API, NVRTC, cuBLASLt and cuDNN, loaded at run time.
 *
 * Ember is built where no CUDA headers exist, so this header declares the small, stable part of
 * each library's C ABI that Ember uses: opaque handles as pointers, enums as int. The
 * `ember_cuda_load_*` functions find a library with dlopen and resolve its functions; every call
 * then goes through `ember_NAME`, which returns EMBER_CUDA_NOT_LOADED when the library (or that
 * function) is missing instead of crashing.
 */
#ifndef EMBER_CUDA_H
#define EMBER_CUDA_H

#include <stddef.h>
#include <stdint.h>

/* Returned by every wrapper whose library or function was not loaded. No library uses -1. */
#define EMBER_CUDA_NOT_LOADED (-1)

/* ---- CUDA driver API (libcuda.so.1) ---- */
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;

/* CUstreamCaptureMode: only the capturing thread's calls are checked for safety. */
#define EMBER_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL 1

/* The CUdevice_attribute values Ember reads. */
#define EMBER_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16
#define EMBER_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define EMBER_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76
#define EMBER_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN 97
#define EMBER_CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE 38
/* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
#define EMBER_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES 8

/* ---- NVRTC (libnvrtc.so.13) ---- */
typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

/* ---- cuBLASLt (libcublasLt.so.13) ---- */
typedef int cublasStatus_t;
typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque *cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque *cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque *cublasLtMatmulPreference_t;

/* An algorithm, as cuBLASLt's heuristics return it (opaque, 64 bytes). */
typedef struct {
    uint64_t data[8];
} cublasLtMatmulAlgo_t;

typedef struct {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
} cublasLtMatmulHeuristicResult_t;

/* cudaDataType_t, cublasComputeType_t and the attribute enums Ember sets. */
#define EMBER_CUDA_R_32F 0
#define EMBER_CUDA_R_16F 2
#define EMBER_CUDA_R_16BF 14
#define EMBER_CUBLAS_COMPUTE_32F 68
#define EMBER_CUBLAS_COMPUTE_32F_FAST_TF32 77
#define EMBER_CUBLASLT_MATMUL_DESC_TRANSA 3
#define EMBER_CUBLASLT_MATMUL_DESC_TRANSB 4
#define EMBER_CUBLASLT_MATMUL_DESC_EPILOGUE 7
#define EMBER_CUBLASLT_MATMUL_DESC_BIAS_POINTER 8
#define EMBER_CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE 26
#define EMBER_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT 5
#define EMBER_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET 6
#define EMBER_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES 1
#define EMBER_CUBLASLT_EPILOGUE_DEFAULT 1
#define EMBER_CUBLASLT_EPILOGUE_RELU 2
#define EMBER_CUBLASLT_EPILOGUE_BIAS 4
#define EMBER_CUBLASLT_EPILOGUE_RELU_BIAS 6
#define EMBER_CUBLASLT_EPILOGUE_GELU 32
#define EMBER_CUBLASLT_EPILOGUE_GELU_BIAS 36

/* ---- cuDNN (libcudnn.so.9) ---- */
typedef int cudnnStatus_t;
typedef struct cudnnContext *cudnnHandle_t;
/* Every object of cuDNN's backend (graph) API: tensors, operations, graphs, plans. */
typedef void *cudnnBackendDescriptor_t;

/*
 * The backend API's enums, as cudnn_graph.h of cuDNN 9 numbers them (the values are stable across
 * 9.x; enums are passed as 4-byte ints, booleans as 1-byte bools).
 */
/* cudnnBackendDescriptorType_t */
#define EMBER_CUDNN_BACKEND_POINTWISE_DESCRIPTOR 0
#define EMBER_CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR 1
#define EMBER_CUDNN_BACKEND_ENGINE_DESCRIPTOR 2
#define EMBER_CUDNN_BACKEND_ENGINECFG_DESCRIPTOR 3
#define EMBER_CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR 4
#define EMBER_CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR 5
#define EMBER_CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR 10
#define EMBER_CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR 13
#define EMBER_CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR 15
#define EMBER_CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR 16
#define EMBER_CUDNN_BACKEND_TENSOR_DESCRIPTOR 17
/* cudnnBackendAttributeType_t */
#define EMBER_CUDNN_TYPE_HANDLE 0
#define EMBER_CUDNN_TYPE_DATA_TYPE 1
#define EMBER_CUDNN_TYPE_BOOLEAN 2
#define EMBER_CUDNN_TYPE_INT64 3
#define EMBER_CUDNN_TYPE_FLOAT 4
#define EMBER_CUDNN_TYPE_VOID_PTR 6
#define EMBER_CUDNN_TYPE_CONVOLUTION_MODE 7
#define EMBER_CUDNN_TYPE_HEUR_MODE 8
#define EMBER_CUDNN_TYPE_NUMERICAL_NOTE 11
#define EMBER_CUDNN_TYPE_POINTWISE_MODE 14
#define EMBER_CUDNN_TYPE_BACKEND_DESCRIPTOR 15
/* cudnnBackendAttributeName_t */
#define EMBER_CUDNN_ATTR_POINTWISE_MODE 0
#define EMBER_CUDNN_ATTR_POINTWISE_MATH_PREC 1
#define EMBER_CUDNN_ATTR_CONVOLUTION_COMP_TYPE 100
#define EMBER_CUDNN_ATTR_CONVOLUTION_CONV_MODE 101
#define EMBER_CUDNN_ATTR_CONVOLUTION_DILATIONS 102
#define EMBER_CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES 103
#define EMBER_CUDNN_ATTR_CONVOLUTION_POST_PADDINGS 104
#define EMBER_CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS 105
#define EMBER_CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS 106
#define EMBER_CUDNN_ATTR_ENGINEHEUR_MODE 200
#define EMBER_CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH 201
#define EMBER_CUDNN_ATTR_ENGINEHEUR_RESULTS 202
#define EMBER_CUDNN_ATTR_ENGINECFG_ENGINE 300
#define EMBER_CUDNN_ATTR_EXECUTION_PLAN_HANDLE 400
#define EMBER_CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG 401
#define EMBER_CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE 402
#define EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA 700
#define EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA 701
#define EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC 702
#define EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W 703
#define EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X 704
#define EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y 705
#define EMBER_CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR 750
#define EMBER_CUDNN_ATTR_OPERATION_POINTWISE_XDESC 751
#define EMBER_CUDNN_ATTR_OPERATION_POINTWISE_BDESC 752
#define EMBER_CUDNN_ATTR_OPERATION_POINTWISE_YDESC 753
#define EMBER_CUDNN_ATTR_OPERATIONGRAPH_HANDLE 800
#define EMBER_CUDNN_ATTR_OPERATIONGRAPH_OPS 801
#define EMBER_CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT 900
#define EMBER_CUDNN_ATTR_TENSOR_DATA_TYPE 901
#define EMBER_CUDNN_ATTR_TENSOR_DIMENSIONS 902
#define EMBER_CUDNN_ATTR_TENSOR_STRIDES 903
#define EMBER_CUDNN_ATTR_TENSOR_UNIQUE_ID 906
#define EMBER_CUDNN_ATTR_TENSOR_IS_VIRTUAL 907
#define EMBER_CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS 1000
#define EMBER_CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS 1001
#define EMBER_CUDNN_ATTR_VARIANT_PACK_WORKSPACE 1003
#define EMBER_CUDNN_ATTR_ENGINE_GLOBAL_INDEX 1301
#define EMBER_CUDNN_ATTR_ENGINE_NUMERICAL_NOTE 1303
/* cudnnDataType_t */
#define EMBER_CUDNN_DATA_FLOAT 0
#define EMBER_CUDNN_DATA_HALF 2
#define EMBER_CUDNN_DATA_BFLOAT16 9
/* cudnnConvolutionMode_t: cross-correlation is what deep learning calls convolution. */
#define EMBER_CUDNN_CROSS_CORRELATION 1
/* cudnnPointwiseMode_t */
#define EMBER_CUDNN_POINTWISE_ADD 0
#define EMBER_CUDNN_POINTWISE_RELU_FWD 100
/* cudnnBackendHeurMode_t */
#define EMBER_CUDNN_HEUR_MODE_FALLBACK 2
#define EMBER_CUDNN_HEUR_MODE_A 3
/* cudnnBackendNumericalNote_t */
#define EMBER_CUDNN_NUMERICAL_NOTE_TENSOR_CORE 0
#define EMBER_CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS 1
#define EMBER_CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION 2

/*
 * Each library's functions as X(return type, name, parameters, arguments). The symbol looked up is
 * NAME; the wrapper Swift calls is ember_NAME with the same parameters.
 */
#define EMBER_CUDA_DRIVER_FUNCTIONS(X) \
    X(CUresult, cuInit, (unsigned int flags), (flags)) \
    X(CUresult, cuDriverGetVersion, (int *version), (version)) \
    X(CUresult, cuDeviceGetCount, (int *count), (count)) \
    X(CUresult, cuDeviceGet, (CUdevice *device, int ordinal), (device, ordinal)) \
    X(CUresult, cuDeviceGetName, (char *name, int length, CUdevice device), (name, length, device)) \
    X(CUresult, cuDeviceGetAttribute, (int *value, int attribute, CUdevice device), (value, attribute, device)) \
    X(CUresult, cuDeviceTotalMem_v2, (size_t *bytes, CUdevice device), (bytes, device)) \
    X(CUresult, cuDevicePrimaryCtxRetain, (CUcontext *context, CUdevice device), (context, device)) \
    X(CUresult, cuDevicePrimaryCtxRelease_v2, (CUdevice device), (device)) \
    X(CUresult, cuCtxSetCurrent, (CUcontext context), (context)) \
    X(CUresult, cuCtxSynchronize, (void), ()) \
    X(CUresult, cuMemGetInfo_v2, (size_t *free, size_t *total), (free, total)) \
    X(CUresult, cuMemAlloc_v2, (CUdeviceptr *pointer, size_t bytes), (pointer, bytes)) \
    X(CUresult, cuMemFree_v2, (CUdeviceptr pointer), (pointer)) \
    X(CUresult, cuMemcpyHtoD_v2, (CUdeviceptr dst, const void *src, size_t bytes), (dst, src, bytes)) \
    X(CUresult, cuMemcpyDtoH_v2, (void *dst, CUdeviceptr src, size_t bytes), (dst, src, bytes)) \
    X(CUresult, cuMemcpyDtoD_v2, (CUdeviceptr dst, CUdeviceptr src, size_t bytes), (dst, src, bytes)) \
    X(CUresult, cuMemcpyDtoDAsync_v2, (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream), \
      (dst, src, bytes, stream)) \
    X(CUresult, cuMemsetD32_v2, (CUdeviceptr dst, unsigned int value, size_t count), (dst, value, count)) \
    X(CUresult, cuStreamCreate, (CUstream *stream, unsigned int flags), (stream, flags)) \
    X(CUresult, cuStreamDestroy_v2, (CUstream stream), (stream)) \
    X(CUresult, cuStreamSynchronize, (CUstream stream), (stream)) \
    X(CUresult, cuEventCreate, (CUevent *event, unsigned int flags), (event, flags)) \
    X(CUresult, cuEventDestroy_v2, (CUevent event), (event)) \
    X(CUresult, cuEventRecord, (CUevent event, CUstream stream), (event, stream)) \
    X(CUresult, cuEventSynchronize, (CUevent event), (event)) \
    X(CUresult, cuEventElapsedTime, (float *milliseconds, CUevent start, CUevent end), (milliseconds, start, end)) \
    X(CUresult, cuModuleLoadData, (CUmodule *module, const void *image), (module, image)) \
    X(CUresult, cuModuleUnload, (CUmodule module), (module)) \
    X(CUresult, cuModuleGetFunction, (CUfunction *function, CUmodule module, const char *name), (function, module, name)) \
    X(CUresult, cuFuncSetAttribute, (CUfunction function, int attribute, int value), (function, attribute, value)) \
    X(CUresult, cuLaunchKernel, \
      (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, \
       unsigned int bz, unsigned int shared, CUstream stream, void **params, void **extra), \
      (f, gx, gy, gz, bx, by, bz, shared, stream, params, extra)) \
    X(CUresult, cuStreamBeginCapture_v2, (CUstream stream, int mode), (stream, mode)) \
    X(CUresult, cuStreamEndCapture, (CUstream stream, CUgraph *graph), (stream, graph)) \
    X(CUresult, cuGraphInstantiateWithFlags, (CUgraphExec *exec, CUgraph graph, unsigned long long flags), \
      (exec, graph, flags)) \
    X(CUresult, cuGraphLaunch, (CUgraphExec exec, CUstream stream), (exec, stream)) \
    X(CUresult, cuGraphExecDestroy, (CUgraphExec exec), (exec)) \
    X(CUresult, cuGraphDestroy, (CUgraph graph), (graph)) \
    X(CUresult, cuGetErrorName, (CUresult error, const char **name), (error, name)) \
    X(CUresult, cuGetErrorString, (CUresult error, const char **text), (error, text))

#define EMBER_NVRTC_FUNCTIONS(X) \
    X(nvrtcResult, nvrtcVersion, (int *major, int *minor), (major, minor)) \
    X(nvrtcResult, nvrtcCreateProgram, \
      (nvrtcProgram *program, const char *source, const char *name, int headerCount, \
       const char *const *headers, const char *const *includeNames), \
      (program, source, name, headerCount, headers, includeNames)) \
    X(nvrtcResult, nvrtcCompileProgram, (nvrtcProgram program, int optionCount, const char *const *options), \
      (program, optionCount, options)) \
    X(nvrtcResult, nvrtcGetCUBINSize, (nvrtcProgram program, size_t *size), (program, size)) \
    X(nvrtcResult, nvrtcGetCUBIN, (nvrtcProgram program, char *cubin), (program, cubin)) \
    X(nvrtcResult, nvrtcGetProgramLogSize, (nvrtcProgram program, size_t *size), (program, size)) \
    X(nvrtcResult, nvrtcGetProgramLog, (nvrtcProgram program, char *log), (program, log)) \
    X(nvrtcResult, nvrtcDestroyProgram, (nvrtcProgram *program), (program))

#define EMBER_CUBLASLT_FUNCTIONS(X) \
    X(cublasStatus_t, cublasLtCreate, (cublasLtHandle_t *handle), (handle)) \
    X(cublasStatus_t, cublasLtDestroy, (cublasLtHandle_t handle), (handle)) \
    X(cublasStatus_t, cublasLtMatmulDescCreate, (cublasLtMatmulDesc_t *desc, int computeType, int scaleType), \
      (desc, computeType, scaleType)) \
    X(cublasStatus_t, cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t desc), (desc)) \
    X(cublasStatus_t, cublasLtMatmulDescSetAttribute, \
      (cublasLtMatmulDesc_t desc, int attribute, const void *value, size_t size), (desc, attribute, value, size)) \
    X(cublasStatus_t, cublasLtMatrixLayoutCreate, \
      (cublasLtMatrixLayout_t *layout, int type, uint64_t rows, uint64_t cols, int64_t ld), \
      (layout, type, rows, cols, ld)) \
    X(cublasStatus_t, cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t layout), (layout)) \
    X(cublasStatus_t, cublasLtMatrixLayoutSetAttribute, \
      (cublasLtMatrixLayout_t layout, int attribute, const void *value, size_t size), \
      (layout, attribute, value, size)) \
    X(cublasStatus_t, cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t *preference), (preference)) \
    X(cublasStatus_t, cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t preference), (preference)) \
    X(cublasStatus_t, cublasLtMatmulPreferenceSetAttribute, \
      (cublasLtMatmulPreference_t preference, int attribute, const void *value, size_t size), \
      (preference, attribute, value, size)) \
    X(cublasStatus_t, cublasLtMatmulAlgoGetHeuristic, \
      (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, \
       cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t preference, int requested, \
       cublasLtMatmulHeuristicResult_t *results, int *returned), \
      (handle, desc, a, b, c, d, preference, requested, results, returned)) \
    X(cublasStatus_t, cublasLtMatmul, \
      (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void *alpha, const void *a, \
       cublasLtMatrixLayout_t aLayout, const void *b, cublasLtMatrixLayout_t bLayout, const void *beta, \
       const void *c, cublasLtMatrixLayout_t cLayout, void *d, cublasLtMatrixLayout_t dLayout, \
       const cublasLtMatmulAlgo_t *algo, void *workspace, size_t workspaceSize, CUstream stream), \
      (handle, desc, alpha, a, aLayout, b, bLayout, beta, c, cLayout, d, dLayout, algo, workspace, \
       workspaceSize, stream))

#define EMBER_CUDNN_FUNCTIONS(X) \
    X(cudnnStatus_t, cudnnCreate, (cudnnHandle_t *handle), (handle)) \
    X(cudnnStatus_t, cudnnDestroy, (cudnnHandle_t handle), (handle)) \
    X(cudnnStatus_t, cudnnSetStream, (cudnnHandle_t handle, CUstream stream), (handle, stream)) \
    X(cudnnStatus_t, cudnnBackendCreateDescriptor, (int type, cudnnBackendDescriptor_t *descriptor), \
      (type, descriptor)) \
    X(cudnnStatus_t, cudnnBackendDestroyDescriptor, (cudnnBackendDescriptor_t descriptor), (descriptor)) \
    X(cudnnStatus_t, cudnnBackendFinalize, (cudnnBackendDescriptor_t descriptor), (descriptor)) \
    X(cudnnStatus_t, cudnnBackendSetAttribute, \
      (cudnnBackendDescriptor_t descriptor, int name, int type, int64_t count, const void *elements), \
      (descriptor, name, type, count, elements)) \
    X(cudnnStatus_t, cudnnBackendGetAttribute, \
      (cudnnBackendDescriptor_t descriptor, int name, int type, int64_t requested, int64_t *count, void *elements), \
      (descriptor, name, type, requested, count, elements)) \
    X(cudnnStatus_t, cudnnBackendExecute, \
      (cudnnHandle_t handle, cudnnBackendDescriptor_t plan, cudnnBackendDescriptor_t variantPack), \
      (handle, plan, variantPack))

#define EMBER_CUDA_DECLARE_WRAPPER(ret, name, params, args) ret ember_##name params;
EMBER_CUDA_DRIVER_FUNCTIONS(EMBER_CUDA_DECLARE_WRAPPER)
EMBER_NVRTC_FUNCTIONS(EMBER_CUDA_DECLARE_WRAPPER)
EMBER_CUBLASLT_FUNCTIONS(EMBER_CUDA_DECLARE_WRAPPER)
EMBER_CUDNN_FUNCTIONS(EMBER_CUDA_DECLARE_WRAPPER)
#undef EMBER_CUDA_DECLARE_WRAPPER

/* Version and message functions, which return values rather than a status: 0 or NULL when the
 * library is not loaded. */
const char *ember_nvrtcGetErrorString(nvrtcResult result);
size_t ember_cublasLtGetVersion(void);
const char *ember_cublasLtGetStatusString(cublasStatus_t status);
size_t ember_cudnnGetVersion(void);
const char *ember_cudnnGetErrorString(cudnnStatus_t status);
/* cuDNN's account of the last failure on this thread (cuDNN 9); writes "" when unavailable. */
void ember_cudnnGetLastErrorString(char *message, size_t size);

/*
 * Each loads one library (`path`, or its usual soname when NULL) and resolves its functions.
 * Returns 0 on success; otherwise writes which library or symbol failed, and why, into `message`
 * and returns non-zero. Not thread-safe: Ember calls each once, from a lazily initialized global.
 */
int ember_cuda_load_driver(const char *path, char *message, size_t message_size);
int ember_cuda_load_nvrtc(const char *path, char *message, size_t message_size);
int ember_cuda_load_cublaslt(const char *path, char *message, size_t message_size);
int ember_cuda_load_cudnn(const char *path, char *message, size_t message_size);

#endif
