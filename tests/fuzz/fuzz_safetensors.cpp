// save_module's safetensors files, loaded into a small Linear layer with Adam and one
// generator, strictly and not. Each input is read as it is, then with its
// "module/data_crc32" entry (when present) rewritten to the CRC-32 of its data section,
// so that the fuzzer gets past the checksum to the plan that matches file and module.
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "r2g2/core/optim.h"
#include "r2g2/layers/linear.h"
#include "r2g2/layers/serialize.h"

namespace {

std::vector<uint8_t> with_matching_checksum(const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(data, data + size);
  if (size < 8) return file;
  uint64_t header_bytes;
  std::memcpy(&header_bytes, data, 8);
  if (header_bytes > size - 8) return file;
  const std::string header(reinterpret_cast<const char*>(data) + 8, header_bytes);
  const std::string key = "\"module/data_crc32\":\"";
  const size_t at = header.find(key);
  if (at == std::string::npos || at + key.size() + 8 > header.size()) return file;
  const uint8_t* section = data + 8 + header_bytes;
  const auto crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), section, static_cast<uInt>(size - 8 - header_bytes)));
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc);
  std::memcpy(file.data() + 8 + at + key.size(), hex, 8);
  return file;
}

void load(const std::string& path) {
  static r2g2::Linear module(2, 2);
  static r2g2::Adam adam(module.parameters(), {.lr = 0.01});
  static r2g2::Generator noise;
  for (bool strict : {true, false})
    r2g2::fuzz::expect_read_or_error([&] {
      r2g2::TrainingState state{.optimizer = &adam, .generators = {{"noise", &noise}}};
      r2g2::load_module(module, path, state, {.strict = strict});
    });
  r2g2::fuzz::expect_read_or_error([&] { r2g2::load_module(module, path); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load(r2g2::fuzz::write_scratch({data, size}));
  const std::vector<uint8_t> fixed = with_matching_checksum(data, size);
  if (!std::equal(fixed.begin(), fixed.end(), data)) load(r2g2::fuzz::write_scratch(fixed));
  return 0;
}
