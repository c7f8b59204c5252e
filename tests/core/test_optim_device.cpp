// Optimizer state follows its parameter: a module moved or converted in place keeps each
// parameter's TensorImpl and gives it new storage, and the optimizer built before the move
// must carry its moments / momentum buffers along, values kept. Only the CPU exists here,
// so the move exercised is the in-place dtype conversion (the device move takes the same
// path in optim.cpp). Also: Adam refuses step 0 instead of dividing by zero.
#include <doctest/doctest.h>

#include "r2g2/core/error.h"
#include "r2g2/core/optim.h"
#include "r2g2/kernels/cpu/optim.h"
#include "test_util.h"

namespace {

using namespace r2g2;

Tensor param(DType dt) {
  Tensor p = Tensor::from_vector({1.0, -2.0}, {2}, dt);
  p.requires_grad_(true);
  return p;
}

void set_grad(Tensor& p, std::vector<double> g) { p.set_grad(Tensor::from_vector(g, {2}, p.dtype())); }

// What an in-place module conversion does to a parameter: same TensorImpl, new storage.
void convert_in_place(Tensor& p, DType dtype) {
  Tensor moved = p.detach().to(dtype);
  TensorImpl& slot = p.impl();
  slot.storage = moved.impl().storage;
  slot.strides = moved.impl().strides;
  slot.offset = moved.impl().offset;
  slot.dtype = moved.impl().dtype;
  slot.grad.reset();
}

}  // namespace

TEST_CASE("Adam: moments follow a parameter converted in place, values kept") {
  Tensor p = param(DType::f32);
  Adam opt({p}, {.lr = 0.1});
  set_grad(p, {0.5, -1.0});
  opt.step();

  // The reference continues in float64 from the same state, handed over explicitly.
  Tensor q = param(DType::f64);
  Adam ref({q}, {.lr = 0.1});
  q.detach().copy_(p);
  ref.first_moments()[0] = opt.first_moments()[0].to(DType::f64);
  ref.second_moments()[0] = opt.second_moments()[0].to(DType::f64);
  ref.set_steps_taken(1);

  convert_in_place(p, DType::f64);
  REQUIRE(p.dtype() == DType::f64);
  set_grad(p, {0.25, 2.0});
  set_grad(q, {0.25, 2.0});
  opt.step();
  ref.step();

  CHECK(opt.first_moments()[0].dtype() == DType::f64);
  CHECK(opt.second_moments()[0].dtype() == DType::f64);
  CHECK(opt.first_moments()[0].to_vector() == ref.first_moments()[0].to_vector());
  CHECK(opt.second_moments()[0].to_vector() == ref.second_moments()[0].to_vector());
  CHECK(p.to_vector() == q.to_vector());
}

TEST_CASE("SGD: the momentum buffer follows a parameter converted in place, values kept") {
  // Values exact in float32 and float64: buf1 = g, p1 = p0 - lr g = [0.75, -1.5];
  // buf2 = 0.5 buf1 + g = [0.75, -1.5], p2 = p1 - lr buf2 = [0.375, -0.75]. A buffer that
  // restarted at the second step would give [0.5, -1].
  Tensor p = param(DType::f32);
  SGD opt({p}, {.lr = 0.5, .momentum = 0.5});
  set_grad(p, {0.5, -1.0});
  opt.step();
  CHECK(p.to_vector() == std::vector<double>{0.75, -1.5});

  convert_in_place(p, DType::f64);
  set_grad(p, {0.5, -1.0});
  opt.step();
  CHECK(p.dtype() == DType::f64);
  CHECK(p.to_vector() == std::vector<double>{0.375, -0.75});
}

TEST_CASE("adam_step refuses step 0 (its bias correction would divide by zero)") {
  std::vector<float> p{1.0f, -2.0f}, g{0.5f, -1.0f}, m(2, 0.0f), v(2, 0.0f);
  CHECK_THROWS_WITH_AS(kernels::cpu::adam_step(p.data(), g.data(), m.data(), v.data(), 2, 1e-3f, 0.9f, 0.999f,
                                               1e-8f, 0.0f, int64_t{0}),
                       "adam_step: step counts from 1, got 0", r2g2::Error);
  CHECK(p == std::vector<float>{1.0f, -2.0f});  // nothing written
  CHECK(m == std::vector<float>{0.0f, 0.0f});

  Tensor q = param(DType::f32);
  Adam opt({q}, {});
  CHECK(test::contains(test::error_of([&] { opt.set_steps_taken(-1); }), "must be >= 0, got -1"));
  CHECK(opt.steps_taken() == 0);
}
