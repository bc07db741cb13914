/* The declarations of include/ember.h; the definitions are Swift (Sources/EmberC). */
#include "ember.h"
