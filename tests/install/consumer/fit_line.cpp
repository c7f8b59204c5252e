// fit_line.cpp: fits y = 3x - 1 with Adam: tensors, the tape and an optimizer, nothing more.
#include <r2g2/r2g2.h>

#include <cstdio>
#include <vector>

int main() {
  using namespace r2g2;
  Tensor x = Tensor::from_vector(std::vector<float>{0, 1, 2, 3}, {4, 1});
  Tensor y = Tensor::from_vector(std::vector<float>{-1, 2, 5, 8}, {4, 1});
  Tensor w = Tensor::zeros({1, 1}).requires_grad_(), b = Tensor::zeros({1}).requires_grad_();
  Adam opt({w, b}, {.lr = 0.1});
  for (int step = 0; step < 500; ++step) {
    Tensor loss = mean(square(matmul(x, w) + b - y));
    opt.zero_grad();
    backward(loss);
    opt.step();
  }
  std::printf("w = %.2f, b = %.2f\n", w.item(), b.item());
}
