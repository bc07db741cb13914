#include "ember_dnnl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* One pointer per function, typed from the real declaration in <dnnl.h>. */
#define EMBER_DNNL_FUNCTION(ret, name, params, args) static __typeof__(&name) p_##name;
#include "ember_dnnl_functions.def"
#undef EMBER_DNNL_FUNCTION

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static void *library;

/* OpenMP's entry point for a parallel region, where oneDNN was built on OpenMP (Debian's is): the
 * ABI that compilers emit for `#pragma omp parallel`, found among the library's dependencies. */
typedef void (*omp_outlined)(void *data);
static void (*p_GOMP_parallel)(omp_outlined fn, void *data, unsigned num_threads, unsigned flags);

int ember_dnnl_load(const char *path, char *message, size_t message_size) {
    pthread_mutex_lock(&load_lock);
    const char *file = path ? path : "libdnnl.so.2";
    void *handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(message, message_size, "%s", dlerror());
        pthread_mutex_unlock(&load_lock);
        return 1;
    }
    if (library) {
        /* Already loaded: the functions stay those of the first library. */
        dlclose(handle);
        pthread_mutex_unlock(&load_lock);
        return 0;
    }
#define EMBER_DNNL_FUNCTION(ret, name, params, args)                                             \
    p_##name = (__typeof__(&name))dlsym(handle, #name);                                          \
    if (!p_##name) {                                                                             \
        snprintf(message, message_size, "%s has no function %s", file, #name); \
        dlclose(handle);                                                                         \
        pthread_mutex_unlock(&load_lock);                                                        \
        return 2;                                                                                \
    }
#include "ember_dnnl_functions.def"
#undef EMBER_DNNL_FUNCTION
    __atomic_store_n(&p_GOMP_parallel, dlsym(handle, "GOMP_parallel"), __ATOMIC_RELEASE);
    library = handle;
    pthread_mutex_unlock(&load_lock);
    return 0;
}

#define EMBER_DNNL_FUNCTION(ret, name, params, args) \
    ret ember_##name params { return p_##name args; }
#include "ember_dnnl_functions.def"
#undef EMBER_DNNL_FUNCTION

struct parallel_call {
    void (*body)(void *context, int index);
    void *context;
    int count;
    int next;
};

/* Each thread of the team takes the next index not yet taken until none is left, rather than a
 * share fixed by its thread number: a thread the host holds up (or a team smaller than asked,
 * inside another parallel region) leaves its indices to the others instead of delaying them. */
static void parallel_part(void *data) {
    struct parallel_call *call = data;
    for (int index; (index = __atomic_fetch_add(&call->next, 1, __ATOMIC_RELAXED)) < call->count;) {
        call->body(call->context, index);
    }
}

int ember_dnnl_parallel(int count, void (*body)(void *context, int index), void *context) {
    void (*parallel)(omp_outlined, void *, unsigned, unsigned) = __atomic_load_n(&p_GOMP_parallel, __ATOMIC_ACQUIRE);
    if (!parallel) return 1;
    struct parallel_call call = {body, context, count, 0};
    parallel(parallel_part, &call, (unsigned)count, 0);
    return 0;
}
