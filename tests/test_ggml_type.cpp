#include <gtest/gtest.h>

#include "core/error.h"
#include "core/ggml_type.h"

using namespace entropix;

TEST(GgmlType, RowBytesMatchBlockLayout) {
  EXPECT_EQ(ggml_row_bytes(GgmlType::F32, 64), 256u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q8_0, 64), 68u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 512), 288u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q6_K, 256), 210u);
  EXPECT_THROW(ggml_row_bytes(GgmlType::Q8_0, 33), Error);
  EXPECT_FALSE(ggml_type_traits(4).has_value());
}
