// IDX reading and writing: round trips, and every malformed file gives an r2g2::Error
// that names the file and the problem.
#include <doctest/doctest.h>

#include <chrono>

#include "r2g2/core/data/data_file.h"
#include "r2g2/core/data/idx.h"
#include "data_test_util.h"

using namespace r2g2;
using namespace r2g2::data;
using r2g2::test::concat_bytes;
using r2g2::test::error_of;
using r2g2::test::idx_header;
using r2g2::test::noise_bytes;
using r2g2::test::read_raw;
using r2g2::test::TempDir;
using r2g2::test::write_raw;

TEST_SUITE("idx") {
  TEST_CASE("plain and gzip round trips keep dims and bytes") {
    TempDir dir;
    IdxArray a{{3, 4, 5}, noise_bytes(60, 1)};
    for (bool gzip : {false, true}) {
      CAPTURE(gzip);
      std::string path = dir.file(gzip ? "a.idx.gz" : "a.idx");
      write_idx(path, a, gzip);
      auto raw = read_raw(path);
      REQUIRE(raw.size() >= 2);
      CHECK((raw[0] == 0x1f && raw[1] == 0x8b) == gzip);
      if (!gzip) {
        CHECK(raw.size() == 4 + 3 * 4 + 60);
        CHECK(raw[2] == 0x08);
        CHECK(raw[3] == 3);
        CHECK(raw[4 + 3] == 3);  // big-endian: the low byte of dim 0 comes last
      }
      IdxArray b = read_idx(path);
      CHECK(b.dims == a.dims);
      CHECK(b.data == a.data);
      IdxHeader h = read_idx_header(path);
      CHECK(h.gzip == gzip);
      CHECK(h.magic() == 0x00000803);
      CHECK(h.payload_bytes() == 60);
    }
  }

  TEST_CASE("compression is detected from the content, not the name") {
    TempDir dir;
    IdxArray a{{7}, noise_bytes(7, 2)};
    write_idx(dir.file("gzipped-without-suffix"), a, true);
    write_idx(dir.file("plain-with-suffix.gz"), a, false);
    CHECK(read_idx(dir.file("gzipped-without-suffix")).data == a.data);
    CHECK(read_idx(dir.file("plain-with-suffix.gz")).data == a.data);
    CHECK(is_gzip_file(dir.file("gzipped-without-suffix")));
    CHECK_FALSE(is_gzip_file(dir.file("plain-with-suffix.gz")));
  }

  TEST_CASE("a pair round trip gives examples with their labels") {
    TempDir dir;
    LabeledBytes ex;
    ex.example_dims = {2, 3};
    ex.pixels = noise_bytes(4 * 6, 3);
    ex.labels = {3, 1, 4, 1};
    write_idx_pair(dir.file("img.gz"), dir.file("lab.gz"), ex, true);
    LabeledBytes back = read_idx_pair(dir.file("img.gz"), dir.file("lab.gz"));
    CHECK(back.example_dims == ex.example_dims);
    CHECK(back.pixels == ex.pixels);
    CHECK(back.labels == ex.labels);
    CHECK(read_idx_header(dir.file("lab.gz")).magic() == kIdxLabelsMagic);
  }

  TEST_CASE("wrong magic, type code and dimension count") {
    TempDir dir;
    std::string p = dir.file("bad");
    write_raw(p, {0x01, 0x02, 0x08, 0x03, 0, 0, 0, 1});
    std::string e = error_of([&] { read_idx(p); });
    CAPTURE(e);
    CHECK(e.find(p) != std::string::npos);
    CHECK(e.find("bad magic 0x01020803") != std::string::npos);

    write_raw(p, concat_bytes(idx_header({2}, 0x0D), std::vector<uint8_t>(8)));  // float32: valid IDX
    e = error_of([&] { read_idx(p); });
    CAPTURE(e);
    CHECK(e.find("unsupported type code 0x0D (float32)") != std::string::npos);
    CHECK(read_idx_header(p).dims == std::vector<int64_t>{2});  // the header itself is fine

    write_raw(p, concat_bytes(idx_header({2}, 0x07), std::vector<uint8_t>(2)));
    e = error_of([&] { read_idx_header(p); });
    CAPTURE(e);
    CHECK(e.find("unsupported type code 0x07") != std::string::npos);

    write_raw(p, {0, 0, 0x08, 0});
    e = error_of([&] { read_idx(p); });
    CAPTURE(e);
    CHECK(e.find("zero dimensions") != std::string::npos);
  }

  TEST_CASE("a labels file is not taken for images and vice versa") {
    TempDir dir;
    write_idx(dir.file("labels"), IdxArray{{4}, {0, 1, 2, 3}}, false);
    std::string e = error_of([&] { read_idx(dir.file("labels"), kIdxImagesMagic); });
    CAPTURE(e);
    CHECK(e.find("expected magic 0x00000803") != std::string::npos);
    CHECK(e.find("found 0x00000801") != std::string::npos);
  }

  TEST_CASE("cut headers") {
    TempDir dir;
    std::string p = dir.file("cut");
    write_raw(p, {});
    CHECK(error_of([&] { read_idx(p); }).find("truncated header") != std::string::npos);
    write_raw(p, {0, 0, 8});
    std::string e = error_of([&] { read_idx(p); });
    CAPTURE(e);
    CHECK(e.find("truncated header") != std::string::npos);
    CHECK(e.find("found only 3 bytes") != std::string::npos);
    auto h = idx_header({10, 28, 28});
    h.resize(10);  // magic + 6 of the 12 size bytes
    for (bool gzip : {false, true}) {
      write_raw(p, h, gzip);
      e = error_of([&] { read_idx_header(p); });
      CAPTURE(e);
      CHECK(e.find("truncated header") != std::string::npos);
      CHECK(e.find("announces 3 dimensions") != std::string::npos);
      CHECK(e.find("found only 6 bytes") != std::string::npos);
    }
  }

  TEST_CASE("payload shorter or longer than the header says, plain and gzip") {
    TempDir dir;
    std::string p = dir.file("f");
    for (bool gzip : {false, true}) {
      CAPTURE(gzip);
      write_raw(p, concat_bytes(idx_header({10}), noise_bytes(7, 4)), gzip);
      std::string e = error_of([&] { read_idx(p); });
      CAPTURE(e);
      CHECK(e.find(p) != std::string::npos);
      CHECK(e.find("truncated data") != std::string::npos);
      CHECK(e.find("needs 10 data bytes") != std::string::npos);
      CHECK(e.find(gzip ? "found 7" : "holds 7") != std::string::npos);

      write_raw(p, concat_bytes(idx_header({10}), noise_bytes(13, 5)), gzip);
      e = error_of([&] { read_idx(p); });
      CAPTURE(e);
      CHECK(e.find("trailing garbage: 3 bytes after the 10 data bytes") != std::string::npos);
    }
    // A plain file's length is checked by the header-only reader too.
    write_raw(p, concat_bytes(idx_header({10}), noise_bytes(13, 5)), false);
    CHECK(error_of([&] { read_idx_header(p); }).find("trailing garbage") != std::string::npos);
  }

  TEST_CASE("a gzip stream cut in the middle is reported, not read as short data silently") {
    TempDir dir;
    std::string p = dir.file("cut.gz");
    write_raw(p, concat_bytes(idx_header({5000}), noise_bytes(5000, 6)), true);
    auto whole = read_raw(p);
    write_raw(p, std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<long>(whole.size() / 2)));
    std::string e = error_of([&] { read_idx(p); });
    CAPTURE(e);
    CHECK(e.find("truncated data") != std::string::npos);
    CHECK(e.find("needs 5000 data bytes") != std::string::npos);
    CHECK(e.find("cut short") != std::string::npos);

    // Bytes flipped inside the deflate stream: corrupt, or a CRC mismatch at the end.
    whole[whole.size() / 2] ^= 0xFF;
    whole[whole.size() / 2 + 1] ^= 0xFF;
    write_raw(p, whole);
    e = error_of([&] { read_idx(p); });
    CAPTURE(e);
    CHECK(e.find(p + ": the gzip stream is corrupt") != std::string::npos);
  }

  TEST_CASE("absurd headers are refused without allocating what they promise") {
    TempDir dir;
    std::string p = dir.file("huge");
    // 2^96 elements: caught before the sizes are multiplied out.
    write_raw(p, concat_bytes(idx_header({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}), noise_bytes(16, 7)));
    CHECK(error_of([&] { read_idx(p); }).find("not a plausible IDX file") != std::string::npos);
    // 100 GB promised by a tiny file, plain and gzip: a quick "truncated", no huge buffer.
    auto t0 = std::chrono::steady_clock::now();
    for (bool gzip : {false, true}) {
      write_raw(p, concat_bytes(idx_header({100000, 1000, 1000}), noise_bytes(3000, 8)), gzip);
      std::string e = error_of([&] { read_idx(p); });
      CAPTURE(e);
      CHECK(e.find("truncated data") != std::string::npos);
      CHECK(e.find("needs 100000000000 data bytes") != std::string::npos);
    }
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  }

  TEST_CASE("labels/images count mismatch names both files and both counts") {
    TempDir dir;
    write_idx(dir.file("img"), IdxArray{{5, 2, 2}, noise_bytes(20, 9)}, true);
    write_idx(dir.file("lab"), IdxArray{{4}, {0, 1, 2, 3}}, false);
    std::string e = error_of([&] { read_idx_pair(dir.file("img"), dir.file("lab")); });
    CAPTURE(e);
    CHECK(e.find("count mismatch") != std::string::npos);
    CHECK(e.find(dir.file("img") + " holds 5 images") != std::string::npos);
    CHECK(e.find(dir.file("lab") + " holds 4 labels") != std::string::npos);
  }

  TEST_CASE("missing files and inconsistent writes") {
    TempDir dir;
    std::string e = error_of([&] { read_idx(dir.file("nope")); });
    CAPTURE(e);
    CHECK(e.find(dir.file("nope")) != std::string::npos);
    CHECK(e.find("no such file") != std::string::npos);
    e = error_of([&] { write_idx(dir.file("w"), IdxArray{{2, 3}, {1, 2, 3}}, false); });
    CAPTURE(e);
    CHECK(e.find("hold 6 elements but 3 bytes") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("w")));
  }
}
