/*
 * oneDNN, loaded at run time. Ember builds against the oneDNN headers but does not link the
 * library: `ember_dnnl_load` finds it with dlopen, and every call goes through the function
 * pointers it resolved, so Ember runs (without its oneDNN kernels) where the library is missing.
 *
 * For each oneDNN function `dnnl_X` that Ember uses (the list is ember_dnnl_functions.def) there
 * is a wrapper `ember_dnnl_X` with the same signature. Call wrappers only after a successful load.
 */
#ifndef EMBER_DNNL_H
#define EMBER_DNNL_H

#include <stddef.h>
#include <dnnl.h>

/* Loads libdnnl (`path`, or "libdnnl.so.2" when NULL) and resolves its functions. Returns 0 on
 * success; otherwise writes why into `message` and returns non-zero. Once a load has succeeded,
 * later calls only check that `path` opens; the functions stay the first library's. Thread-safe. */
int ember_dnnl_load(const char *path, char *message, size_t message_size);

#define EMBER_DNNL_FUNCTION(ret, name, params, args) ret ember_##name params;
#include "ember_dnnl_functions.def"
#undef EMBER_DNNL_FUNCTION

#endif
