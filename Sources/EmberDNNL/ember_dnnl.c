#include "ember_dnnl.h"

#include <dlfcn.h>
#include <stdio.h>

int ember_dnnl_load(const char *path, char *message, size_t message_size) {
    const char *name = path ? path : "libdnnl.so.2";
    void *library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(message, message_size, "%s", dlerror());
        return 1;
    }
    return 0;
}
