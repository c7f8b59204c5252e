#pragma once
// The R2-G2 conv layers of `r2g2 bench models`, one at a time: what R2-G2 adds to a layer's
// forward and backward over rt, beside the time its extra floating-point work would take
// at the GEMM rate measured in the same run.
#include <cstdint>
#include <vector>

#include "r2g2/core/device.h"

namespace r2g2::bench {

struct ConvLayerShape {
  int64_t channels = 0, out_channels = 0, size = 0;  // x [N, channels, size, size], 3x3, padding 1
};

// The conv layers of BayesVGGConfig's layer list that carry the compared estimator, with
// the widths divided by width_divisor as `r2g2 bench models` divides them.
std::vector<ConvLayerShape> vgg_estimator_conv_layers(int64_t width_divisor);

// Times each layer alone (forward and backward of a fixed linear loss, input gradient
// included, median of `reps`) with rt and with r2g2 on batch `images`, measures the float32
// and float64 GEMM rates, and prints one row per layer: extra ms, FLOP-time ms, ratio.
void print_r2g2_conv_layer_table(const std::vector<ConvLayerShape>& layers, int64_t images, int reps,
                                 Device device, uint64_t seed);

}  // namespace r2g2::bench
