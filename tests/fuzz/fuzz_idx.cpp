// IDX files as they arrive on disk, plain or (when the bytes start with 1f 8b) gzip: the
// header alone, then the whole array.
#include "fuzz_util.h"
#include "r2g2/core/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r2g2::data;
  const std::string& path = r2g2::fuzz::write_scratch({data, size});
  r2g2::fuzz::expect_read_or_error([&] { read_idx_header(path); });
  // The magic a caller requires (none, labels, images): picked by the input, so that one
  // read per input covers all three.
  const uint32_t magics[] = {0, kIdxLabelsMagic, kIdxImagesMagic};
  const uint32_t magic = magics[size % 3];
  r2g2::fuzz::expect_read_or_error([&] {
    IdxArray array = read_idx(path, magic);
    uint64_t elements = 1;
    for (int64_t d : array.dims) elements *= static_cast<uint64_t>(d);
    if (elements != array.data.size()) __builtin_trap();  // dims must describe the data read
  });
  return 0;
}
