// The CLI's JSON: the library's parser and writer over nlohmann-json (store/interop/json.h), which
// the safetensors codec in the library needs too. One copy of the code; this name keeps the CLI's
// includes short.
#pragma once

#include "store/interop/json.h"
