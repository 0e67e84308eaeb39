// Calibration: an ActivationObserver that accumulates squared activations per head, channel and
// layer while the teacher runs over the calibration sequences.
#include "distill/student/importance.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>

namespace distill::student {
namespace {

class Accumulator : public models::ActivationObserver {
 public:
  explicit Accumulator(const models::ModelSpec& s, const at::Device& device) {
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
    influence_ = at::zeros({s.num_layers}, f32.dtype(at::kDouble));
    heads_ = at::zeros({s.num_layers, s.num_heads}, f32);
    channels_ = at::zeros({s.num_layers, s.intermediate_size}, f32);
    hidden_ = at::zeros({s.num_layers, s.hidden_size}, f32);
  }

  void layer_io(std::int64_t layer, const at::Tensor& input, const at::Tensor& output) override {
    const at::Tensor cos = at::cosine_similarity(input.to(at::kFloat), output.to(at::kFloat), -1);  // (B, T)
    influence_[layer].add_((1.0 - cos).sum().to(at::kDouble));
  }
  void norm_output(std::int64_t layer, const at::Tensor& x) override {
    hidden_[layer].add_(x.to(at::kFloat).square().flatten(0, -2).sum(0), 0.5);  // mean of the two norms
  }
  void attention_heads(std::int64_t layer, const at::Tensor& y) override {
    heads_[layer].add_(y.to(at::kFloat).square().sum({0, 2, 3}));  // (B, H, T, D) -> (H)
  }
  void mlp_hidden(std::int64_t layer, const at::Tensor& h) override {
    channels_[layer].add_(h.to(at::kFloat).square().flatten(0, -2).sum(0));
  }

  Importance result(std::int64_t tokens, std::int64_t head_dim) const {
    Importance r;
    r.tokens = tokens;
    const double n = static_cast<double>(std::max<std::int64_t>(tokens, 1));
    r.block_influence = (influence_ / n).cpu();
    r.heads = (heads_ / (n * static_cast<double>(head_dim))).sqrt().cpu();
    r.channels = (channels_ / n).sqrt().cpu();
    r.hidden = (hidden_ / n).sqrt().cpu();
    return r;
  }

 private:
  at::Tensor influence_, heads_, channels_, hidden_;
};

}  // namespace

Importance measure_importance(models::CausalLMImpl& model, const std::vector<std::vector<std::int64_t>>& sequences,
                              std::int64_t max_len) {
  Accumulator acc(model.spec(), model.device());
  torch::NoGradGuard no_grad;
  model.set_observer(&acc);
  std::int64_t tokens = 0;
  try {
    for (const auto& seq : sequences) {
      const std::int64_t n = std::min<std::int64_t>(static_cast<std::int64_t>(seq.size()), max_len);
      if (n == 0) continue;
      const std::vector<std::int64_t> ids(seq.begin(), seq.begin() + n);
      model.hidden_states(at::tensor(ids, at::kLong).to(model.device()).unsqueeze(0));
      tokens += n;
    }
  } catch (...) {
    model.set_observer(nullptr);
    throw;
  }
  model.set_observer(nullptr);
  return acc.result(tokens, model.spec().head_dim);
}

}  // namespace distill::student
