// The CLI's JSON: the library's own parser and writer (store/interop/json.h), which the safetensors
// codec in the library needs too. One copy of the code; this name keeps the CLI's includes short.
#pragma once

#include "store/interop/json.h"
