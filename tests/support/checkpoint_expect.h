// GoogleTest expectations on checkpoint summaries, shared by the suites (header-only: only test
// executables link GoogleTest).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ckptdb/checkpoint.h"

namespace ckptdb::testing {

// Every field of a CheckpointInfo, each reported separately.
inline void ExpectSameInfo(const CheckpointInfo& got, const CheckpointInfo& want) {
  SCOPED_TRACE("checkpoint " + std::to_string(want.id));
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.step, want.step);
  EXPECT_EQ(got.parent, want.parent);
  EXPECT_EQ(got.commit_time_ns, want.commit_time_ns);
  EXPECT_EQ(got.tensor_count, want.tensor_count);
  EXPECT_EQ(got.logical_bytes, want.logical_bytes);
  EXPECT_EQ(got.new_bytes, want.new_bytes);
  EXPECT_EQ(got.tags, want.tags);
  EXPECT_EQ(got.metrics, want.metrics);
}

}  // namespace ckptdb::testing
