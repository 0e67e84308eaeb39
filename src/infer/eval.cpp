// Sliding-window perplexity, teacher agreement and multiple-choice scoring.
#include "distill/infer/eval.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "distill/util/errors.h"

namespace distill::infer {
namespace {

struct Window {
  std::int64_t begin, end, first;  // positions first .. end-1 are predicted from [begin, end)
};

std::vector<Window> windows(std::int64_t n, std::int64_t max_length, std::int64_t stride) {
  std::vector<Window> out;
  std::int64_t prev_end = 0;
  for (std::int64_t begin = 0;; begin += stride) {
    const std::int64_t end = std::min(begin + max_length, n);
    const std::int64_t first = std::max(prev_end, begin + 1);
    if (first < end) out.push_back({begin, end, first});
    prev_end = end;
    if (end == n) return out;
  }
}

at::Tensor ids_tensor(const std::vector<std::int64_t>& ids, std::int64_t begin, std::int64_t end, const at::Device& d) {
  return at::tensor(std::vector<std::int64_t>(ids.begin() + begin, ids.begin() + end), at::kLong).to(d).unsqueeze(0);
}

void check_ids(const std::vector<std::int64_t>& ids, std::int64_t vocab) {
  for (std::int64_t id : ids) {
    if (id < 0 || id >= vocab) {
      throw InputError("evaluation data", "token id " + std::to_string(id) + " is outside the model's vocabulary [0, " +
                                               std::to_string(vocab) + ")",
                       "tokenize the data with the model's own tokenizer");
    }
  }
}

}  // namespace

double ModelScore::mean_ce() const { return tokens > 0 ? nll_sum / static_cast<double>(tokens) : 0.0; }
double ModelScore::perplexity() const { return std::exp(mean_ce()); }

EvalResult evaluate(models::CausalLMImpl& model, models::CausalLMImpl* teacher,
                    const std::vector<std::vector<std::int64_t>>& sequences, const EvalOptions& o) {
  EvalResult r;
  r.max_length = o.max_length > 0 ? o.max_length : std::min<std::int64_t>(model.spec().max_positions > 0
                                                                               ? model.spec().max_positions
                                                                               : 2048,
                                                                           2048);
  if (teacher && teacher->spec().max_positions > 0) r.max_length = std::min(r.max_length, teacher->spec().max_positions);
  r.stride = o.stride > 0 ? o.stride : std::max<std::int64_t>(1, r.max_length / 2);
  if (r.max_length < 2) throw UsageError("--max-length must be at least 2");
  if (r.stride > r.max_length) throw UsageError("--stride must not exceed --max-length (tokens would go unscored)");
  r.with_teacher = teacher != nullptr;
  const std::int64_t vocab = teacher ? std::min(model.spec().vocab_size, teacher->spec().vocab_size) : model.spec().vocab_size;

  torch::NoGradGuard no_grad;
  const at::Device device = model.device();
  const auto f64 = at::TensorOptions().dtype(at::kDouble).device(device);
  at::Tensor s_nll = at::zeros({}, f64), t_nll = at::zeros({}, f64), agree = at::zeros({}, f64),
             kl = at::zeros({}, f64), top5 = at::zeros({}, f64);
  std::int64_t budget = o.max_tokens > 0 ? o.max_tokens : -1;
  for (const auto& seq : sequences) {
    if (budget == 0) break;
    check_ids(seq, vocab);
    ++r.sequences;
    for (const Window& w : windows(static_cast<std::int64_t>(seq.size()), r.max_length, r.stride)) {
      const std::int64_t first = w.first;
      std::int64_t end = w.end;
      if (budget >= 0) end = std::min(end, first + budget);  // --max-tokens: the window's tail goes
      const at::Tensor ids = ids_tensor(seq, w.begin, end, device);
      const at::Tensor hs = model.hidden_states(ids).squeeze(0);                       // (T, E)
      const at::Tensor ht = teacher ? teacher->hidden_states(ids.to(teacher->device())).squeeze(0) : at::Tensor();
      const at::Tensor targets = ids_tensor(seq, first, end, device).squeeze(0);      // (n)
      const std::int64_t n = end - first, row0 = first - w.begin - 1;  // hidden row p predicts token begin + p + 1
      for (std::int64_t c = 0; c < n; c += o.chunk) {
        const std::int64_t m = std::min(o.chunk, n - c);
        const at::Tensor tgt = targets.narrow(0, c, m).unsqueeze(1);
        const at::Tensor sl =
            at::log_softmax(model.logits(hs.narrow(0, row0 + c, m)).to(at::kDouble).narrow(1, 0, vocab), 1);
        s_nll -= sl.gather(1, tgt).sum();
        if (teacher) {
          const at::Tensor tl = at::log_softmax(
              teacher->logits(ht.narrow(0, row0 + c, m)).to(device).to(at::kDouble).narrow(1, 0, vocab), 1);
          t_nll -= tl.gather(1, tgt).sum();
          agree += sl.argmax(1).eq(tl.argmax(1)).sum().to(at::kDouble);
          kl += (tl.exp() * (tl - sl)).sum();
          const at::Tensor s5 = std::get<1>(sl.topk(5, 1)).unsqueeze(2), t5 = std::get<1>(tl.topk(5, 1)).unsqueeze(1);
          top5 += s5.eq(t5).sum().to(at::kDouble) / 5.0;
        }
      }
      r.tokens += n;
      if (budget >= 0) budget -= n;
      if (budget == 0) break;
    }
  }
  const double tokens = static_cast<double>(std::max<std::int64_t>(r.tokens, 1));
  r.student.tokens = r.teacher.tokens = r.tokens;
  r.student.nll_sum = s_nll.item<double>();
  if (teacher) {
    r.teacher.nll_sum = t_nll.item<double>();
    r.top1_agreement = agree.item<double>() / tokens;
    r.mean_kl = kl.item<double>() / tokens;
    r.top5_overlap = top5.item<double>() / tokens;
  }
  return r;
}

ChoiceResult score_choices(models::CausalLMImpl& model, const std::vector<ChoiceItem>& items) {
  torch::NoGradGuard no_grad;
  ChoiceResult r;
  std::int64_t correct = 0;
  for (const ChoiceItem& item : items) {
    if (item.context.empty()) throw InputError("multiple-choice data", "an item has an empty context");
    std::vector<double> lls;
    for (const auto& choice : item.choices) {
      std::vector<std::int64_t> ids = item.context;
      ids.insert(ids.end(), choice.begin(), choice.end());
      check_ids(ids, model.spec().vocab_size);
      const auto c = static_cast<std::int64_t>(item.context.size());
      const auto k = static_cast<std::int64_t>(choice.size());
      const at::Tensor hs = model.hidden_states(ids_tensor(ids, 0, c + k, model.device())).squeeze(0);
      const at::Tensor lp = at::log_softmax(model.logits(hs.narrow(0, c - 1, k)).to(at::kDouble), 1);
      const at::Tensor tgt = ids_tensor(ids, c, c + k, model.device()).squeeze(0).unsqueeze(1);
      lls.push_back(k > 0 ? lp.gather(1, tgt).sum().item<double>() : 0.0);
    }
    const auto best = static_cast<std::int64_t>(std::max_element(lls.begin(), lls.end()) - lls.begin());
    r.predicted.push_back(best);
    correct += best == item.answer ? 1 : 0;
    r.loglik.push_back(std::move(lls));
  }
  r.accuracy = items.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(items.size());
  return r;
}

}  // namespace distill::infer
