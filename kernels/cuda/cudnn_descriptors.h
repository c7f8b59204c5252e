#pragma once
// RAII owners of the cuDNN descriptors a convolution needs. Only included where
// R2G2_WITH_CUDNN is set.
#include <cudnn.h>

#include "r2g2/kernels/cuda/cudnn_handle.h"

namespace r2g2::kernels::cuda::cudnn {

// One class per descriptor kind: create in the constructor, destroy in the destructor,
// convert to the raw handle where cuDNN wants it.
#define R2G2_CUDNN_DESCRIPTOR(Name, Raw, create, destroy) \
  class Name {                                            \
   public:                                                \
    Name() { R2G2_CUDNN_CHECK(create(&desc_)); }          \
    ~Name() { destroy(desc_); }                           \
    Name(const Name&) = delete;                           \
    Name& operator=(const Name&) = delete;                \
    operator Raw() const { return desc_; }                \
                                                          \
   private:                                               \
    Raw desc_ = nullptr;                                  \
  };
R2G2_CUDNN_DESCRIPTOR(TensorDesc, cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor,
                      cudnnDestroyTensorDescriptor)
R2G2_CUDNN_DESCRIPTOR(FilterDesc, cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor,
                      cudnnDestroyFilterDescriptor)
R2G2_CUDNN_DESCRIPTOR(ConvDesc, cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                      cudnnDestroyConvolutionDescriptor)
#undef R2G2_CUDNN_DESCRIPTOR

}  // namespace r2g2::kernels::cuda::cudnn
