// core/checkpoint.h files. Each input is read as it is, then with its 24-byte header
// rewritten to match the rest (magic, version, payload length, CRC-32), so that the
// fuzzer reaches the payload decoder behind the checksum.
#include <zlib.h>

#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "r2g2/core/checkpoint.h"

namespace {
constexpr size_t kHeaderBytes = 24;

std::vector<uint8_t> with_matching_header(const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(data, data + size);
  if (file.size() < kHeaderBytes) file.resize(kHeaderBytes);
  const uint8_t* payload = file.data() + kHeaderBytes;
  const uint64_t payload_bytes = file.size() - kHeaderBytes;
  const uint32_t version = r2g2::kCheckpointVersion;
  const auto crc = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), payload, static_cast<uInt>(payload_bytes)));
  std::memcpy(file.data(), "R2G2CKPT", 8);
  std::memcpy(file.data() + 8, &version, 4);
  std::memcpy(file.data() + 12, &crc, 4);
  std::memcpy(file.data() + 16, &payload_bytes, 8);
  return file;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = r2g2::fuzz::write_scratch({data, size});
  r2g2::fuzz::expect_read_or_error([&] { r2g2::load_checkpoint(path); });
  const std::vector<uint8_t> fixed = with_matching_header(data, size);
  r2g2::fuzz::write_scratch(fixed);
  r2g2::fuzz::expect_read_or_error([&] {
    r2g2::Checkpoint ck = r2g2::load_checkpoint(path);
    for (const auto& entry : ck.metadata) {
      // The typed accessors must refuse text that is not a number, not crash on it.
      r2g2::fuzz::expect_read_or_error([&] { ck.get_int(entry.first); });
      r2g2::fuzz::expect_read_or_error([&] { ck.get_uint(entry.first); });
    }
  });
  return 0;
}
