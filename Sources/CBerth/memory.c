#include "cberth.h"

#include <malloc.h>

int cberth_malloc_trim(void) {
    return malloc_trim(0);
}
