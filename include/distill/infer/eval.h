// Held-out evaluation of a model, alone or against a teacher: perplexity with a strided sliding
// window, teacher agreement, and multiple-choice scoring by log-likelihood.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "distill/models/causal_lm.h"

namespace distill::infer {

struct EvalOptions {
  std::int64_t max_length = 0;  // tokens per window; 0: the model's context (at most 2048)
  std::int64_t stride = 0;      // window start step; 0: max_length / 2
  std::int64_t max_tokens = 0;  // stop after scoring this many tokens; 0: all
  std::int64_t chunk = 256;     // positions per log-softmax chunk (memory O(chunk * V))
};

struct ModelScore {
  double nll_sum = 0.0;  // summed negative log-likelihood (nats) of the predicted tokens
  double mean_ce() const;
  double perplexity() const;
  std::int64_t tokens = 0;
};

struct EvalResult {
  std::int64_t sequences = 0;
  std::int64_t tokens = 0;  // predicted tokens (each sequence's first token is not predicted)
  std::int64_t max_length = 0, stride = 0;
  ModelScore student;
  bool with_teacher = false;
  ModelScore teacher;
  double top1_agreement = 0.0;  // share of tokens where both models' argmax agree
  double mean_kl = 0.0;         // mean KL(teacher || student), temperature 1
  double top5_overlap = 0.0;    // mean |top5(student) & top5(teacher)| / 5
};

// Sliding-window evaluation of `sequences` (token ids). Windows of max_length start every `stride`
// tokens; each scores only the tokens after the previous window's end, so every token but a
// sequence's first is predicted once, with up to max_length - 1 tokens of context.
EvalResult evaluate(models::CausalLMImpl& model, models::CausalLMImpl* teacher,
                    const std::vector<std::vector<std::int64_t>>& sequences, const EvalOptions& options);

struct ChoiceItem {
  std::vector<std::int64_t> context;
  std::vector<std::vector<std::int64_t>> choices;
  std::int64_t answer = 0;
};

struct ChoiceResult {
  std::vector<std::vector<double>> loglik;  // per item, per choice: sum log p(choice tokens | context)
  std::vector<std::int64_t> predicted;      // per item: the choice with the highest log-likelihood
  double accuracy = 0.0;
};

// Multiple choice the lm-evaluation-harness way: the choice whose tokens are most likely after the
// context is the model's answer.
ChoiceResult score_choices(models::CausalLMImpl& model, const std::vector<ChoiceItem>& items);

}  // namespace distill::infer
