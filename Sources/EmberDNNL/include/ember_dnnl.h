/*
 * oneDNN, loaded at run time. Ember builds against the oneDNN headers but does not link the
 * library: `ember_dnnl_load` finds it with dlopen, and every call goes through the function
 * pointers it resolved, so Ember runs (without its oneDNN kernels) where the library is missing.
 */
#ifndef EMBER_DNNL_H
#define EMBER_DNNL_H

#include <stddef.h>

/* Loads libdnnl (`path`, or the default name when NULL) and resolves its functions. Returns 0 on
 * success; otherwise writes why into `message` and returns non-zero. Safe to call more than once. */
int ember_dnnl_load(const char *path, char *message, size_t message_size);

#endif
