// Giving the student the teacher's vocabulary: the plan (which student rows make each new row) and
// the new model.
#include "distill/xtok/transplant.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
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

}  // namespace

models::CausalLM transplant(models::CausalLMImpl& student, const TransplantPlan& plan,
                            const tokenizer::SpecialTokens& teacher_special, NewRows new_rows) {
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
      p.copy_(rebuild_rows(*old, plan, !(head && new_rows == NewRows::kMean)));
    } else {
      p.copy_(*old);
    }
    p.set_requires_grad(old->requires_grad());
  }
  return out;
}

}  // namespace distill::xtok
