/*
 * The checksum engine files carry: XXH3-64 from xxHash, compiled into Ember from its header, so
 * Ember has no run-time dependency on the library.
 */
#ifndef EMBER_CHECKSUM_H
#define EMBER_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* The XXH3 64-bit hash of `length` bytes at `data`. */
uint64_t ember_checksum(const void *data, size_t length);

#endif
