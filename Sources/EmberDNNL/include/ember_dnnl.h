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

/* Calls `body(context, index)` once for every index in 0..<count, on a team of up to `count` of
 * the OpenMP threads that oneDNN's own kernels run on, each index on whichever thread takes it
 * first, and returns 0. Returns non-zero, calling nothing, before a successful load or where
 * oneDNN was not built on OpenMP. Thread-safe. */
int ember_dnnl_parallel(int count, void (*body)(void *context, int index), void *context);

#define EMBER_DNNL_FUNCTION(ret, name, params, args) ret ember_##name params;
#include "ember_dnnl_functions.def"
#undef EMBER_DNNL_FUNCTION

#endif
