// Checkpoint files that fuzz_checkpoint (tests/fuzz) showed to be trouble: each must be
// refused with an r2g2::Error naming the problem, never overflow or crash.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "r2g2/core/checkpoint.h"
#include "r2g2/core/error.h"
#include "temp_dir.h"
#include "test_util.h"

namespace {

using r2g2::test::contains;
using r2g2::test::error_of;

template <class T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

// A checkpoint (core/checkpoint.h layout) around `payload`, with a matching checksum.
std::string checkpoint_file(const std::string& payload) {
  std::string file = "R2G2CKPT";
  put<uint32_t>(file, r2g2::kCheckpointVersion);
  put<uint32_t>(file, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(payload.data()),
                                                  static_cast<uInt>(payload.size()))));
  put<uint64_t>(file, payload.size());
  return file + payload;
}

}  // namespace

TEST_CASE("an empty tensor whose other dimensions multiply beyond int64 is refused") {
  // Shape [0, 2^40, 2^40]: no data, but its strides would overflow int64.
  std::string payload;
  put<uint64_t>(payload, 0);  // metadata entries
  put<uint64_t>(payload, 1);  // tensors
  put<uint32_t>(payload, 1);
  payload += "w";
  put<uint8_t>(payload, 0);  // f32
  put<uint8_t>(payload, 3);
  for (int64_t d : {int64_t{0}, int64_t{1} << 40, int64_t{1} << 40}) put<int64_t>(payload, d);
  put<uint64_t>(payload, 0);  // data bytes
  r2g2::test::TempDir dir;
  const std::string path = dir.file("empty.ckpt");
  std::ofstream(path, std::ios::binary) << checkpoint_file(payload);
  const std::string error = error_of([&] { r2g2::load_checkpoint(path); });
  CHECK(contains(error, "load_checkpoint: '" + path + "' is corrupt: tensor 'w' has dimensions whose product "
                        "exceeds int64 (at byte 71)"));
}
