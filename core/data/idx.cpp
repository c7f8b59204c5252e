#include "r2g2/core/data/idx.h"

#include <algorithm>
#include <cstdio>

#include "r2g2/core/data/data_file.h"
#include "r2g2/core/error.h"

namespace r2g2::data {

namespace {
// Far above any real IDX file, far below an int64 overflow: a header that multiplies to
// more is rejected before anything is allocated.
constexpr uint64_t kMaxPayload = uint64_t{1} << 40;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}
std::string hex8(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v);
  return buf;
}
std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}
std::string magic_meaning(uint32_t magic) {
  if (magic == kIdxLabelsMagic) return "u8 labels [n]";
  if (magic == kIdxImagesMagic) return "u8 images [n, rows, cols]";
  return detail::concat(idx_type_name(static_cast<uint8_t>(magic >> 8)), ", ", magic & 0xFF, " dimensions");
}

uint32_t big_endian_u32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

IdxHeader parse_header(DataFile& file) {
  const std::string& path = file.path();
  IdxHeader h;
  h.gzip = file.gzip();
  h.file_bytes = file.file_bytes();
  unsigned char magic[4];
  size_t got = file.read(magic, 4);
  R2G2_CHECK(got == 4, path, ": truncated header: an IDX file starts with a 4-byte magic number, found only ",
             got, " bytes", file.stream_error().empty() ? "" : "; " + file.stream_error());
  const uint32_t m = big_endian_u32(magic);
  R2G2_CHECK(magic[0] == 0 && magic[1] == 0, path, ": bad magic ", hex32(m),
             ": an IDX file starts with two zero bytes (not an IDX file?)");
  h.type_code = magic[2];
  R2G2_CHECK(idx_type_size(h.type_code) > 0, path, ": unsupported type code ", hex8(h.type_code),
             " in magic ", hex32(m), ": IDX type codes are 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E");
  const int ndim = magic[3];
  R2G2_CHECK(ndim > 0, path, ": bad magic ", hex32(m), ": zero dimensions");
  std::vector<unsigned char> sizes(static_cast<size_t>(4 * ndim));
  got = file.read(sizes.data(), sizes.size());
  R2G2_CHECK(got == sizes.size(), path, ": truncated header: magic ", hex32(m), " announces ", ndim,
             " dimensions (", sizes.size(), " bytes of sizes), found only ", got, " bytes",
             file.stream_error().empty() ? "" : "; " + file.stream_error());
  uint64_t payload = static_cast<uint64_t>(idx_type_size(h.type_code));
  for (int i = 0; i < ndim; ++i) {
    uint32_t d = big_endian_u32(&sizes[static_cast<size_t>(4 * i)]);
    h.dims.push_back(d);
    // Checked before multiplying so that the product cannot overflow.
    R2G2_CHECK(d == 0 || payload <= kMaxPayload / d, path, ": header sizes ", dims_str(h.dims),
               "... describe more than ", human_bytes(kMaxPayload), " of data: not a plausible IDX file");
    payload *= d;
  }
  h.header_bytes = 4 + sizes.size();
  return h;
}

// A plain file's length must be exactly header + payload; checked before allocating.
void check_plain_length(const std::string& path, const IdxHeader& h) {
  if (h.gzip) return;
  const uint64_t want = h.header_bytes + h.payload_bytes();
  R2G2_CHECK(h.file_bytes >= want, path, ": truncated data: header ", dims_str(h.dims), " (",
             idx_type_name(h.type_code), ") needs ", h.payload_bytes(), " data bytes, the file holds ",
             h.file_bytes - h.header_bytes, " (", h.file_bytes, " bytes in all, ", want, " expected)");
  R2G2_CHECK(h.file_bytes == want, path, ": trailing garbage: ", h.file_bytes - want, " bytes after the ",
             h.payload_bytes(), " data bytes that header ", dims_str(h.dims), " describes (", h.file_bytes,
             " bytes in all, ", want, " expected)");
}

void check_magic(const std::string& path, const IdxHeader& h, uint32_t expected_magic) {
  if (expected_magic != 0)
    R2G2_CHECK(h.magic() == expected_magic, path, ": expected magic ", hex32(expected_magic), " (",
               magic_meaning(expected_magic), "), found ", hex32(h.magic()), " (", magic_meaning(h.magic()),
               ")");
  R2G2_CHECK(h.type_code == kIdxU8, path, ": unsupported type code ", hex8(h.type_code), " (",
             idx_type_name(h.type_code), "): only ", hex8(kIdxU8), " (unsigned byte) elements are read");
}
void write_idx_span(const std::string& path, const std::vector<int64_t>& dims, std::span<const uint8_t> data,
                    bool gzip) {
  R2G2_CHECK(!dims.empty() && dims.size() <= 255, path, ": an IDX array needs 1 to 255 dimensions, got ",
             dims.size());
  uint64_t n = 1;
  std::vector<uint8_t> header = {0, 0, kIdxU8, static_cast<uint8_t>(dims.size())};
  for (auto d : dims) {
    R2G2_CHECK(d >= 0 && d <= 0xFFFFFFFFll, path, ": dimension ", d, " of ", dims_str(dims),
               " does not fit an IDX size (uint32)");
    n *= static_cast<uint64_t>(d);
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<uint8_t>(d >> shift));
  }
  R2G2_CHECK(n == data.size(), path, ": dims ", dims_str(dims), " hold ", n, " elements but ", data.size(),
             " bytes were given");
  write_bytes(path, {header, data}, gzip);
}
}  // namespace

const char* idx_type_name(uint8_t code) {
  switch (code) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
  }
  return "unknown";
}

int idx_type_size(uint8_t code) {
  switch (code) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
  }
  return 0;
}

uint64_t IdxHeader::payload_bytes() const {
  uint64_t n = static_cast<uint64_t>(idx_type_size(type_code));
  for (auto d : dims) n *= static_cast<uint64_t>(d);
  return n;
}

IdxHeader read_idx_header(const std::string& path) {
  DataFile file(path);
  IdxHeader h = parse_header(file);
  check_plain_length(path, h);
  return h;
}

IdxArray read_idx(const std::string& path, uint32_t expected_magic) {
  DataFile file(path);
  IdxHeader h = parse_header(file);
  check_magic(path, h, expected_magic);
  check_plain_length(path, h);
  const uint64_t want = h.payload_bytes();
  IdxArray out;
  out.dims = h.dims;
  // Grow with the data that arrives: a gzip header may promise far more than the stream holds.
  size_t chunk = size_t{1} << 20;
  while (out.data.size() < want) {
    size_t filled = out.data.size();
    size_t step = static_cast<size_t>(std::min<uint64_t>(chunk, want - filled));
    out.data.resize(filled + step);
    size_t got = file.read(out.data.data() + filled, step);
    out.data.resize(filled + got);
    if (got < step) break;
    chunk *= 2;
  }
  R2G2_CHECK(out.data.size() == want, path, ": truncated data: header ", dims_str(h.dims), " needs ", want,
             " data bytes, found ", out.data.size(),
             file.stream_error().empty() ? "" : " (" + file.stream_error() + ")");
  if (!file.at_end()) {
    // Count what is left, reading it in bounded pieces.
    uint64_t extra = 1;
    std::vector<unsigned char> sink(1 << 16);
    for (size_t got; (got = file.read(sink.data(), sink.size())) > 0;) extra += got;
    throw Error(detail::concat(path, ": trailing garbage: ", extra, " bytes after the ", want,
                               " data bytes that header ", dims_str(h.dims), " describes"));
  }
  R2G2_CHECK(file.stream_error().empty(), path, ": ", file.stream_error(), " after all ", want,
             " data bytes");
  return out;
}

LabeledBytes read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  // Headers first: a count mismatch is reported before tens of megabytes are inflated.
  IdxHeader hi = read_idx_header(images_path), hl = read_idx_header(labels_path);
  check_magic(images_path, hi, kIdxImagesMagic);
  check_magic(labels_path, hl, kIdxLabelsMagic);
  R2G2_CHECK(hi.dims[0] == hl.dims[0], "labels/images count mismatch: ", images_path, " holds ", hi.dims[0],
             " images, ", labels_path, " holds ", hl.dims[0], " labels");
  IdxArray images = read_idx(images_path, kIdxImagesMagic);
  IdxArray labels = read_idx(labels_path, kIdxLabelsMagic);
  LabeledBytes out;
  out.example_dims.assign(images.dims.begin() + 1, images.dims.end());
  out.pixels = std::move(images.data);
  out.labels = std::move(labels.data);
  return out;
}

void write_idx(const std::string& path, const IdxArray& array, bool gzip) {
  write_idx_span(path, array.dims, array.data, gzip);
}

void write_idx_pair(const std::string& images_path, const std::string& labels_path,
                    const LabeledBytes& examples, bool gzip) {
  const int64_t n = examples.count();
  R2G2_CHECK(static_cast<int64_t>(examples.pixels.size()) == n * examples.example_numel(), images_path, ": ",
             n, " labels and example dims ", dims_str(examples.example_dims), " need ",
             n * examples.example_numel(), " pixels, got ", examples.pixels.size());
  std::vector<int64_t> dims = {n};
  dims.insert(dims.end(), examples.example_dims.begin(), examples.example_dims.end());
  write_idx_span(images_path, dims, examples.pixels, gzip);
  write_idx_span(labels_path, {n}, examples.labels, gzip);
}

}  // namespace r2g2::data
