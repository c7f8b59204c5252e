// `r2g2 tape`: runs a small expression and prints the tape, then backward with a
// trace, so a learner can watch reverse-mode autodiff happen node by node.
#include <iostream>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "tools/cli.h"

namespace {

int run_tape(const std::vector<std::string>& words) {
  using namespace r2g2;
  // No options: anything given is reported as unknown.
  cli::checking_usage([&] {
    cli::Args args(words, {});
    R2G2_CHECK(args.positional().empty(), "tape takes no arguments, got '", args.positional()[0], "'");
  });
  std::cout << "expression:  loss = mean(relu(x W + b) * x2) + sum(square(W))\n"
               "             with x [2, 3], W [3, 2], b [2], x2 = x[:, :2] (x used twice: a diamond)\n\n";
  Tensor x =
      Tensor::from_vector(std::vector<double>{1, -2, 3, 0.5, 1, -1}, {2, 3}, DType::f64).requires_grad_();
  Tensor w = Tensor::from_vector(std::vector<double>{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}, {3, 2}, DType::f64)
                 .requires_grad_();
  Tensor b = Tensor::from_vector(std::vector<double>{0.05, -0.05}, {2}, DType::f64).requires_grad_();
  Tensor h = relu(add(matmul(x, w), b));
  Tensor loss = add(mean(mul(h, slice(x, 1, 0, 2))), sum(square(w)));

  std::cout << "forward: the tape, in recording order (#n = node, leaf = a parameter or input)\n";
  print_tape(std::cout, loss);
  std::cout << "\nloss = " << loss.item()
            << "\n\nbackward: nodes visited in reverse tape order, each with the "
               "gradient dL/d(output) it received\n";
  backward(loss, {.retain_graph = false, .trace = &std::cout});
  auto show = [](const char* name, const Tensor& t) {
    std::cout << "  dL/d" << name << " " << shape_str(t.shape()) << " =";
    for (double v : t.grad().to_vector()) std::cout << " " << v;
    std::cout << "\n";
  };
  std::cout << "\ngradients accumulated on the leaves:\n";
  show("x", x);
  show("W", w);
  show("b", b);
  return 0;
}

}  // namespace

R2G2_COMMAND(
    "tape", "print the tape of a small expression and the gradients backward produces",
    "usage: r2g2 tape\n\nRecords a small expression on the tape (a tensor used twice, a matmul, a ReLU, "
    "a slice),\nprints each node, then runs backward with a trace and prints the gradients of the "
    "leaves.",
    run_tape);
