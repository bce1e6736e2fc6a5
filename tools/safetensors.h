// The safetensors codec the CLI and its tests use: the library's own (store/interop/), which
// Store users reach through ckptdb/safetensors.h.
#pragma once

#include "store/interop/safetensors_file.h"
#include "store/interop/safetensors_writer.h"
