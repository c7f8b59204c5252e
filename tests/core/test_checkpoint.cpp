// Checkpoint files: round trips, atomic replacement when a write fails, and clear
// errors (never a crash) for missing, truncated, corrupt or foreign files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "r2g2/core/checkpoint.h"
#include "r2g2/core/error.h"
#include "temp_dir.h"
#include "test_util.h"

namespace {

using namespace r2g2;
namespace fs = std::filesystem;

using r2g2::test::TempDir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Checkpoint sample() {
  Checkpoint ck;
  ck.tensors["layer1/mu"] = r2g2::test::uniform({3, 4}, 1, -1, 1, DType::f32);
  ck.tensors["layer1/rho"] = r2g2::test::uniform({4}, 2, -1, 1, DType::f64);
  ck.tensors["labels"] = Tensor::from_vector(std::vector<int32_t>{3, -1, 7, 2147483647}, {2, 2});
  ck.tensors["scalar"] = Tensor::scalar(2.5, DType::f64);
  ck.tensors["empty"] = Tensor::zeros({0, 5});
  ck.tensors["transposed view"] = r2g2::test::uniform({2, 3}, 3).t();
  ck.set_int("generator/seed", 1234567890123LL);
  ck.set_int("generator/offset", -5);
  ck.metadata["estimator schedule"] = "rt:0-10, lrt:10-\n\"quoted\" \xce\xbc";
  ck.metadata["empty"] = "";
  return ck;
}

// Equal dtype, shape and every value bit for bit.
void check_same(const Checkpoint& got, const Checkpoint& want) {
  REQUIRE(got.tensors.size() == want.tensors.size());
  for (const auto& entry : want.tensors) {
    const std::string& name = entry.first;
    const Tensor& t = entry.second;
    INFO("tensor ", name);
    const Tensor& g = got.tensor(name);
    CHECK(g.dtype() == t.dtype());
    CHECK(g.shape() == t.shape());
    CHECK(g.to_vector() == t.to_vector());
    CHECK(g.is_contiguous());
    CHECK_FALSE(g.requires_grad());
  }
  CHECK(got.metadata == want.metadata);
}

// CRC-32 (IEEE, zlib's), bit by bit: the checksum the file header carries.
uint32_t crc32_of(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// Loading must throw r2g2::Error whose message names the file and contains `what`.
void check_load_fails(const std::string& path, const std::string& what) {
  INFO("expecting '", what, "'");
  try {
    load_checkpoint(path);
    FAIL("load_checkpoint accepted a bad file");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
    CHECK_MESSAGE(msg.find(what) != std::string::npos, msg);
  }
}

}  // namespace

TEST_CASE("checkpoint: round trip of f32, f64, i32 tensors and metadata") {
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  Checkpoint ck = sample();
  save_checkpoint(path, ck);
  Checkpoint back = load_checkpoint(path);
  check_same(back, ck);
  CHECK(back.get_int("generator/seed") == 1234567890123LL);
  CHECK(back.get_int("generator/offset") == -5);
  CHECK(read_bytes(path).substr(0, 8) == "R2G2CKPT");

  // Saving again replaces the file; no temporary file is left behind.
  ck.tensors.erase("labels");
  ck.metadata["step"] = "42";
  save_checkpoint(path, ck);
  check_same(load_checkpoint(path), ck);
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("checkpoint: metadata and tensor lookups explain what is missing") {
  Checkpoint ck = sample();
  CHECK_THROWS_WITH_AS(ck.get_int("step"), doctest::Contains("no metadata entry 'step'"), Error);
  CHECK_THROWS_WITH_AS(ck.get_int("estimator schedule"), doctest::Contains("is not an integer"), Error);
  CHECK_THROWS_WITH_AS(ck.get_int("empty"), doctest::Contains("is not an integer"), Error);
  CHECK_THROWS_WITH_AS(ck.tensor("layer2/mu"), doctest::Contains("no tensor named 'layer2/mu'"), Error);
  CHECK_THROWS_WITH_AS(ck.tensor("layer2/mu"), doctest::Contains("layer1/mu"), Error);
}

TEST_CASE("checkpoint: a write that fails midway leaves the previous file intact") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  Checkpoint old = sample();
  save_checkpoint(path, old);
  const std::string old_bytes = read_bytes(path);

  Checkpoint next = sample();
  next.metadata["step"] = "100";
  for (int64_t fail_after : {0, 10, 100, 500}) {
    INFO("fail after ", fail_after, " bytes");
    detail::fail_next_checkpoint_write_after(fail_after);
    CHECK_THROWS_WITH_AS(save_checkpoint(path, next), doctest::Contains("was left unchanged"), Error);
    CHECK(read_bytes(path) == old_bytes);
    check_same(load_checkpoint(path), old);
    // The partial temporary file was removed.
    CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
  }
  // The hook fires once: the next save goes through.
  save_checkpoint(path, next);
  CHECK(load_checkpoint(path).metadata.at("step") == "100");
}

TEST_CASE("checkpoint: a temporary file that cannot be created is a clear error") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  save_checkpoint(path, sample());
  const std::string old_bytes = read_bytes(path);
  // A directory squatting on the temporary name makes its creation fail.
  fs::create_directory(path + ".tmp." + std::to_string(::getpid()));
  CHECK_THROWS_WITH_AS(save_checkpoint(path, Checkpoint{}), doctest::Contains("cannot create temporary file"),
                       Error);
  CHECK(read_bytes(path) == old_bytes);
  CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("no/such/dir/x.ckpt"), sample()),
                       doctest::Contains("no/such/dir/x.ckpt"), Error);
  // A directory in the target's place cannot be replaced by a file.
  fs::create_directory(dir.file("a_directory"));
  CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("a_directory"), sample()), doctest::Contains("renaming"),
                       Error);
  CHECK(fs::is_directory(dir.file("a_directory")));
}

TEST_CASE("checkpoint: undefined tensors are refused before anything is written") {
  TempDir dir;
  Checkpoint ck;
  ck.tensors["w"] = Tensor();
  CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("x.ckpt"), ck), doctest::Contains("'w' is undefined"), Error);
  CHECK_FALSE(fs::exists(dir.file("x.ckpt")));
}

TEST_CASE("checkpoint: missing, foreign, truncated and corrupt files give errors, never crashes") {
  TempDir dir;
  const std::string good = dir.file("good.ckpt"), bad = dir.file("bad.ckpt");
  save_checkpoint(good, sample());
  const std::string bytes = read_bytes(good);

  check_load_fails(dir.file("missing.ckpt"), "cannot open");
  check_load_fails(dir.path().string(), "error reading");  // a directory

  write_bytes(bad, "");
  check_load_fails(bad, "truncated");
  write_bytes(bad, "PK\x03\x04 this is a zip file, not a checkpoint");
  check_load_fails(bad, "bad magic");
  write_bytes(bad, bytes.substr(0, 5));
  check_load_fails(bad, "truncated");

  // Every proper prefix is rejected (header, payload, tensor data).
  for (size_t n = 0; n < bytes.size(); n += (n < 64 ? 1 : 7)) {
    write_bytes(bad, bytes.substr(0, n));
    CHECK_THROWS_AS(load_checkpoint(bad), Error);
  }
  write_bytes(bad, bytes.substr(0, bytes.size() - 1));
  check_load_fails(bad, "is truncated: the header announces");

  std::string corrupt = bytes;
  corrupt[corrupt.size() / 2] ^= 0x10;  // one flipped bit in the payload
  write_bytes(bad, corrupt);
  check_load_fails(bad, "checksum mismatch");

  corrupt = bytes;
  corrupt[8] = 9;  // version 9
  write_bytes(bad, corrupt);
  check_load_fails(bad, "format version 9");

  write_bytes(bad, bytes + "trailing");
  check_load_fails(bad, "unexpected bytes after the payload");

  // Every single-byte corruption is caught (most by the checksum).
  for (size_t i = 0; i < bytes.size(); i += 3) {
    corrupt = bytes;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0xA5);
    write_bytes(bad, corrupt);
    CHECK_THROWS_AS(load_checkpoint(bad), Error);
  }
}

TEST_CASE("checkpoint: a crafted file with a valid checksum but absurd sizes is rejected") {
  // Header + payload by hand: no metadata, one tensor "w" claiming [2^40, 2^40] f32.
  std::string payload;
  auto put = [&](auto v) { payload.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(uint64_t{0});
  put(uint64_t{1});
  put(uint32_t{1});
  payload += "w";
  put(uint8_t{0});
  put(uint8_t{2});
  put(int64_t{1} << 40);
  put(int64_t{1} << 40);
  put(uint64_t{0});
  auto file_for = [](const std::string& p) {
    std::string f = "R2G2CKPT";
    auto add = [&](auto v) { f.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
    add(uint32_t{1});
    add(crc32_of(p));
    add(static_cast<uint64_t>(p.size()));
    return f + p;
  };
  TempDir dir;
  const std::string path = dir.file("crafted.ckpt");
  write_bytes(path, file_for(payload));
  check_load_fails(path, "implausible dimensions");

  // A tensor count far beyond what the bytes could hold.
  std::string counts;
  counts.append(8, '\0');
  counts.append("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  write_bytes(path, file_for(counts));
  check_load_fails(path, "implausible tensor count");

  // A dtype code that does not exist.
  std::string bad_dtype = payload;
  bad_dtype[8 + 8 + 4 + 1] = 7;
  write_bytes(path, file_for(bad_dtype));
  check_load_fails(path, "unknown dtype code 7");
}

TEST_CASE("checkpoint: Adam state round trip resumes the run exactly") {
  TempDir dir;
  const std::string path = dir.file("adam.ckpt");
  auto grad_at = [](int step) {
    return Tensor::from_vector({0.3 * step - 0.5, std::sin(step), 0.1}, {3}, DType::f64);
  };
  auto make_param = [] {
    Tensor p = Tensor::from_vector({1.0, -2.0, 0.5}, {3}, DType::f64);
    p.requires_grad_(true);
    return p;
  };
  // Uninterrupted: 5 steps.
  Tensor p_ref = make_param();
  Adam ref({p_ref}, {.lr = 0.05});
  for (int s = 1; s <= 5; ++s) {
    p_ref.set_grad(grad_at(s));
    ref.step();
  }
  // Interrupted after 3 steps, saved, restored into a fresh optimizer, 2 more steps.
  {
    Tensor p = make_param();
    Adam opt({p}, {.lr = 0.05});
    for (int s = 1; s <= 3; ++s) {
      p.set_grad(grad_at(s));
      opt.step();
    }
    Checkpoint ck;
    ck.tensors["p"] = p;
    save_optimizer_state(ck, opt);
    save_checkpoint(path, ck);
  }
  Checkpoint ck = load_checkpoint(path);
  Tensor p = make_param();
  p.copy_(ck.tensor("p"));
  Adam opt({p}, {.lr = 0.05});
  load_optimizer_state(ck, opt);
  CHECK(opt.steps_taken() == 3);
  for (int s = 4; s <= 5; ++s) {
    p.set_grad(grad_at(s));
    opt.step();
  }
  CHECK(p.to_vector() == p_ref.to_vector());
  CHECK(opt.first_moments()[0].to_vector() == ref.first_moments()[0].to_vector());
  CHECK(opt.second_moments()[0].to_vector() == ref.second_moments()[0].to_vector());

  // An optimizer over differently shaped parameters is refused, unchanged.
  Tensor q = Tensor::zeros({4}, DType::f64);
  q.requires_grad_(true);
  Adam other({q}, {});
  CHECK_THROWS_WITH_AS(load_optimizer_state(ck, other),
                       doctest::Contains("has shape [3], parameter 0 has shape [4]"), Error);
  CHECK(other.steps_taken() == 0);
  Adam two({make_param(), make_param()}, {});
  CHECK_THROWS_WITH_AS(load_optimizer_state(ck, two), doctest::Contains("state for 1 parameters"), Error);
}
