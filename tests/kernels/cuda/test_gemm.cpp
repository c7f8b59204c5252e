// kernels/cuda/gemm.cu (gemm, gemm_batched) under the emulator, against the CPU reference
// (kernels/cpu/gemm).
//
// The host has no cuBLAS: in the emulated build gemm.cu serves its two column-major
// cuBLAS calls with the CPU reference GEMM, behind cuBLAS's own argument checks. So
// these tests check what gemm.cu does around cuBLAS (the row-major to column-major
// operand swap, the leading-dimension fixes, batching, chunking and the shared-C case)
// and its one hand-written kernel (the k == 0 scaling). With the swap right, the emulated
// cuBLAS computes exactly the CPU reference's call, so results must agree bitwise.
#include "emulator/cuda_emulator.h"
// First, so that what follows sees the emulator in place of the CUDA runtime.
#include "r2g2/kernels/cases/gemm.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cuda/gemm.cu"
#include "kernels/cuda/gemm_conv_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
using namespace r2g2::test::emulated;
using r2g2::test::contains;
using r2g2::test::error_of;

constexpr double kPadding = 4321;  // what C holds past column n: must survive bitwise

// C's [m, n] part is NaN when beta == 0 (it must not be read), its padding a sentinel.
template <class T>
std::vector<T> make_c(int64_t rows, int64_t n, int64_t ldc, T beta, uint64_t seed) {
  auto c = values<T>(size_t(rows * ldc), seed);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < ldc; ++j)
      if (j >= n)
        c[i * ldc + j] = T(kPadding);
      else if (beta == T(0))
        c[i * ldc + j] = std::numeric_limits<T>::quiet_NaN();
  return c;
}

using Size3 = r2g2::kernels::cases::GemmSize;
// Non-square throughout (kernels/cases/gemm.h), so that a swapped m and n or a wrong
// transpose cannot cancel out.
const std::vector<Size3>& kOddSizes = r2g2::kernels::cases::test_gemm_sizes();

TEST_CASE_TEMPLATE("gemm: every transpose, odd sizes and padded rows equal the CPU gemm bitwise", T, float,
                   double) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Size3& s : kOddSizes)
        for (int64_t pad : {0, 3})
          for (T beta : {T(0), T(0.5)}) {
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(s.m);
            CAPTURE(s.n);
            CAPTURE(s.k);
            CAPTURE(pad);
            CAPTURE(beta);
            const int64_t lda = (ta ? s.m : s.k) + pad, ldb = (tb ? s.k : s.n) + pad, ldc = s.n + pad;
            const auto a = values<T>(size_t((ta ? s.k : s.m) * lda), 1 + s.m);
            const auto b = values<T>(size_t((tb ? s.n : s.k) * ldb), 2 + s.n);
            const auto c = make_c<T>(s.m, s.n, ldc, beta, 3 + s.k);
            std::vector<T> want = c;
            cpu::gemm<T>(ta, tb, s.m, s.n, s.k, T(0.75), a.data(), lda, b.data(), ldb, beta, want.data(),
                         ldc);
            DeviceVector<T> da(a), db(b), dc(c);
            gpu::gemm<T>(ta, tb, s.m, s.n, s.k, T(0.75), da.get(), lda, db.get(), ldb, beta, dc.get(), ldc);
            CHECK(same_values(dc.host(), want));
          }
}

TEST_CASE("gemm: a single-row operand may have any leading dimension") {
  // cuBLAS insists on ld >= the row length even where it never steps over a row; the
  // emulated cuBLAS refuses such calls as the real one does, so this passes only if
  // gemm.cu widens those leading dimensions.
  const int64_t m = 1, n = 6, k = 1;
  const auto a = values<float>(m * k, 4), b = values<float>(k * n, 5);
  const auto c = values<float>(m * n, 6);
  std::vector<float> want = c;
  cpu::gemm<float>(false, false, m, n, k, 2.f, a.data(), k, b.data(), n, -1.f, want.data(), n);
  for (bool ta : {false, true}) {
    CAPTURE(ta);
    DeviceVector<float> da(a), db(b), dc(c);
    gpu::gemm<float>(ta, false, m, n, k, 2.f, da.get(), 0, db.get(), 0, -1.f, dc.get(), 0);
    CHECK(same_values(dc.host(), want));
  }
  // Where a row is stepped over, a short one is the caller's error, named.
  float x = 0;
  CHECK(contains(error_of([&] { gpu::gemm<float>(false, false, 2, 3, 4, 1.f, &x, 3, &x, 3, 0.f, &x, 3); }),
                 "gemm: lda = 3 is smaller than the row length 4 of a stored [2, 4] matrix"));
  CHECK(contains(error_of([&] { gpu::gemm<float>(false, true, 2, 3, 4, 1.f, &x, 4, &x, 3, 0.f, &x, 3); }),
                 "gemm: ldb = 3"));
  CHECK(contains(error_of([&] { gpu::gemm<float>(false, false, 2, 3, 4, 1.f, &x, 4, &x, 3, 0.f, &x, 2); }),
                 "gemm: ldc = 2"));
  CHECK(contains(error_of([&] { gpu::gemm<float>(false, false, 2, -3, 4, 1.f, &x, 4, &x, 3, 0.f, &x, 3); }),
                 "negative size"));
  CHECK(contains(error_of([&] {
                   gpu::gemm<float>(false, false, 2, 3, 4, 1.f, &x, int64_t(1) << 32, &x, 3, 0.f, &x, 3);
                 }),
                 "exceeds cuBLAS's 32-bit range"));
  CHECK(contains(error_of([&] {
                   gpu::gemm_batched<float>(-1, false, false, 2, 3, 4, 1.f, &x, 4, 0, &x, 3, 0, 0.f, &x, 3,
                                            0);
                 }),
                 "negative batch -1"));
}

TEST_CASE_TEMPLATE("gemm: k == 0 scales C by beta in a kernel, keeps NaN, and beta == 0 clears it", T, float,
                   double) {
  const int64_t m = 2, n = 3, ldc = 5;
  for (T beta : {T(0.5), T(0)}) {
    CAPTURE(beta);
    auto c = make_c<T>(m, n, ldc, T(1), 7);
    c[2] = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> want = c;
    cpu::gemm<T>(false, false, m, n, 0, T(1), nullptr, 1, nullptr, n, beta, want.data(), ldc);
    if (beta != T(0)) CHECK(std::isnan(want[2]));  // BLAS: beta != 0 keeps a NaN
    DeviceVector<T> dc(c);
    const int64_t before = r2g2_emu::launches_of("scale_c_kernel");
    gpu::gemm<T>(false, false, m, n, 0, T(1), nullptr, 0, nullptr, n, beta, dc.get(), ldc);
    CHECK(r2g2_emu::launches_of("scale_c_kernel") == before + 1);
    CHECK(same_values(dc.host(), want));
  }
}

TEST_CASE_TEMPLATE("gemm_batched: batch strides, shared operands and gaps equal the per-batch CPU gemm", T,
                   float, double) {
  const int64_t batch = 3, m = 9, n = 13, k = 6;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int shared : {0, 1, 2}) {  // none, A, B
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(shared);
        const int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n + 1;
        const int64_t sa = shared == 1 ? 0 : m * k + 2, sb = shared == 2 ? 0 : k * n + 1, sc = m * ldc + 5;
        const auto a = values<T>(size_t(shared == 1 ? m * k : batch * sa), 8);
        const auto b = values<T>(size_t(shared == 2 ? k * n : batch * sb), 9);
        const auto c = values<T>(size_t(batch * sc), 10);  // gaps between the C's must stay as they are
        std::vector<T> want = c;
        cpu::gemm_batched<T>(batch, ta, tb, m, n, k, T(2), a.data(), lda, sa, b.data(), ldb, sb, T(-1),
                             want.data(), ldc, sc);
        DeviceVector<T> da(a), db(b), dc(c);
        gpu::gemm_batched<T>(batch, ta, tb, m, n, k, T(2), da.get(), lda, sa, db.get(), ldb, sb, T(-1),
                             dc.get(), ldc, sc);
        CHECK(same_values(dc.host(), want));
      }
}

TEST_CASE("gemm_batched: more than 65535 entries are split into chunks at the right offsets") {
  const int64_t batch = 65535 + 3, m = 1, n = 2, k = 1;
  const auto a = values<float>(size_t(batch), 11), b = values<float>(size_t(2 * batch), 12);
  const auto c = values<float>(size_t(2 * batch), 13);
  std::vector<float> want = c;
  cpu::gemm_batched<float>(batch, false, false, m, n, k, 1.f, a.data(), 1, 1, b.data(), 2, 2, 0.25f,
                           want.data(), 2, 2);
  DeviceVector<float> da(a), db(b), dc(c);
  gpu::gemm_batched<float>(batch, false, false, m, n, k, 1.f, da.get(), 1, 1, db.get(), 2, 2, 0.25f, dc.get(),
                           2, 2);
  CHECK(same_values(dc.host(), want));
}

TEST_CASE_TEMPLATE("gemm_batched: one shared C (stride_c == 0) takes every batch entry in turn, as the CPU",
                   T, float, double) {
  // The CPU reference runs the batch as a loop: entry i computes
  // C = alpha op(A_i) op(B_i) + beta C on what entry i - 1 left. With k == 0 that is C
  // scaled by beta once per entry; the CUDA path must give the same bits without its
  // threads racing on the shared elements (ThreadSanitizer reports such a race).
  const int64_t batch = 5, m = 3, n = 34, ldc = 35;
  for (int64_t k : {0, 4})
    for (T beta : {T(0.5), T(-1.25), T(0)}) {
      CAPTURE(k);
      CAPTURE(beta);
      auto c = make_c<T>(m, n, ldc, T(1), 14);
      c[1] = std::numeric_limits<T>::quiet_NaN();  // kept unless beta == 0
      const auto a = values<T>(size_t(batch * m * k), 15), b = values<T>(size_t(batch * k * n), 16);
      const int64_t lda = std::max<int64_t>(k, 1);
      std::vector<T> want = c;
      cpu::gemm_batched<T>(batch, false, false, m, n, k, T(1), a.data(), lda, m * k, b.data(), n, k * n, beta,
                           want.data(), ldc, 0);
      DeviceVector<T> da(a), db(b), dc(c);
      gpu::gemm_batched<T>(batch, false, false, m, n, k, T(1), da.get(), lda, m * k, db.get(), n, k * n, beta,
                           dc.get(), ldc, 0);
      CHECK(same_values(dc.host(), want));
    }
}

TEST_CASE("gemm_batched: k == 0 with distinct C's scales each once") {
  const int64_t batch = 4, m = 5, n = 3, sc = 17;
  const auto c = values<double>(size_t(batch * sc), 17);
  std::vector<double> want = c;
  cpu::gemm_batched<double>(batch, true, false, m, n, 0, 1.0, nullptr, m, 0, nullptr, n, 0, 3.0, want.data(),
                            n, sc);
  DeviceVector<double> dc(c);
  gpu::gemm_batched<double>(batch, true, false, m, n, 0, 1.0, nullptr, m, 0, nullptr, n, 0, 3.0, dc.get(), n,
                            sc);
  CHECK(same_values(dc.host(), want));
}

}  // namespace
