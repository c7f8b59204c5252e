#include "kernels/cpu/random.h"

#include <cmath>

namespace r2g2::kernels::cpu {

void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(M0) * c0;
    uint64_t p1 = static_cast<uint64_t>(M1) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n) {
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  constexpr double two_pi = 6.283185307179586476925286766559;
  constexpr double inv_2_32 = 1.0 / 4294967296.0;
  int64_t i = 0;
  while (i < n) {
    uint64_t k = offset + static_cast<uint64_t>(i);
    uint64_t block = k / 4;
    const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0};
    uint32_t r[4];
    philox4x32_10(counter, key, r);
    double u[4];
    for (int j = 0; j < 4; ++j) u[j] = (static_cast<double>(r[j]) + 0.5) * inv_2_32;
    double rad0 = std::sqrt(-2.0 * std::log(u[0])), rad1 = std::sqrt(-2.0 * std::log(u[2]));
    double normal[4] = {rad0 * std::cos(two_pi * u[1]), rad0 * std::sin(two_pi * u[1]),
                        rad1 * std::cos(two_pi * u[3]), rad1 * std::sin(two_pi * u[3])};
    for (uint64_t lane = k % 4; lane < 4 && i < n; ++lane, ++i) out[i] = static_cast<T>(normal[lane]);
  }
}

template void philox_normal<float>(uint64_t, uint64_t, float*, int64_t);
template void philox_normal<double>(uint64_t, uint64_t, double*, int64_t);

}  // namespace r2g2::kernels::cpu
