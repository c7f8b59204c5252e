// Fits y = 3x - 1 with one weight and one bias: the README's ten-line example.
#include <r2g2/core/ops.h>
#include <r2g2/core/optim.h>

#include <cstdio>

int main() {
  using namespace r2g2;
  Tensor x = Tensor::from_vector(std::vector<float>{0, 1, 2, 3}, {4, 1});
  Tensor y = Tensor::from_vector(std::vector<float>{-1, 2, 5, 8}, {4, 1});
  Tensor w = Tensor::zeros({1, 1}).requires_grad_(), b = Tensor::zeros({1}).requires_grad_();
  Adam opt({w, b}, {.lr = 0.1});
  double loss_value = 0;
  for (int step = 0; step < 200; ++step) {
    Tensor loss = mean(square(matmul(x, w) + b - y));
    opt.zero_grad();
    backward(loss);
    opt.step();
    loss_value = loss.item();
  }
  std::printf("loss after 200 steps: %.4f\n", loss_value);
}
