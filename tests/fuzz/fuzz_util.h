#pragma once
// What every fuzz target shares: the bytes written to a scratch file for readers that take
// a path, and the contract that any input either reads or throws r2g2::Error.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>

#include "r2g2/core/error.h"

namespace r2g2::fuzz {

// One file per process, rewritten for every input: in /dev/shm where it exists, so the
// file system costs little next to the reader.
inline const std::string& scratch_path() {
  static const std::string path = [] {
    std::error_code ec;
    std::string dir = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm"
                      : std::getenv("TMPDIR") != nullptr           ? std::getenv("TMPDIR")
                                                                   : "/tmp";
    std::atexit([] { std::remove(scratch_path().c_str()); });
    return dir + "/r2g2-fuzz-" + std::to_string(::getpid());
  }();
  return path;
}

inline const std::string& write_scratch(std::span<const uint8_t> bytes) {
  const std::string& path = scratch_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  if (std::fclose(f) != 0) std::abort();
  return path;
}

// Runs `read`; an r2g2::Error is the expected way to refuse an input. Any other exception
// escapes to libFuzzer, which reports it as a crash with the input that caused it.
template <class Read>
void expect_read_or_error(Read&& read) {
  try {
    read();
  } catch (const r2g2::Error&) {
  }
}

}  // namespace r2g2::fuzz
