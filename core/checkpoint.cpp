// Checkpoint files: see core/checkpoint.h for the layout. The payload is built in
// memory, checksummed, and written through a temporary file that is fsync'ed and
// renamed over the target; loading validates everything before trusting a length.
#include "r2g2/core/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "r2g2/core/autograd.h"
#include "r2g2/kernels/common.h"

namespace r2g2 {

namespace {

constexpr char kMagic[8] = {'R', '2', 'G', '2', 'C', 'K', 'P', 'T'};
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;

std::atomic<int64_t> g_fail_after{-1};

uint8_t dtype_code(DType t) {
  switch (t) {
    case DType::f32:
      return 0;
    case DType::f64:
      return 1;
    case DType::i32:
      return 2;
  }
  return 255;
}

uint32_t crc_of(const char* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes 32-bit lengths: feed large payloads in pieces.
  while (n > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(n, size_t{1} << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), piece);
    data += piece;
    n -= piece;
  }
  return static_cast<uint32_t>(crc);
}

// --- writing ------------------------------------------------------------------

struct Writer {
  std::string buf;
  template <class T>
  void pod(T v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void str(const std::string& s, const char* what) {
    R2G2_CHECK(s.size() <= UINT32_MAX, "save_checkpoint: ", what, " is longer than 4 GiB");
    pod<uint32_t>(static_cast<uint32_t>(s.size()));
    buf.append(s);
  }
};

std::string encode_payload(const Checkpoint& ck) {
  Writer w;
  w.pod<uint64_t>(ck.metadata.size());
  for (const auto& [key, value] : ck.metadata) {
    w.str(key, "a metadata key");
    w.str(value, "a metadata value");
  }
  w.pod<uint64_t>(ck.tensors.size());
  NoGrad no_grad;
  for (const auto& [name, t] : ck.tensors) {
    R2G2_CHECK(!name.empty(), "save_checkpoint: a tensor has an empty name");
    R2G2_CHECK(t.defined(), "save_checkpoint: tensor '", name, "' is undefined");
    R2G2_CHECK(t.dim() <= kernels::kMaxDims, "save_checkpoint: tensor '", name, "' of shape ",
               shape_str(t.shape()), " has more than ", kernels::kMaxDims, " dimensions");
    Tensor host = t.detach().to(Device::cpu());
    if (!host.is_contiguous()) host = host.contiguous();
    w.str(name, "a tensor name");
    w.pod<uint8_t>(dtype_code(host.dtype()));
    w.pod<uint8_t>(static_cast<uint8_t>(host.dim()));
    for (int64_t d : host.shape()) w.pod<int64_t>(d);
    const uint64_t bytes = static_cast<uint64_t>(host.numel()) * dtype_size(host.dtype());
    w.pod<uint64_t>(bytes);
    if (bytes > 0) w.buf.append(static_cast<const char*>(host.raw_data()), bytes);
  }
  return std::move(w.buf);
}

std::string errno_text() { return std::strerror(errno); }

// Writes all of `data` to fd, honouring the test hook; false with errno set on failure.
bool write_all(int fd, const char* data, size_t n, int64_t& budget) {
  while (n > 0) {
    size_t piece = n;
    if (budget >= 0) {
      if (budget == 0) {
        errno = ENOSPC;
        return false;
      }
      piece = std::min<size_t>(piece, static_cast<size_t>(budget));
    }
    ssize_t put = ::write(fd, data, piece);
    if (put < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += put;
    n -= static_cast<size_t>(put);
    if (budget >= 0) budget -= put;
  }
  return true;
}

// Makes the rename itself durable (best effort: some filesystems refuse fsync on
// directories, which does not endanger the data already renamed).
void sync_directory_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// --- reading ------------------------------------------------------------------

class Reader {
 public:
  Reader(const std::string& path, const char* data, size_t size, size_t base)
      : path_(path), data_(data), size_(size), base_(base) {}

  template <class T>
  T pod(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    const uint32_t n = pod<uint32_t>(what);
    need(n, what);
    std::string s(data_ + pos_, n);
    pos_ += n;
    return s;
  }
  const char* bytes(size_t n, const char* what) {
    need(n, what);
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  size_t left() const { return size_ - pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(
        detail::concat("load_checkpoint: '", path_, "' is corrupt: ", why, " (at byte ", base_ + pos_, ")"));
  }

 private:
  void need(size_t n, const char* what) const {
    if (n > size_ - pos_)
      fail(detail::concat(what, " needs ", n, " bytes but only ", size_ - pos_, " remain"));
  }
  const std::string& path_;
  const char* data_;
  size_t size_, pos_ = 0, base_;
};

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  R2G2_CHECK(f != nullptr, "load_checkpoint: cannot open '", path, "': ", errno_text());
  std::string data;
  char chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof(chunk), f)) > 0) data.append(chunk, got);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  R2G2_CHECK(!failed, "load_checkpoint: error reading '", path, "' (is it a directory?)");
  return data;
}

Tensor decode_tensor(Reader& r, const std::string& name, Device device) {
  const uint8_t code = r.pod<uint8_t>("a dtype");
  if (code > 2) r.fail(detail::concat("tensor '", name, "' has unknown dtype code ", int{code}));
  const DType dtype = code == 0 ? DType::f32 : code == 1 ? DType::f64 : DType::i32;
  const uint8_t ndim = r.pod<uint8_t>("a rank");
  if (ndim > kernels::kMaxDims)
    r.fail(detail::concat("tensor '", name, "' claims ", int{ndim}, " dimensions"));
  Shape shape(ndim);
  uint64_t numel = 1;
  // The product of the non-zero dimensions: an empty tensor's sizes still multiply into
  // its strides, so they too must stay within int64.
  uint64_t extent = 1;
  for (auto& d : shape) {
    d = r.pod<int64_t>("a dimension");
    if (d < 0) r.fail(detail::concat("tensor '", name, "' has a negative dimension ", d));
    // Every element takes at least one of the bytes left, which also keeps the
    // product far from overflowing.
    if (d > 0 && numel > r.left() / static_cast<uint64_t>(d))
      r.fail(detail::concat("tensor '", name, "' has implausible dimensions"));
    if (d > 0 && extent > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(d))
      r.fail(detail::concat("tensor '", name, "' has dimensions whose product exceeds int64"));
    numel *= static_cast<uint64_t>(d);
    if (d > 0) extent *= static_cast<uint64_t>(d);
  }
  const uint64_t bytes = r.pod<uint64_t>("a data length");
  if (bytes != numel * dtype_size(dtype))
    r.fail(detail::concat("tensor '", name, "' of shape ", shape_str(shape), " and dtype ", dtype_name(dtype),
                          " declares ", bytes, " data bytes"));
  const char* src = r.bytes(bytes, "tensor data");
  Tensor host = Tensor::empty(shape, dtype, Device::cpu());
  if (bytes > 0) std::memcpy(host.raw_data(), src, bytes);
  return device.is_cpu() ? host : host.to(device);
}

}  // namespace

namespace detail {
void fail_next_checkpoint_write_after(int64_t bytes) { g_fail_after = bytes; }
}  // namespace detail

int64_t Checkpoint::get_int(const std::string& key) const {
  auto it = metadata.find(key);
  R2G2_CHECK(it != metadata.end(), "checkpoint: no metadata entry '", key, "'");
  int64_t v = 0;
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  R2G2_CHECK(ec == std::errc() && end == s.data() + s.size() && !s.empty(), "checkpoint: metadata '", key,
             "' = '", s, "' is not an integer");
  return v;
}

uint64_t Checkpoint::get_uint(const std::string& key) const {
  auto it = metadata.find(key);
  R2G2_CHECK(it != metadata.end(), "checkpoint: no metadata entry '", key, "'");
  uint64_t v = 0;
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  R2G2_CHECK(ec == std::errc() && end == s.data() + s.size() && !s.empty(), "checkpoint: metadata '", key,
             "' = '", s, "' is not an unsigned integer");
  return v;
}

const Tensor& Checkpoint::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::string present;
  int shown = 0;
  for (const auto& kv : tensors) {
    if (shown++ == 8) {
      present += ", ...";
      break;
    }
    present += (shown > 1 ? ", " : "") + kv.first;
  }
  throw Error(detail::concat("checkpoint: no tensor named '", name, "' (it holds ", tensors.size(),
                             " tensors: ", present, ")"));
}

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces,
                           const std::string& caller) {
  int64_t budget = g_fail_after.exchange(-1);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  R2G2_CHECK(fd >= 0, caller, ": cannot create temporary file '", tmp, "' for '", path, "': ", errno_text());
  auto abandon = [&](const char* step) {
    std::string why = errno_text();
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(detail::concat(caller, ": ", step, " '", tmp, "' failed: ", why, "; '", path,
                               "' was left unchanged"));
  };
  for (std::string_view piece : pieces)
    if (!write_all(fd, piece.data(), piece.size(), budget)) abandon("writing");
  if (::fsync(fd) != 0) abandon("flushing");
  if (::close(fd) != 0) {
    fd = -1;
    abandon("closing");
  }
  fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("renaming");
  sync_directory_of(path);
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  const std::string payload = encode_payload(ck);
  std::string header(kMagic, sizeof(kMagic));
  auto put = [&](auto v) { header.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(uint32_t{kCheckpointVersion});
  put(crc_of(payload.data(), payload.size()));
  put(static_cast<uint64_t>(payload.size()));
  write_file_atomically(path, {header, payload}, "save_checkpoint");
}

Checkpoint load_checkpoint(const std::string& path, Device device) {
  const std::string file = read_file(path);
  auto fail = [&](const std::string& why) -> void {
    throw Error(detail::concat("load_checkpoint: '", path, "' ", why));
  };
  if (file.size() >= sizeof(kMagic) && std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0)
    fail("is not an r2g2 checkpoint (bad magic: expected \"R2G2CKPT\")");
  if (file.size() < kHeaderBytes)
    fail(detail::concat("is truncated: ", file.size(), " bytes, shorter than the ", kHeaderBytes,
                        "-byte header"));
  uint32_t version, crc;
  uint64_t payload_bytes;
  std::memcpy(&version, file.data() + 8, 4);
  std::memcpy(&crc, file.data() + 12, 4);
  std::memcpy(&payload_bytes, file.data() + 16, 8);
  if (version != kCheckpointVersion)
    fail(detail::concat("has format version ", version, "; this build reads version ", kCheckpointVersion));
  const uint64_t present = file.size() - kHeaderBytes;
  if (payload_bytes > present)
    fail(detail::concat("is truncated: the header announces ", payload_bytes, " payload bytes but only ",
                        present, " follow"));
  if (payload_bytes < present)
    fail(detail::concat("is corrupt: ", present - payload_bytes, " unexpected bytes after the payload"));
  const char* payload = file.data() + kHeaderBytes;
  const uint32_t actual = crc_of(payload, payload_bytes);
  if (actual != crc)
    fail(detail::concat("is corrupt: checksum mismatch (stored ", crc, ", computed ", actual, ")"));

  // The checksum matched, so what follows was written by save_checkpoint; the bounds
  // checks still guard against a file crafted to match.
  Reader r(path, payload, payload_bytes, kHeaderBytes);
  Checkpoint ck;
  const uint64_t n_meta = r.pod<uint64_t>("the metadata count");
  if (n_meta > r.left() / 8) r.fail(detail::concat("implausible metadata count ", n_meta));
  for (uint64_t i = 0; i < n_meta; ++i) {
    std::string key = r.str("a metadata key");
    std::string value = r.str("a metadata value");
    if (!ck.metadata.emplace(std::move(key), std::move(value)).second) r.fail("repeated metadata key");
  }
  const uint64_t n_tensors = r.pod<uint64_t>("the tensor count");
  if (n_tensors > r.left() / 8) r.fail(detail::concat("implausible tensor count ", n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    std::string name = r.str("a tensor name");
    Tensor t = decode_tensor(r, name, device);
    if (!ck.tensors.emplace(name, t).second) r.fail(detail::concat("tensor name '", name, "' appears twice"));
  }
  if (r.left() != 0) r.fail(detail::concat(r.left(), " bytes left over after the last tensor"));
  return ck;
}

void save_optimizer_state(Checkpoint& ck, Adam& adam, const std::string& prefix) {
  const auto& m = adam.first_moments();
  const auto& v = adam.second_moments();
  for (size_t i = 0; i < m.size(); ++i) {
    ck.tensors[prefix + "/m/" + std::to_string(i)] = m[i];
    ck.tensors[prefix + "/v/" + std::to_string(i)] = v[i];
  }
  ck.set_int(prefix + "/params", static_cast<int64_t>(m.size()));
  ck.set_int(prefix + "/steps", adam.steps_taken());
}

void load_optimizer_state(const Checkpoint& ck, Adam& adam, const std::string& prefix) {
  const int64_t count = ck.get_int(prefix + "/params");
  const auto& params = adam.params();
  R2G2_CHECK(count == static_cast<int64_t>(params.size()), "load_optimizer_state: the checkpoint holds '",
             prefix, "' state for ", count, " parameters, the optimizer has ", params.size());
  const int64_t steps = ck.get_int(prefix + "/steps");
  R2G2_CHECK(steps >= 0, "load_optimizer_state: '", prefix, "/steps' is negative (", steps, ")");
  auto& m = adam.first_moments();
  auto& v = adam.second_moments();
  // Check every shape before changing anything, so a mismatch leaves the optimizer as it was.
  for (size_t i = 0; i < params.size(); ++i)
    for (const char* which : {"/m/", "/v/"}) {
      const Tensor& t = ck.tensor(prefix + which + std::to_string(i));
      R2G2_CHECK(t.shape() == params[i].shape(), "load_optimizer_state: '", prefix, which, i, "' has shape ",
                 shape_str(t.shape()), ", parameter ", i, " has shape ", shape_str(params[i].shape()));
      R2G2_CHECK(is_floating(t.dtype()), "load_optimizer_state: '", prefix, which, i, "' is ",
                 dtype_name(t.dtype()));
    }
  for (size_t i = 0; i < params.size(); ++i) {
    m[i].copy_(ck.tensor(prefix + "/m/" + std::to_string(i)));
    v[i].copy_(ck.tensor(prefix + "/v/" + std::to_string(i)));
  }
  adam.set_steps_taken(steps);
}

}  // namespace r2g2
