#pragma once
// Checkpoints: named tensors (any dtype, stored from the CPU) plus string metadata
// (generator seed/offset, step, estimator schedule, ...), in one binary file.
//
// File layout (little-endian):
//   "R2G2CKPT"  u32 version  u32 crc32(payload)  u64 payload_bytes  payload
//   payload:    u64 n_meta    { str key, str value } * n_meta
//               u64 n_tensors { str name, u8 dtype, u8 ndim, i64 dims[ndim], u64 data_bytes, data } *
//               n_tensors
//   str:        u32 length, bytes
//
// Saving is atomic: the file is written to "<path>.tmp.<pid>", flushed to disk and
// renamed over `path`, so a crash or a failed write leaves any previous checkpoint
// intact. Loading checks the magic, version, length and checksum before reading and
// throws r2g2::Error naming the file and the problem.
//
// layers/serialize.h saves a whole Module (by parameter name, with its optimizer and
// generators) in the safetensors format instead, through the same atomic write.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "r2g2/core/optim.h"
#include "r2g2/core/tensor.h"

namespace r2g2 {

struct Checkpoint {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;

  // Integer metadata, stored as decimal text.
  void set_int(const std::string& key, int64_t value) { metadata[key] = std::to_string(value); }
  // Throws naming the key when it is missing or not an integer.
  int64_t get_int(const std::string& key) const;
  // Unsigned integer metadata (generator seeds and offsets use all 64 bits), decimal text.
  void set_uint(const std::string& key, uint64_t value) { metadata[key] = std::to_string(value); }
  // Throws naming the key when it is missing or not an unsigned integer.
  uint64_t get_uint(const std::string& key) const;
  // The tensor under `name`; throws naming it (and listing a few present names) when absent.
  const Tensor& tensor(const std::string& name) const;
};

constexpr uint32_t kCheckpointVersion = 1;

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Writes `pieces`, one after another, to "<path>.tmp.<pid>", flushes it to disk and
// renames it over `path`: readers see the previous file or the whole new one, never a
// part. Errors start with `caller` and name both files. save_checkpoint and save_module
// (layers/serialize.h) write through this.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces,
                           const std::string& caller);
// Tensors come back as detached leaves on `device`.
Checkpoint load_checkpoint(const std::string& path, Device device = Device::cpu());

// Adam's state (first and second moments, steps taken) under "<prefix>/m/<i>",
// "<prefix>/v/<i>" and metadata "<prefix>/steps", "<prefix>/params".
void save_optimizer_state(Checkpoint& checkpoint, Adam& adam, const std::string& prefix = "adam");
// Restores into an Adam over parameters of the same shapes; throws naming the first
// mismatch. Moments are copied onto each parameter's device.
void load_optimizer_state(const Checkpoint& checkpoint, Adam& adam, const std::string& prefix = "adam");

namespace detail {
// Test hook: the next write_file_atomically (save_checkpoint, save_module) fails like a
// full disk after writing `bytes` bytes of its temporary file (negative: off). Lets tests
// check atomicity.
void fail_next_checkpoint_write_after(int64_t bytes);
}  // namespace detail

}  // namespace r2g2
