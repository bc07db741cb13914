#include "ember_checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t ember_checksum(const void *data, size_t length) { return XXH3_64bits(data, length); }
