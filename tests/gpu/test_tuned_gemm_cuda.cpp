// GPU machine only (label "gpu"): the tuned cuBLASLt products (distill/util/tuned_gemm.h) against an
// fp64 product of the same bf16/fp16 operands, as close as ATen's at::linear is; once per shape; left
// to ATen where they do not apply; and a model's logits with them.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <string>
#include <vector>

#include "distill/io/safetensors.h"
#include "distill/models/loader.h"
#include "distill/util/autocast.h"
#include "distill/util/mixed_gemm.h"
#include "distill/util/tuned_gemm.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using testing::max_rel_error;

// Tunes every product, however small, for the test's length; restores the defaults after.
struct TuneEverything {
  TuneEverything() : min_flops(tuned_gemm_min_flops()) {
    set_tuned_gemm(true);
    set_tuned_gemm_min_flops(0);
    set_tuned_gemm_min_uses(1);
  }
  ~TuneEverything() {
    set_tuned_gemm(true);
    set_tuned_gemm_min_flops(min_flops);
    set_tuned_gemm_min_uses(2);
  }
  const double min_flops;
};

at::Tensor reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  at::Tensor y = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
  return b.defined() ? y + b.to(at::kDouble) : y;
}

TEST(TunedGemmCuda, ProductsAreAsCloseToFp64AsAtensAre) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  TuneEverything tune;
  at::NoGradGuard no_grad;
  at::manual_seed(3);
  struct Case {
    std::vector<std::int64_t> x;  // the input's shape; its last size is K
    std::int64_t n;
    bool bias, row_block;  // the weight as the second row block of a [2N, K] tensor
  };
  const std::vector<Case> cases = {{{256, 192}, 320, false, false},
                                   {{2, 96, 256}, 512, true, false},
                                   {{3, 64, 128}, 384, false, true},
                                   {{512, 64}, 1000, true, true}};
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    const auto opts = at::TensorOptions(at::kCUDA).dtype(dtype);
    for (const Case& c : cases) {
      const std::int64_t K = c.x.back();
      const at::Tensor x = at::randn(c.x, opts);
      const at::Tensor full = at::randn({2 * c.n, K}, opts) * 0.1;
      const at::Tensor w = c.row_block ? full.narrow(0, c.n, c.n) : full.narrow(0, 0, c.n).contiguous();
      const at::Tensor b = c.bias ? at::randn({c.n}, opts) : at::Tensor();
      const at::Tensor tuned = tuned_linear(x, w, b);
      ASSERT_TRUE(tuned.defined()) << "K " << K << " N " << c.n;
      const at::Tensor aten = b.defined() ? at::linear(x, w, b) : at::linear(x, w);
      EXPECT_EQ(tuned.sizes(), aten.sizes());
      EXPECT_EQ(tuned.scalar_type(), dtype);
      const at::Tensor exact = reference(x, w, b);
      const double err_tuned = max_rel_error(tuned, exact), err_aten = max_rel_error(aten, exact);
      // Both round the fp32 sum once to the output's dtype: within an ulp of it (bf16 2^-8, fp16
      // 2^-11 of the value), however the algorithm orders the sum.
      EXPECT_LT(err_tuned, dtype == at::kBFloat16 ? 8e-3 : 1e-3) << "K " << K << " N " << c.n;
      EXPECT_LT(err_tuned, 2 * err_aten + 1e-4) << "K " << K << " N " << c.n;
    }
  }
}

// The products of the student's backward and the loss's head gradient: any layout of the operands
// (transposed views), fp32 or bf16 results, and beta 1 (summing into c; the candidates are timed on
// a scratch result, so the first product's sum is right too). Against fp64 products.
TEST(TunedGemmCuda, ProductsOfAnyLayoutAndFp32SumsAreRight) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  TuneEverything tune;
  at::NoGradGuard no_grad;
  at::manual_seed(11);
  const auto bf16 = at::TensorOptions(at::kCUDA).dtype(at::kBFloat16);
  const std::int64_t M = 320, K = 448, N = 192;
  for (const bool a_t : {false, true}) {
    for (const bool b_t : {false, true}) {
      for (const at::ScalarType out : {at::kFloat, at::kBFloat16}) {
        for (const float beta : {0.0f, 1.0f}) {
          if (out == at::kBFloat16 && beta != 0.0f) continue;
          const std::string what = std::string("a") + (a_t ? "^T" : "") + " b" + (b_t ? "^T" : "") + " -> " +
                                   c10::toString(out) + " beta " + std::to_string(beta);
          const at::Tensor a = a_t ? at::randn({K, M}, bf16).t() : at::randn({M, K}, bf16);
          const at::Tensor b = b_t ? at::randn({N, K}, bf16).t() : at::randn({K, N}, bf16);
          const at::Tensor c0 = at::randn({M, N}, bf16.dtype(out));
          const at::Tensor c = c0.clone();
          const std::int64_t before = tuned_gemm_products();
          ASSERT_TRUE(tuned_mm_into(c, a, b, beta, {})) << what;
          EXPECT_EQ(tuned_gemm_products(), before + 1) << what;
          const at::Tensor exact = at::mm(a.to(at::kDouble), b.to(at::kDouble)) + beta * c0.to(at::kDouble);
          // fp32: the sum of K products of bf16 values in fp32 (about K * 2^-24 of their size);
          // bf16: one rounding to bf16.
          EXPECT_LT(max_rel_error(c, exact), out == at::kFloat ? 1e-5 : 8e-3) << what;
          const at::Tensor again = c0.clone();
          ASSERT_TRUE(tuned_mm_into(again, a, b, beta, {})) << what << " (tuned)";
          EXPECT_TRUE(at::equal(again, c)) << what << ": the same algorithm gives the same bits";
        }
      }
    }
  }
  // The fp32-result products of mixed_gemm.h go this way where they are large enough.
  const at::Tensor a = at::randn({M, K}, bf16), b = at::randn({K, N}, bf16);
  const std::int64_t before = tuned_gemm_products();
  const at::Tensor c = mm_fp32(a, b);
  ASSERT_TRUE(c.defined());
  EXPECT_EQ(tuned_gemm_products(), before + 1);
  EXPECT_LT(max_rel_error(c, at::mm(a.to(at::kDouble), b.to(at::kDouble))), 1e-5);
  // What it leaves to others: fp32 operands, mixed dtypes, a bias with beta 1, an fp16 result.
  const at::Tensor c32 = at::empty({M, N}, bf16.dtype(at::kFloat));
  EXPECT_FALSE(tuned_mm_into(c32, a.to(at::kFloat), b.to(at::kFloat), 0.0f, {}));
  EXPECT_FALSE(tuned_mm_into(c32, a, b.to(at::kHalf), 0.0f, {}));
  EXPECT_FALSE(tuned_mm_into(at::empty({M, N}, bf16), a, b, 1.0f, at::zeros({N}, bf16)));
  EXPECT_FALSE(tuned_mm_into(at::empty({M, N}, bf16.dtype(at::kHalf)), a, b, 0.0f, {}));
}

TEST(TunedGemmCuda, EachShapeIsTunedOnce) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  TuneEverything tune;
  at::NoGradGuard no_grad;
  const auto opts = at::TensorOptions(at::kCUDA).dtype(at::kBFloat16);
  const at::Tensor x = at::randn({384, 448}, opts), w = at::randn({576, 448}, opts);
  const std::int64_t before = tuned_gemm_shapes();
  const at::Tensor first = tuned_linear(x, w, {});
  EXPECT_EQ(tuned_gemm_shapes(), before + 1);
  EXPECT_GE(tuned_gemm_last_choice(), 0);
  const at::Tensor again = tuned_linear(x, w, {});
  EXPECT_EQ(tuned_gemm_shapes(), before + 1);
  EXPECT_TRUE(at::equal(first, again));  // the same algorithm: the same bits
  ASSERT_TRUE(tuned_linear(x.narrow(0, 0, 320), w, {}).defined());
  EXPECT_EQ(tuned_gemm_shapes(), before + 2);
}

// By default a shape's first product stays with ATen and its second is tuned: a shape seen once
// (a prompt of a new length) costs no timing.
TEST(TunedGemmCuda, AShapeIsTunedAtItsSecondProduct) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const double min_flops = tuned_gemm_min_flops();
  set_tuned_gemm_min_flops(0);
  at::NoGradGuard no_grad;
  const auto opts = at::TensorOptions(at::kCUDA).dtype(at::kBFloat16);
  const at::Tensor x = at::randn({352, 416}, opts), w = at::randn({608, 416}, opts);
  const std::int64_t shapes = tuned_gemm_shapes();
  EXPECT_FALSE(tuned_linear(x, w, {}).defined());
  EXPECT_EQ(tuned_gemm_shapes(), shapes);
  EXPECT_TRUE(tuned_linear(x, w, {}).defined());
  EXPECT_EQ(tuned_gemm_shapes(), shapes + 1);
  set_tuned_gemm_min_flops(min_flops);
}

TEST(TunedGemmCuda, LeavesWhatItDoesNotCoverToAten) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto bf16 = at::TensorOptions(at::kCUDA).dtype(at::kBFloat16);
  const at::Tensor x = at::randn({4096, 1024}, bf16), w = at::randn({4096, 1024}, bf16);
  {
    at::NoGradGuard no_grad;
    EXPECT_FALSE(tuned_linear(x.narrow(0, 0, 8), w, {}).defined());  // below the size threshold
  }
  TuneEverything tune;
  {
    at::NoGradGuard no_grad;
    EXPECT_FALSE(tuned_linear(x.to(at::kFloat), w.to(at::kFloat), {}).defined());  // fp32
    EXPECT_FALSE(tuned_linear(x, w.to(at::kHalf), {}).defined());                  // mixed dtypes
    EXPECT_FALSE(tuned_linear(x.t(), w.narrow(0, 0, 1024), {}).defined());         // x not contiguous
    EXPECT_FALSE(tuned_linear(x.cpu(), w.cpu(), {}).defined());                    // CPU
    AutocastScope autocast(c10::DeviceType::CUDA, true, at::kHalf);
    EXPECT_FALSE(tuned_linear(x, w, {}).defined());  // autocast would cast to fp16
  }
  const at::Tensor wg = w.clone().requires_grad_(true);
  EXPECT_FALSE(tuned_linear(x, wg, {}).defined());  // autograd wants the weight's gradient
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(tuned_linear(x, wg, {}).defined());
  }
  set_tuned_gemm(false);
  at::NoGradGuard no_grad;
  EXPECT_FALSE(tuned_linear(x, w, {}).defined());
}

// A bf16 teacher's forward with every product tuned: the logits within bf16's rounding of the
// untuned ones, and as close to HF's as those are.
TEST(TunedGemmCuda, ModelLogitsWithTunedProducts) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  for (const std::string& name : testing::model_fixtures()) {
    auto golden = io::SafetensorsFile::open(testing::golden_path(name));
    ASSERT_NE(golden->find("logits_bf16"), nullptr) << "fixtures were made without CUDA";
    models::CausalLM model = models::load_model(testing::model_dir(name), {at::kBFloat16, at::kCUDA, false});
    at::NoGradGuard no_grad;
    const at::Tensor ids = golden->tensor("input_ids").cuda();
    set_tuned_gemm(false);
    const at::Tensor plain = model->forward(ids).to(at::kFloat).cpu();
    const std::int64_t before = tuned_gemm_products();
    at::Tensor tuned;
    {
      TuneEverything tune;
      tuned = model->forward(ids).to(at::kFloat).cpu();
    }
    EXPECT_GT(tuned_gemm_products(), before) << name << ": no product went the tuned way";
    EXPECT_LT(max_rel_error(tuned, plain), 2e-2) << name;
    EXPECT_LT(max_rel_error(tuned, golden->tensor("logits_bf16")), 3e-2) << name;
  }
}

}  // namespace
}  // namespace distill
