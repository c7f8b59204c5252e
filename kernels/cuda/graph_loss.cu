// cross_entropy_on_device (kernels/cuda/graph.h): kernels/cuda/softmax.cu's cross entropy
// with its one read-back replaced by a finishing kernel, so that a captured step can hold
// the loss. The same log-softmax, the same deterministic sum of the same terms and the
// same division, so the loss is softmax.cu's to the bit.
#include <limits>

#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/kernels/cuda/scratch.cuh"
#include "r2g2/kernels/cuda/softmax.h"
#include "r2g2/kernels/cuda/softmax_kernels.cuh"
#include "r2g2/kernels/cuda/sum_impl.cuh"

namespace r2g2::kernels::cuda {

namespace graph_loss_detail {

struct LossWords {
  double total;
  unsigned long long bad;  // the first row with a label outside [0, cols), or kNoError
};

template <class T>
__global__ void finish_cross_entropy_kernel(const LossWords* __restrict__ words, int64_t rows,
                                            T* __restrict__ loss, int32_t* __restrict__ bad_row) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const bool labels_ok = words->bad == kNoError;
  *loss = labels_ok ? static_cast<T>(words->total / static_cast<double>(rows))
                    : std::numeric_limits<T>::quiet_NaN();
  *bad_row = labels_ok ? -1 : static_cast<int32_t>(words->bad);
}

}  // namespace graph_loss_detail

template <class T>
void cross_entropy_on_device(const T* logits, const int32_t* labels, T* log_probs, T* loss, int32_t* bad_row,
                             int64_t rows, int64_t cols) {
  using namespace graph_loss_detail;
  R2G2_CHECK(rows > 0 && rows <= INT32_MAX && cols > 0, "cross_entropy_on_device: ", rows, " rows of ", cols,
             " columns; rows must be in [1, 2^31) and columns positive");
  log_softmax(logits, log_probs, rows, cols);
  DeviceScratch<LossWords> words(1);
  words.memset(0xFF);  // bad = kNoError; total is written by sum_terms
  LossWords* d = words.get();
  sum_terms(softmax_detail::CrossEntropyTerm<T>{log_probs, labels, cols, &d->bad}, rows, &d->total);
  R2G2_LAUNCH(finish_cross_entropy_kernel<T>, 1, 32, d, rows, loss, bad_row);
}

template void cross_entropy_on_device<float>(const float*, const int32_t*, float*, float*, int32_t*, int64_t,
                                             int64_t);
template void cross_entropy_on_device<double>(const double*, const int32_t*, double*, double*, int32_t*,
                                              int64_t, int64_t);

}  // namespace r2g2::kernels::cuda
