// Giving the student the teacher's vocabulary: the plan (which student rows make each new row) and
// the new model.
#include "distill/xtok/transplant.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "distill/tokenizer/utf8.h"
#include "distill/util/errors.h"

namespace distill::xtok {

TransplantPlan plan_transplant(const tokenizer::Tokenizer& teacher, const tokenizer::Tokenizer& student,
                               const VocabMap& map, std::int64_t rows) {
  if (rows < map.teacher_vocab) {
    throw Error(ExitCode::kInternal, "transplant: " + std::to_string(rows) + " rows for a vocabulary of " +
                                         std::to_string(map.teacher_vocab));
  }
  const std::vector<TokenText> t_text = token_texts(teacher), s_text = token_texts(student);
  std::unordered_map<std::string, std::int32_t> single_byte;  // one raw byte -> a student token of it
  for (std::size_t id = 0; id < s_text.size(); ++id) {
    if (s_text[id].present && !s_text[id].special && s_text[id].bytes.size() == 1) {
      single_byte.emplace(s_text[id].bytes, static_cast<std::int32_t>(id));
    }
  }
  TransplantPlan plan;
  plan.sources.resize(static_cast<std::size_t>(rows));
  std::vector<std::size_t> to_encode;
  std::vector<std::string_view> texts;
  for (std::size_t id = 0; id < t_text.size(); ++id) {
    const TokenText& t = t_text[id];
    if (map.teacher_to_student[id] >= 0) {
      plan.sources[id] = {map.teacher_to_student[id]};
    } else if (t.present && !t.special && !t.bytes.empty()) {
      if (tokenizer::utf8::is_valid(t.bytes)) {
        to_encode.push_back(id);
        texts.push_back(t.bytes);
      } else {
        for (const char b : t.bytes) {
          const auto it = single_byte.find(std::string(1, b));
          if (it != single_byte.end()) plan.sources[id].push_back(it->second);
        }
      }
    }
  }
  const std::vector<tokenizer::Encoding> encoded = student.encode_batch(texts);
  for (std::size_t k = 0; k < to_encode.size(); ++k) {
    for (const auto sid : encoded[k].ids) plan.sources[to_encode[k]].push_back(sid);
  }
  for (const auto& s : plan.sources) {
    if (s.size() == 1) ++plan.copied;
    else if (s.empty()) ++plan.fallback;
    else ++plan.averaged;
  }
  return plan;
}

models::ModelSpec transplanted_spec(models::ModelSpec spec, std::int64_t rows, const tokenizer::SpecialTokens& teacher) {
  spec.vocab_size = rows;
  spec.hf_config["vocab_size"] = rows;
  const auto set_id = [&](const char* key, const std::optional<tokenizer::TokenId>& id) {
    if (id) spec.hf_config[key] = *id;
    else if (spec.hf_config.contains(key)) spec.hf_config[key] = nullptr;
  };
  set_id("bos_token_id", teacher.bos);
  set_id("eos_token_id", teacher.eos);
  set_id("pad_token_id", teacher.pad);
  return spec;
}

namespace {

// old (Vs, E) -> (rows, E): row r = mean of old[sources[r]], or the mean of all rows (no sources,
// or several when `pieces` is false).
at::Tensor rebuild_rows(const at::Tensor& old, const TransplantPlan& plan, bool pieces) {
  const auto rows = static_cast<std::int64_t>(plan.sources.size());
  std::vector<std::int64_t> dst, src;
  std::vector<float> weight;
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto& ids = plan.sources[static_cast<std::size_t>(r)];
    if (!pieces && ids.size() > 1) continue;
    for (const auto id : ids) {
      if (id < 0 || id >= old.size(0)) continue;  // a tokenizer id past the model's rows
      dst.push_back(r);
      src.push_back(id);
      weight.push_back(1.0f / static_cast<float>(ids.size()));
    }
  }
  const auto on = [&](auto& v, at::ScalarType t) {
    return at::from_blob(v.data(), {static_cast<std::int64_t>(v.size())}, at::TensorOptions().dtype(t))
        .clone()
        .to(old.device());
  };
  const at::Tensor w32 = old.to(at::kFloat);
  at::Tensor out = w32.mean(0, /*keepdim=*/true).expand({rows, old.size(1)}).clone();  // (rows, E)
  const at::Tensor d = on(dst, at::kLong), s = on(src, at::kLong), w = on(weight, at::kFloat);
  std::vector<std::int64_t> unique_dst = dst;
  unique_dst.erase(std::unique(unique_dst.begin(), unique_dst.end()), unique_dst.end());
  out.index_fill_(0, on(unique_dst, at::kLong), 0.0);
  out.index_add_(0, d, w32.index_select(0, s) * w.unsqueeze(1));
  // Exact copies stay bit-exact (a mean of one row times 1.0 is the row itself in fp32).
  return out.to(old.scalar_type());
}

// NewRows::kLow on `model` (new head rows at the mean row `mean_row`): the new rows'
// (is_new, (rows) bool) logits are lowered along -hbar by the delta that minimises the probe's
// cross-entropy. Returns the new rows' value.
at::Tensor low_rows(models::CausalLMImpl& model, const at::Tensor& mean_row, const at::Tensor& is_new,
                    const at::Tensor& probe, LowRowsReport& report) {
  if (!probe.defined() || probe.dim() != 2 || probe.size(1) < 2) {
    throw Error(ExitCode::kInternal, "transplant: new rows 'low' need a probe of training text (rows of >= 2 tokens)");
  }
  const at::Tensor ids = probe.to(model.device(), at::kLong);
  const at::Tensor h = model.hidden_states(ids).to(at::kFloat);  // (N, T, E)
  const std::int64_t E = h.size(-1);
  const at::Tensor hbar = h.reshape({-1, E}).mean(0);            // (E)
  const at::Tensor dir = hbar / hbar.dot(hbar);                  // h . dir = 1 at h = hbar
  // Positions with a next token: (P, E) hidden states and their targets.
  const at::Tensor hp = h.narrow(1, 0, h.size(1) - 1).reshape({-1, E});
  const at::Tensor target = ids.narrow(1, 1, ids.size(1) - 1).reshape({-1});
  const at::Tensor w = model.lm_head_weight().to(at::kFloat);   // (rows, E), new rows = mean_row
  const at::Tensor not_new = is_new.logical_not();
  const double n_new = static_cast<double>(is_new.sum().item<std::int64_t>());
  // Per position: c = h . dir (how much a new row's logit drops per unit of delta), m = the mean
  // row's logit, lt = logsumexp of the copied rows' logits (they do not move).
  const at::Tensor c = hp.matmul(dir), m = hp.matmul(mean_row.to(at::kFloat));
  std::vector<at::Tensor> lts;
  for (std::int64_t p = 0; p < hp.size(0); p += 256) {
    const at::Tensor logits = hp.narrow(0, p, std::min<std::int64_t>(256, hp.size(0) - p)).matmul(w.t());
    lts.push_back(logits.masked_fill(is_new, -std::numeric_limits<float>::infinity()).logsumexp(-1));
  }
  const at::Tensor lt = at::cat(lts).to(at::kDouble), cd = c.to(at::kDouble);
  const at::Tensor base = m.to(at::kDouble) + std::log(n_new) - lt;  // log(new mass / copied mass) at delta 0
  const at::Tensor new_target = is_new.index_select(0, target).to(at::kDouble);
  // d CE / d delta = mean(c * (new_target - mass_new(delta))): increasing (the CE is convex in delta).
  const auto mass = [&](double delta) { return at::sigmoid(base - delta * cd); };
  const auto slope = [&](double delta) { return (cd * (new_target - mass(delta))).mean().item<double>(); };
  double lo = 0.0, hi = 64.0;
  if (slope(lo) >= 0.0) hi = 0.0;
  else if (slope(hi) < 0.0) lo = hi;
  for (int k = 0; k < 60 && hi - lo > 1e-6; ++k) {
    const double mid = (lo + hi) / 2;
    (slope(mid) < 0.0 ? lo : hi) = mid;
  }
  report.delta = (lo + hi) / 2;
  report.positions = hp.size(0);
  report.new_targets = static_cast<std::int64_t>(new_target.sum().item<double>());
  report.mass_mean = mass(0.0).mean().item<double>();
  report.mass_low = mass(report.delta).mean().item<double>();
  report.below_zero = (c < 0).to(at::kDouble).mean().item<double>();
  return mean_row.to(at::kFloat) - report.delta * dir;
}

}  // namespace

at::Tensor probe_rows(const data::Corpus& corpus, std::int64_t seq_len, std::int64_t max_tokens) {
  const std::int64_t n = corpus.num_documents(), rows = std::max<std::int64_t>(1, max_tokens / seq_len);
  const std::int64_t want = rows * seq_len, docs = std::min(n, rows);
  std::vector<std::int64_t> stream;
  const std::int64_t cap = docs > 0 ? (want + docs - 1) / docs : 0;  // tokens per document at most
  for (std::int64_t i = 0; i < docs; ++i) {
    const std::int64_t doc = i * n / docs, len = std::min(corpus.length(doc), cap);
    const std::size_t at = stream.size();
    stream.resize(at + static_cast<std::size_t>(len));
    corpus.copy_tokens(doc, 0, len, stream.data() + at);
    if (const auto eos = corpus.eos()) stream.push_back(*eos);
  }
  const auto total = static_cast<std::int64_t>(stream.size());
  const std::int64_t t = std::min(seq_len, total), r = t > 0 ? std::min(rows, total / t) : 0;
  return at::from_blob(stream.data(), {r, t}, at::TensorOptions().dtype(at::kLong)).clone();
}

models::CausalLM transplant(models::CausalLMImpl& student, const TransplantPlan& plan,
                            const tokenizer::SpecialTokens& teacher_special, NewRows new_rows,
                            const at::Tensor& probe, LowRowsReport* report) {
  const auto rows = static_cast<std::int64_t>(plan.sources.size());
  models::ModelSpec spec = transplanted_spec(student.spec(), rows, teacher_special);
  const auto options = at::TensorOptions().dtype(student.dtype()).device(student.device());
  models::CausalLM out(spec, options);
  const auto old_params = student.named_parameters();
  at::NoGradGuard no_grad;
  for (auto& item : out->named_parameters()) {
    const at::Tensor* old = old_params.find(item.key());
    if (!old) throw Error(ExitCode::kInternal, "transplant: no student parameter " + item.key());
    at::Tensor p = item.value();
    if (item.key() == "embed.weight" || item.key() == "lm_head.weight") {
      // The head's rule applies to the head, and to the embedding when it is the head (tied).
      const bool head = item.key() == "lm_head.weight" || spec.tie_word_embeddings;
      p.copy_(rebuild_rows(*old, plan, !(head && new_rows != NewRows::kPieces)));
    } else {
      p.copy_(*old);
    }
    p.set_requires_grad(old->requires_grad());
  }
  if (new_rows == NewRows::kLow) {
    // Rows not copied from one student token: all at the mean head row now.
    const at::Tensor old_head = student.lm_head_weight();
    std::vector<std::uint8_t> fresh(static_cast<std::size_t>(rows), 1);
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto& ids = plan.sources[static_cast<std::size_t>(r)];
      if (ids.size() == 1 && ids[0] >= 0 && ids[0] < old_head.size(0)) fresh[static_cast<std::size_t>(r)] = 0;
    }
    const at::Tensor is_new =
        at::from_blob(fresh.data(), {rows}, at::TensorOptions().dtype(at::kBool)).clone().to(student.device());
    LowRowsReport local;
    const at::Tensor row = low_rows(*out, old_head.to(at::kFloat).mean(0), is_new, probe, report ? *report : local);
    at::Tensor head = out->lm_head_weight();
    head.index_copy_(0, is_new.nonzero().squeeze(1),
                     row.to(head.scalar_type()).unsqueeze(0).expand({is_new.sum().item<std::int64_t>(), head.size(1)}));
  }
  return out;
}

}  // namespace distill::xtok
