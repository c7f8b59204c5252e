// Launchers of the fused optimizer updates (device code in optim_kernels.cuh).
#include "r2g2/kernels/cuda/optim.h"

#include <climits>

#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/kernels/cuda/optim_kernels.cuh"

namespace r2g2::kernels::cuda {

using namespace optim_detail;

template <class T>
void adam_step_many(const AdamTensor<T>* tensors, int count, T lr, T beta1, T beta2, T eps, T weight_decay,
                    int64_t step);

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay,
               int64_t step) {
  const AdamBias<T> bias = adam_bias(beta1, beta2, step);  // refuses step 0 even when n = 0, as the CPU does
  if (n <= 0) return;
  if (capturing_scalars()) {  // the captured form reads lr and t at replay
    const AdamTensor<T> one{p, g, m, v, n};
    adam_step_many(&one, 1, lr, beta1, beta2, eps, weight_decay, step);
    return;
  }
  R2G2_LAUNCH(adam_kernel<T>, blocks_for(n), kThreads, p, g, m, v, n, lr, beta1, beta2, eps, weight_decay,
              bias.bias1, bias.bias2);
}

template <class T>
void adam_step_many(const AdamTensor<T>* tensors, int count, T lr, T beta1, T beta2, T eps, T weight_decay,
                    int64_t step) {
  const AdamBias<T> bias = adam_bias(beta1, beta2, step);
  check_adam_tensors(tensors, count);
  ReplayScalars* replay = capturing_scalars();
  for (int start = 0; start < count;) {
    AdamLaunchTable<T> table{};
    table.first_block[0] = 0;
    // Empty tensors get no block and no slot.
    for (; start < count && table.count < kAdamTensorsPerLaunch; ++start) {
      if (tensors[start].n <= 0) continue;
      const int k = table.count++;
      table.tensors[k] = tensors[start];
      table.first_block[k + 1] = table.first_block[k] + (tensors[start].n + kAdamChunk - 1) / kAdamChunk;
    }
    const int64_t blocks = table.first_block[table.count];
    if (blocks == 0) continue;
    R2G2_CHECK(blocks <= INT32_MAX, "adam_step_many: ", blocks, " blocks of ", kAdamChunk,
               " elements exceed the grid limit");
    if (replay)
      R2G2_LAUNCH(adam_many_replay_kernel<T>, static_cast<int>(blocks), kThreads, table,
                  replay->adam_values(lr, step), beta1, beta2, eps, weight_decay, replay->loss_finite());
    else
      R2G2_LAUNCH(adam_many_kernel<T>, static_cast<int>(blocks), kThreads, table, lr, beta1, beta2, eps,
                  weight_decay, bias.bias1, bias.bias2);
  }
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, T lr, T momentum, T weight_decay, bool first) {
  if (n <= 0) return;
  R2G2_CHECK(capturing_scalars() == nullptr,
             "sgd_step: SGD cannot be captured in a CUDA graph (its learning rate "
             "and first-step rule would be frozen); use Adam, or train without --cuda-graph");
  // Quietly falling back to plain SGD would train a different model than asked for.
  R2G2_CHECK(momentum == T(0) || buf != nullptr, "sgd_step: momentum is ", momentum,
             " but the momentum buffer is null; pass a buffer of ", n, " elements, or momentum 0");
  R2G2_LAUNCH(sgd_kernel<T>, blocks_for(n), kThreads, p, g, buf, n, lr, momentum, weight_decay, first);
}

template <class T>
void mark_loss_finite(const T* loss, int64_t n) {
  ReplayScalars* replay = capturing_scalars();
  R2G2_CHECK(replay != nullptr, "mark_loss_finite: only a captured step has a finite flag to set");
  R2G2_LAUNCH(finite_flag_kernel<T>, 1, kThreads, loss, n, replay->loss_finite());
}

template void mark_loss_finite<float>(const float*, int64_t);
template void mark_loss_finite<double>(const double*, int64_t);
template void adam_step<float>(float*, const float*, float*, float*, int64_t, float, float, float, float,
                               float, int64_t);
template void adam_step<double>(double*, const double*, double*, double*, int64_t, double, double, double,
                                double, double, int64_t);
template void adam_step_many<float>(const AdamTensor<float>*, int, float, float, float, float, float, int64_t);
template void adam_step_many<double>(const AdamTensor<double>*, int, double, double, double, double, double,
                                     int64_t);
template void sgd_step<float>(float*, const float*, float*, int64_t, float, float, float, bool);
template void sgd_step<double>(double*, const double*, double*, int64_t, double, double, double, bool);

}  // namespace r2g2::kernels::cuda
