// conv2d forward / backward-data / backward-filter through cuDNN's convolution API.
//
// Algorithm choice: cudnnGet*Algorithm_v7 ranks the algorithms by heuristics (no
// benchmarking, so the first call is cheap and the choice does not depend on timing
// noise). We take the first one that is supported, deterministic (reproducible runs,
// and gradients that compare bitwise across runs), does not use TF32 unless
// kernels/cuda/tf32.h allows it, and needs at most 1 GiB of workspace. The choice is
// cached per shape. The workspace is a grow-only buffer (conv_scratch).
#if R2G2_WITH_CUDNN

#include "r2g2/kernels/cuda/cudnn_conv.h"

#include <cudnn.h>

#include <climits>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "r2g2/kernels/cuda/cudnn_descriptors.h"
#include "r2g2/kernels/cuda/cudnn_handle.h"
#include "r2g2/kernels/cuda/tf32.h"

namespace r2g2::kernels::cuda::cudnn {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;

template <class T>
constexpr cudnnDataType_t data_type() {
  return std::is_same_v<T, float> ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

bool is_not_supported(cudnnStatus_t s) {
#ifdef CUDNN_STATUS_CATEGORY
  return CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED;
#else
  return s == CUDNN_STATUS_NOT_SUPPORTED;
#endif
}

// The descriptors of one convolution: x [batch, C, H, W], w [O, C, kh, kw], y [batch, O, oh, ow].
struct Descs {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
};

// False when the sizes exceed what cuDNN's 32-bit descriptors can describe.
template <class T>
bool describe(Descs& d, int64_t batch, int out_channels, const ConvGeom& g) {
  const int64_t x_numel = batch * g.channels * g.height * g.width;
  const int64_t y_numel = batch * out_channels * g.out_h * g.out_w;
  if (batch > INT_MAX || x_numel > INT_MAX || y_numel > INT_MAX) return false;
  const int n = static_cast<int>(batch);
  R2G2_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, data_type<T>(), n, g.channels, g.height, g.width));
  R2G2_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, data_type<T>(), n, out_channels, g.out_h, g.out_w));
  R2G2_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d.w, data_type<T>(), CUDNN_TENSOR_NCHW, out_channels,
                                              g.channels, g.kernel_h, g.kernel_w));
  // Cross-correlation (no kernel flip), as the CPU reference and every DL framework.
  R2G2_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d.conv, g.padding, g.padding, g.stride, g.stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, data_type<T>()));
  int on = 0, oc = 0, oh = 0, ow = 0;
  R2G2_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &on, &oc, &oh, &ow));
  R2G2_CHECK(on == n && oc == out_channels && oh == g.out_h && ow == g.out_w,
             "conv2d (cuDNN): geometry says output [", n, ", ", out_channels, ", ", g.out_h, ", ", g.out_w,
             "] but cuDNN computes [", on, ", ", oc, ", ", oh, ", ", ow, "]");
  return true;
}

// The three passes differ only in which cuDNN functions they call and in the roles of
// their buffers: in0, in1 -> out is x, w -> y (forward), w, gy -> gx (data), x, gy -> gw (filter).
struct Forward {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr const char* name = "forward";
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    R2G2_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n));
    return n;
  }
  static void rank(cudnnHandle_t h, const Descs& d, int want, int* got, Perf* perf) {
    R2G2_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, want, got, perf));
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descs& d, int algo, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, cudnnConvolutionFwdAlgo_t(algo),
                                                   bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descs& d, int algo, void* ws, size_t ws_bytes,
                           const void* alpha, const void* x, const void* w, const void* beta, void* y) {
    return cudnnConvolutionForward(h, alpha, d.x, x, d.w, w, d.conv, cudnnConvolutionFwdAlgo_t(algo), ws,
                                   ws_bytes, beta, d.y, y);
  }
};

struct BackwardData {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr const char* name = "backward data";
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    R2G2_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &n));
    return n;
  }
  static void rank(cudnnHandle_t h, const Descs& d, int want, int* got, Perf* perf) {
    R2G2_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, want, got, perf));
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descs& d, int algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x,
                                                        cudnnConvolutionBwdDataAlgo_t(algo), bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descs& d, int algo, void* ws, size_t ws_bytes,
                           const void* alpha, const void* w, const void* gy, const void* beta, void* gx) {
    return cudnnConvolutionBackwardData(h, alpha, d.w, w, d.y, gy, d.conv,
                                        cudnnConvolutionBwdDataAlgo_t(algo), ws, ws_bytes, beta, d.x, gx);
  }
};

struct BackwardFilter {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr const char* name = "backward filter";
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    R2G2_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &n));
    return n;
  }
  static void rank(cudnnHandle_t h, const Descs& d, int want, int* got, Perf* perf) {
    R2G2_CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, want, got, perf));
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descs& d, int algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w,
                                                          cudnnConvolutionBwdFilterAlgo_t(algo), bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descs& d, int algo, void* ws, size_t ws_bytes,
                           const void* alpha, const void* x, const void* gy, const void* beta, void* gw) {
    return cudnnConvolutionBackwardFilter(h, alpha, d.x, x, d.y, gy, d.conv,
                                          cudnnConvolutionBwdFilterAlgo_t(algo), ws, ws_bytes, beta, d.w, gw);
  }
};

// Everything the algorithm choice depends on.
// (One cache per pass and dtype: run_pass's static.)
struct Key {
  bool tf32;
  int64_t batch;
  int channels, height, width, out_channels, kernel_h, kernel_w, stride, padding;
  auto operator<=>(const Key&) const = default;
};
struct Choice {
  bool usable = false;  // false: cuDNN has nothing for this case; use the im2col path
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

// Says once per pass (on stderr) that cuDNN could not be used, so that a slow fallback
// or a broken cuDNN installation does not go unnoticed.
void note_fallback(const char* pass, const Key& k, const std::string& why) {
  static std::set<std::string> said;
  if (!said.insert(pass).second) return;
  std::fprintf(stderr,
               "r2g2: cuDNN conv2d %s has no usable algorithm for x [%lld, %d, %d, %d], w [%d, %d, %d, %d] "
               "(%s); using im2col + gemm\n",
               pass, static_cast<long long>(k.batch), k.channels, k.height, k.width, k.out_channels,
               k.channels, k.kernel_h, k.kernel_w, why.c_str());
}

template <class Pass, class T>
bool run_pass(const void* in0, const void* in1, void* out, int64_t batch, int out_channels,
              const ConvGeom& g) {
  Descs d;
  if (!describe<T>(d, batch, out_channels, g)) return false;
  const bool strict_fp32 = std::is_same_v<T, float> && !allow_tf32();
  const Key key{!strict_fp32, batch,      g.channels, g.height, g.width,
                out_channels, g.kernel_h, g.kernel_w, g.stride, g.padding};
  const T alpha = T(1), beta = T(0);  // outputs are overwritten
  cudnnHandle_t h = cudnn_handle();

  static std::map<Key, Choice> cache;
  if (auto it = cache.find(key); it != cache.end()) {
    const Choice& c = it->second;
    if (!c.usable) return false;
    R2G2_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, c.math));
    void* ws = c.workspace > 0 ? conv_scratch(ScratchSlot::cudnn_workspace, c.workspace) : nullptr;
    R2G2_CUDNN_CHECK(Pass::run(h, d, c.algo, ws, c.workspace, &alpha, in0, in1, &beta, out));
    return true;
  }

  // FMA_MATH forbids tensor cores for float32, DEFAULT_MATH would allow TF32 on sm_80+.
  const cudnnMathType_t base_math = strict_fp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
  R2G2_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, base_math));
  std::vector<typename Pass::Perf> perf(static_cast<size_t>(Pass::max_count(h)));
  int got = 0;
  Pass::rank(h, d, static_cast<int>(perf.size()), &got, perf.data());
  std::string why = "no deterministic algorithm";
  for (int i = 0; i < got; ++i) {
    const auto& p = perf[static_cast<size_t>(i)];
    if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC) continue;
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;  // would round to half precision
    if (strict_fp32 && p.mathType == CUDNN_TENSOR_OP_MATH) continue;    // TF32
    // cuDNN picks tensor-core kernels from the algorithm and the descriptor's math type
    // together, so the descriptor must carry the math type the ranking assumed.
    const cudnnMathType_t math = strict_fp32 ? CUDNN_FMA_MATH : p.mathType;
    R2G2_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, math));
    size_t bytes = 0;
    cudnnStatus_t s = Pass::workspace(h, d, static_cast<int>(p.algo), &bytes);
    if (s != CUDNN_STATUS_SUCCESS || bytes > kMaxWorkspace) {
      why = s != CUDNN_STATUS_SUCCESS ? cudnn_status_message(s) : "workspace over 1 GiB";
      continue;
    }
    void* ws = bytes > 0 ? conv_scratch(ScratchSlot::cudnn_workspace, bytes) : nullptr;
    s = Pass::run(h, d, static_cast<int>(p.algo), ws, bytes, &alpha, in0, in1, &beta, out);
    if (is_not_supported(s)) {
      why = cudnn_status_message(s);
      continue;
    }
    R2G2_CUDNN_CHECK(s);
    cache[key] = Choice{true, static_cast<int>(p.algo), math, bytes};
    return true;
  }
  cache[key] = Choice{};
  note_fallback(Pass::name, key, why);
  return false;
}

}  // namespace

template <class T>
bool conv_forward(const T* x, const T* w, T* y, int64_t batch, int out_channels, const ConvGeom& g) {
  return run_pass<Forward, T>(x, w, y, batch, out_channels, g);
}
template <class T>
bool conv_backward_data(const T* w, const T* gy, T* gx, int64_t batch, int out_channels, const ConvGeom& g) {
  return run_pass<BackwardData, T>(w, gy, gx, batch, out_channels, g);
}
template <class T>
bool conv_backward_filter(const T* x, const T* gy, T* gw, int64_t batch, int out_channels,
                          const ConvGeom& g) {
  return run_pass<BackwardFilter, T>(x, gy, gw, batch, out_channels, g);
}

#define R2G2_INSTANTIATE(T)                                                                   \
  template bool conv_forward<T>(const T*, const T*, T*, int64_t, int, const ConvGeom&);       \
  template bool conv_backward_data<T>(const T*, const T*, T*, int64_t, int, const ConvGeom&); \
  template bool conv_backward_filter<T>(const T*, const T*, T*, int64_t, int, const ConvGeom&);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cuda::cudnn

#endif  // R2G2_WITH_CUDNN
