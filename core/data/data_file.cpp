#include "r2g2/core/data/data_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "r2g2/core/error.h"

namespace fs = std::filesystem;

namespace r2g2::data {

namespace {
// zlib takes unsigned lengths; stay well inside them.
constexpr size_t kMaxChunk = size_t{1} << 28;

uint64_t regular_file_size(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  R2G2_CHECK(!ec && fs::exists(status), path, ": no such file");
  R2G2_CHECK(fs::is_regular_file(status), path, ": not a regular file");
  uint64_t size = fs::file_size(path, ec);
  R2G2_CHECK(!ec, path, ": cannot read the file size (", ec.message(), ")");
  return size;
}
}  // namespace

bool is_gzip_file(const std::string& path) {
  regular_file_size(path);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  R2G2_CHECK(f != nullptr, path, ": cannot open for reading");
  unsigned char magic[2] = {0, 0};
  size_t got = std::fread(magic, 1, 2, f);
  std::fclose(f);
  return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

DataFile::DataFile(const std::string& path) : path_(path) {
  file_bytes_ = regular_file_size(path);
  gzip_ = is_gzip_file(path);
  gzFile f = gzopen(path.c_str(), "rb");
  R2G2_CHECK(f != nullptr, path, ": cannot open for reading");
  // Large buffers speed up the big data sets; a small file needs no more than its size.
  gzbuffer(f, static_cast<unsigned>(std::clamp<uint64_t>(file_bytes_, 1 << 12, 1 << 17)));
  handle_ = f;
}

DataFile::~DataFile() {
  if (handle_) gzclose_r(static_cast<gzFile>(handle_));
}

size_t DataFile::read(void* dst, size_t n) {
  auto f = static_cast<gzFile>(handle_);
  size_t done = 0;
  // After a cut stream zlib still hands out what it inflated before the cut, so keep
  // reading until it returns nothing, and only remember the error.
  while (done < n) {
    auto want = static_cast<unsigned>(std::min(n - done, kMaxChunk));
    int got = gzread(f, static_cast<char*>(dst) + done, want);
    int errnum = Z_OK;
    std::string msg = gzerror(f, &errnum);
    if (errnum != Z_OK && stream_error_.empty()) {
      if (msg.rfind(path_ + ": ", 0) == 0) msg = msg.substr(path_.size() + 2);  // zlib prefixes the path
      // Z_BUF_ERROR is zlib's "unexpected end of file": a cut stream, which the caller
      // reports with the sizes it expected. Anything else is corruption: nothing to add.
      R2G2_CHECK(errnum == Z_BUF_ERROR, path_, ": the gzip stream is corrupt (", msg, ") after ",
                 position_ + done + static_cast<size_t>(std::max(got, 0)), " bytes of content");
      stream_error_ = "the gzip stream is cut short (" + msg + ")";
    }
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  position_ += done;
  return done;
}

bool DataFile::at_end() {
  unsigned char byte;
  return read(&byte, 1) == 0;
}

std::vector<uint8_t> read_all_bytes(const std::string& path, uint64_t max_bytes) {
  DataFile file(path);
  if (!file.gzip())
    R2G2_CHECK(file.file_bytes() <= max_bytes, path, ": ", human_bytes(file.file_bytes()),
               " is more than the ", human_bytes(max_bytes), " this reader accepts");
  std::vector<uint8_t> bytes;
  // Grow with what actually arrives, so that memory follows the real content. A plain
  // file's content is its size: one byte more finds the end in the first read. A gzip file
  // starts from a few times its compressed size (the buffer is zero-filled as it grows, and
  // a fixed megabyte cost small files more than their inflation).
  size_t chunk = size_t{1} << 20;
  if (!file.gzip())
    chunk = static_cast<size_t>(std::min<uint64_t>(file.file_bytes() + 1, chunk));
  else
    chunk = static_cast<size_t>(std::clamp<uint64_t>(4 * file.file_bytes(), uint64_t{1} << 16, chunk));
  while (true) {
    size_t filled = bytes.size();
    bytes.resize(filled + chunk);
    size_t got = file.read(bytes.data() + filled, chunk);
    bytes.resize(filled + got);
    R2G2_CHECK(file.stream_error().empty(), path, ": ", file.stream_error(), " after ", bytes.size(),
               " bytes");
    R2G2_CHECK(bytes.size() <= max_bytes, path, ": the content is more than the ", human_bytes(max_bytes),
               " this reader accepts");
    if (got < chunk) break;
    chunk = std::min<size_t>(chunk * 2, kMaxChunk);
  }
  return bytes;
}

void write_bytes(const std::string& path, const std::vector<std::span<const uint8_t>>& parts, bool gzip) {
  fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    R2G2_CHECK(!ec, path, ": cannot create the directory ", target.parent_path().string(), " (", ec.message(),
               ")");
  }
  const std::string tmp = path + ".partial";
  bool ok = true;
  if (gzip) {
    gzFile f = gzopen(tmp.c_str(), "wb6");
    R2G2_CHECK(f != nullptr, tmp, ": cannot open for writing");
    for (auto part : parts)
      for (size_t done = 0; ok && done < part.size();) {
        auto n = static_cast<unsigned>(std::min(part.size() - done, kMaxChunk));
        ok = gzwrite(f, part.data() + done, n) == static_cast<int>(n);
        done += n;
      }
    ok = gzclose_w(f) == Z_OK && ok;
  } else {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    R2G2_CHECK(f != nullptr, tmp, ": cannot open for writing");
    // An empty part may have a null data(); fwrite must not see it.
    for (auto part : parts)
      ok = ok && (part.empty() || std::fwrite(part.data(), 1, part.size(), f) == part.size());
    ok = std::fclose(f) == 0 && ok;
  }
  std::error_code ec;
  if (!ok) {
    fs::remove(tmp, ec);
    throw Error(detail::concat(path, ": writing failed (disk full or not writable?)"));
  }
  fs::rename(tmp, path, ec);
  R2G2_CHECK(!ec, path, ": cannot rename ", tmp, " into place (", ec.message(), ")");
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"bytes", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace r2g2::data
