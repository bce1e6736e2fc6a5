// ckptdb: the whole public API in one include.
#pragma once

#include "ckptdb/checkpoint.h"
#include "ckptdb/diff.h"
#include "ckptdb/digest.h"
#include "ckptdb/dtype.h"
#include "ckptdb/hf_layout.h"
#include "ckptdb/lineage.h"
#include "ckptdb/options.h"
#include "ckptdb/retention.h"
#include "ckptdb/safetensors.h"
#include "ckptdb/save_handle.h"
#include "ckptdb/status.h"
#include "ckptdb/store.h"
#include "ckptdb/tensor.h"
