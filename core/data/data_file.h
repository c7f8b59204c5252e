#pragma once
// Byte-level access to data files that may or may not be gzip-compressed. Compression
// is detected from the content (gzip magic 1f 8b), never from the file name, because
// data sets are often renamed or unpacked without renaming.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace r2g2::data {

// True when the file starts with the gzip magic bytes 1f 8b; throws naming the file when
// it cannot be opened.
bool is_gzip_file(const std::string& path);

// A sequential reader over the file's (decompressed) content. Errors name the file.
class DataFile {
 public:
  explicit DataFile(const std::string& path);
  ~DataFile();
  DataFile(const DataFile&) = delete;
  DataFile& operator=(const DataFile&) = delete;

  const std::string& path() const { return path_; }
  bool gzip() const { return gzip_; }
  // Size on disk (compressed size for gzip).
  uint64_t file_bytes() const { return file_bytes_; }
  // Reads up to n bytes; returns fewer only at the end of the content, or where a gzip
  // stream is cut short: stream_error() then says so, for the caller to report together
  // with how many bytes it expected. A corrupt gzip stream throws naming the file.
  size_t read(void* dst, size_t n);
  const std::string& stream_error() const { return stream_error_; }
  // True when no content byte is left (consumes at most one byte to find out).
  bool at_end();
  // Bytes of content consumed so far.
  uint64_t position() const { return position_; }

 private:
  std::string path_;
  bool gzip_ = false;
  uint64_t file_bytes_ = 0;
  uint64_t position_ = 0;
  std::string stream_error_;
  void* handle_ = nullptr;  // gzFile; zlib also reads plain files through it
};

// Reads the whole (decompressed) content, refusing more than max_bytes: a gzip bomb or a
// wrong file becomes an error instead of an allocation the machine cannot hold.
std::vector<uint8_t> read_all_bytes(const std::string& path, uint64_t max_bytes);

// Writes bytes to `path`, gzip-compressed when asked. Writes to a temporary name first
// and renames, so an interrupted run never leaves a half-written data file behind.
// Creates the parent directory when missing.
void write_bytes(const std::string& path, const std::vector<std::span<const uint8_t>>& parts, bool gzip);

// "47.0 MB" style sizes for messages.
std::string human_bytes(uint64_t bytes);

}  // namespace r2g2::data
