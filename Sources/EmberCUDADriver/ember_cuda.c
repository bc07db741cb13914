#include "ember_cuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One function pointer per symbol, NULL until its library is loaded. */
#define EMBER_CUDA_POINTER(ret, name, params, args) static ret(*p_##name) params;
EMBER_CUDA_DRIVER_FUNCTIONS(EMBER_CUDA_POINTER)
EMBER_NVRTC_FUNCTIONS(EMBER_CUDA_POINTER)
EMBER_CUBLASLT_FUNCTIONS(EMBER_CUDA_POINTER)
EMBER_CUDNN_FUNCTIONS(EMBER_CUDA_POINTER)
#undef EMBER_CUDA_POINTER

static const char *(*p_nvrtcGetErrorString)(nvrtcResult);
static size_t (*p_cublasLtGetVersion)(void);
static const char *(*p_cublasLtGetStatusString)(cublasStatus_t);
static size_t (*p_cudnnGetVersion)(void);
static const char *(*p_cudnnGetErrorString)(cudnnStatus_t);
static void (*p_cudnnGetLastErrorString)(char *, size_t);

#define EMBER_CUDA_WRAPPER(ret, name, params, args) \
    ret ember_##name params { return p_##name ? p_##name args : EMBER_CUDA_NOT_LOADED; }
EMBER_CUDA_DRIVER_FUNCTIONS(EMBER_CUDA_WRAPPER)
EMBER_NVRTC_FUNCTIONS(EMBER_CUDA_WRAPPER)
EMBER_CUBLASLT_FUNCTIONS(EMBER_CUDA_WRAPPER)
EMBER_CUDNN_FUNCTIONS(EMBER_CUDA_WRAPPER)
#undef EMBER_CUDA_WRAPPER

const char *ember_nvrtcGetErrorString(nvrtcResult result) {
    return p_nvrtcGetErrorString ? p_nvrtcGetErrorString(result) : NULL;
}
size_t ember_cublasLtGetVersion(void) { return p_cublasLtGetVersion ? p_cublasLtGetVersion() : 0; }
const char *ember_cublasLtGetStatusString(cublasStatus_t status) {
    return p_cublasLtGetStatusString ? p_cublasLtGetStatusString(status) : NULL;
}
size_t ember_cudnnGetVersion(void) { return p_cudnnGetVersion ? p_cudnnGetVersion() : 0; }
const char *ember_cudnnGetErrorString(cudnnStatus_t status) {
    return p_cudnnGetErrorString ? p_cudnnGetErrorString(status) : NULL;
}
void ember_cudnnGetLastErrorString(char *message, size_t size) {
    if (size == 0) return;
    message[0] = 0;
    if (p_cudnnGetLastErrorString) p_cudnnGetLastErrorString(message, size);
}

/* dlopen with a message naming the library and dlerror's reason. */
/* Opens `path`, or else `fallback` on the loader's search path and then in each folder of
   EMBER_CUDA_LIBRARY_PATH (colon-separated; pip's NVIDIA wheels keep the libraries there). */
static void *open_library(const char *path, const char *fallback, char *message, size_t size) {
    const char *name = path ? path : fallback;
    void *library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (library) return library;
    const char *reason = dlerror();
    snprintf(message, size, "dlopen(\"%s\") failed: %s", name, reason ? reason : "unknown reason");
    const char *folders = path ? NULL : getenv("EMBER_CUDA_LIBRARY_PATH");
    while (folders && *folders) {
        size_t length = strcspn(folders, ":");
        char candidate[4096];
        if (length > 0 && length + strlen(fallback) + 2 < sizeof candidate) {
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)length, folders, fallback);
            library = dlopen(candidate, RTLD_NOW | RTLD_LOCAL);
            if (library) return library;
        }
        folders += length + (folders[length] == ':');
    }
    return NULL;
}

/* Resolves one symbol into `slot`; writes which one is missing otherwise. */
static int resolve(void *library, const char *library_name, const char *symbol, void **slot, char *message,
                   size_t size) {
    *slot = dlsym(library, symbol);
    if (!*slot) {
        snprintf(message, size, "%s has no symbol %s", library_name, symbol);
        return 1;
    }
    return 0;
}

#define EMBER_CUDA_RESOLVE(ret, name, params, args) \
    if (resolve(library, name_used, #name, (void **)&p_##name, message, message_size)) return 1;

int ember_cuda_load_driver(const char *path, char *message, size_t message_size) {
    const char *name_used = path ? path : "libcuda.so.1";
    void *library = open_library(path, "libcuda.so.1", message, message_size);
    if (!library) return 1;
    EMBER_CUDA_DRIVER_FUNCTIONS(EMBER_CUDA_RESOLVE)
    return 0;
}

int ember_cuda_load_nvrtc(const char *path, char *message, size_t message_size) {
    const char *name_used = path ? path : "libnvrtc.so.13";
    void *library = open_library(path, "libnvrtc.so.13", message, message_size);
    if (!library) return 1;
    EMBER_NVRTC_FUNCTIONS(EMBER_CUDA_RESOLVE)
    if (resolve(library, name_used, "nvrtcGetErrorString", (void **)&p_nvrtcGetErrorString, message, message_size))
        return 1;
    return 0;
}

int ember_cuda_load_cublaslt(const char *path, char *message, size_t message_size) {
    const char *name_used = path ? path : "libcublasLt.so.13";
    void *library = open_library(path, "libcublasLt.so.13", message, message_size);
    if (!library) return 1;
    EMBER_CUBLASLT_FUNCTIONS(EMBER_CUDA_RESOLVE)
    if (resolve(library, name_used, "cublasLtGetVersion", (void **)&p_cublasLtGetVersion, message, message_size))
        return 1;
    /* Only a message; older releases lack it. */
    p_cublasLtGetStatusString = (const char *(*)(cublasStatus_t))dlsym(library, "cublasLtGetStatusString");
    return 0;
}

int ember_cuda_load_cudnn(const char *path, char *message, size_t message_size) {
    const char *name_used = path ? path : "libcudnn.so.9";
    void *library = open_library(path, "libcudnn.so.9", message, message_size);
    if (!library) return 1;
    EMBER_CUDNN_FUNCTIONS(EMBER_CUDA_RESOLVE)
    if (resolve(library, name_used, "cudnnGetVersion", (void **)&p_cudnnGetVersion, message, message_size))
        return 1;
    if (resolve(library, name_used, "cudnnGetErrorString", (void **)&p_cudnnGetErrorString, message, message_size))
        return 1;
    /* Only a message; cuDNN 8 lacks it. */
    p_cudnnGetLastErrorString = (void (*)(char *, size_t))dlsym(library, "cudnnGetLastErrorString");
    return 0;
}
