#include "cberth.h"
