#pragma once
// IDX files, the format of MNIST and Fashion-MNIST: a big-endian header
//   bytes 0-1: zero, byte 2: element type code, byte 3: number of dimensions d,
//   then d big-endian uint32 sizes, then the elements in row-major order.
// Labels are 0x00000801 (u8 [n]); images 0x00000803 (u8 [n, rows, cols]). Files may be
// plain or gzip; compression is detected from the content. Only u8 elements are read.
//
// Every malformed file (bad magic, unsupported type code, a cut header or payload,
// trailing bytes after the payload, an images/labels count mismatch) is an r2g2::Error
// naming the file and the numbers expected and found. Memory is never sized from the
// header alone: a plain file's size is checked against the header first, and a gzip
// stream is read in chunks that grow only with the data that actually arrives.
#include <cstdint>
#include <string>
#include <vector>

#include "r2g2/core/data/labeled_bytes.h"

namespace r2g2::data {

constexpr uint8_t kIdxU8 = 0x08;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;
constexpr uint32_t kIdxImagesMagic = 0x00000803;

// "unsigned byte", "float32", ... or "unknown" for a code outside the IDX table.
const char* idx_type_name(uint8_t code);
// Bytes per element of a known type code (0 when unknown).
int idx_type_size(uint8_t code);

struct IdxHeader {
  uint8_t type_code = 0;
  std::vector<int64_t> dims;
  bool gzip = false;
  uint64_t file_bytes = 0;    // on disk
  uint64_t header_bytes = 0;  // 4 + 4 * dims
  uint32_t magic() const { return (uint32_t{type_code} << 8) | static_cast<uint32_t>(dims.size()); }
  uint64_t payload_bytes() const;  // elements * element size
};

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // u8 elements, row-major
};

// Reads and validates only the header (and, for a plain file, that the file length
// agrees with it). Works for any known type code so that `r2g2 data info` can describe
// files it cannot load.
IdxHeader read_idx_header(const std::string& path);

// Reads a u8 IDX file. expected_magic = 0 accepts any number of dimensions; otherwise
// the file must carry exactly that magic (kIdxLabelsMagic, kIdxImagesMagic).
IdxArray read_idx(const std::string& path, uint32_t expected_magic = 0);

// Reads an images file and a labels file and checks that their counts agree.
LabeledBytes read_idx_pair(const std::string& images_path, const std::string& labels_path);

// Writes a u8 IDX file (gzip when asked). dims must multiply to data.size().
void write_idx(const std::string& path, const IdxArray& array, bool gzip);
// Writes images [n, rows, cols] and labels [n] (or [n, ...example_dims] in general).
void write_idx_pair(const std::string& images_path, const std::string& labels_path,
                    const LabeledBytes& examples, bool gzip);

}  // namespace r2g2::data
