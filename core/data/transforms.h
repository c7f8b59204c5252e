#pragma once
// Reshaping a data set to fit a model built for other images.
#include <cstdint>

#include "r2g2/core/data/datasets.h"

namespace r2g2::data {

// Single-channel images [n, 1, h, w] -> [n, 3, size, size]: each image centred on a zero
// canvas of size x size (h, w <= size; an odd margin puts the extra pixel after) and
// repeated over three channels. Labels and classes are shared. The name gains
// "-<size>x3" after its data set part ("fashion-mnist/train" -> "fashion-mnist-32x3/train").
// Lets a model built for CIFAR-10's 32x32x3 images train on Fashion-MNIST.
Dataset pad_to_rgb(const Dataset& data, int64_t size);

}  // namespace r2g2::data
