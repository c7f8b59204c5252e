// safetensors files that fuzz_safetensors (tests/fuzz) showed to be trouble: each must be
// refused by load_module with an r2g2::Error naming the entry and its byte offset, never
// overflow or crash.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "r2g2/core/error.h"
#include "r2g2/layers/linear.h"
#include "r2g2/layers/serialize.h"
#include "temp_dir.h"
#include "test_util.h"

namespace {

using r2g2::test::contains;
using r2g2::test::error_of;

std::string load_error(const std::string& header) {
  std::string file(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(file.data(), &length, 8);
  r2g2::test::TempDir dir;
  const std::string path = dir.file("fuzzed.safetensors");
  std::ofstream(path, std::ios::binary) << file + header;
  r2g2::Linear module(2, 2);
  return error_of([&] { r2g2::load_module(module, path); });
}

}  // namespace

TEST_CASE("an empty tensor whose other dimensions multiply beyond the limit is refused") {
  // Shape [0, 2^40, 2^40]: no data, but its strides would overflow int64.
  const std::string header =
      R"({"param/bias":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})";
  CHECK(contains(load_error(header),
                 "has tensor 'param/bias' with an implausibly large shape [0,1099511627776,1099511627776] "
                 "(at byte 45)"));
}
