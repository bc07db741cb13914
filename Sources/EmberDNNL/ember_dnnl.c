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
    library = handle;
    pthread_mutex_unlock(&load_lock);
    return 0;
}

#define EMBER_DNNL_FUNCTION(ret, name, params, args) \
    ret ember_##name params { return p_##name args; }
#include "ember_dnnl_functions.def"
#undef EMBER_DNNL_FUNCTION
