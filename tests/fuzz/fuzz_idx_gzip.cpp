// IDX content behind gzip: the input is compressed with the library's own writer and
// read, then read again with the compressed stream cut short at a point the input picks,
// so the fuzzer explores IDX headers and payloads through the inflating path and through
// truncated streams. (Corrupt gzip bytes themselves are fuzz_idx's: any input there that
// starts with 1f 8b.)
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz_util.h"
#include "r2g2/core/data/data_file.h"
#include "r2g2/core/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r2g2::data;
  const std::string path = r2g2::fuzz::scratch_path() + ".gz";
  write_bytes(path, {std::span<const uint8_t>(data, size)}, /*gzip=*/true);
  r2g2::fuzz::expect_read_or_error([&] { read_idx(path); });

  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> compressed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::filesystem::remove(path);
  const size_t cut = size == 0 ? 0 : (data[size - 1] * compressed.size()) / 256;
  const std::string& cut_path = r2g2::fuzz::write_scratch({compressed.data(), cut});
  r2g2::fuzz::expect_read_or_error([&] { read_idx(cut_path); });
  r2g2::fuzz::expect_read_or_error([&] { read_idx_header(cut_path); });
  return 0;
}
