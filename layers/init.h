#pragma once
// Weight initialisation shared by the layers (deterministic per seed).
#include <cstdint>
#include <string>

#include "r2g2/core/tensor.h"

namespace r2g2 {

// he: N(0, 2 / fan_in) (for ReLU networks); glorot: N(0, 2 / (fan_in + fan_out)).
enum class WeightInit { he, glorot };
WeightInit parse_weight_init(const std::string& name);  // "he" or "glorot"; else a clear error
const char* weight_init_name(WeightInit w);

// Normal initial values of `shape` with the scale of `init`, from stream `seed`.
Tensor init_weight(const Shape& shape, int64_t fan_in, int64_t fan_out, WeightInit init, uint64_t seed,
                   DType dtype = DType::f32);

}  // namespace r2g2
