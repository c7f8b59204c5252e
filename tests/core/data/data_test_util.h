#pragma once
// Scratch folders and raw file helpers for the data-loading tests.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "r2g2/core/data/data_file.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/runtime/hash.h"
#include "temp_dir.h"

namespace r2g2::test {

inline void write_raw(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip = false) {
  r2g2::data::write_bytes(path, {bytes}, gzip);
}

inline std::vector<uint8_t> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Deterministic bytes (xorshift), so that gzip cannot shrink them much.
inline std::vector<uint8_t> noise_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  Xorshift64 stream(seed, 1);
  for (auto& b : v) b = static_cast<uint8_t>(stream.next() >> 32);
  return v;
}

// A big-endian IDX header for u8 data (or any type code) with the given sizes.
inline std::vector<uint8_t> idx_header(const std::vector<uint32_t>& dims, uint8_t type = 0x08) {
  std::vector<uint8_t> h = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) h.push_back(static_cast<uint8_t>(d >> shift));
  return h;
}

inline std::vector<uint8_t> concat_bytes(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The message of the r2g2::Error that f throws ("" and a failed check if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const r2g2::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected r2g2::Error, got another exception: " << e.what());
    return "";
  }
  FAIL("expected an r2g2::Error, nothing was thrown");
  return "";
}

}  // namespace r2g2::test
