// The loss options: kind names, the loss.* config keys, range checks, whether a teacher is needed.
#include <sstream>

#include "distill/config/config.h"
#include "distill/loss/kd_loss.h"
#include "distill/util/errors.h"

namespace distill::loss {

LossKind parse_loss_kind(const std::string& name) {
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD, LossKind::kCE}) {
    if (name == to_string(kind)) return kind;
  }
  throw UsageError("loss.kind must be one of forward_kl, reverse_kl, jsd, ce; got \"" + name + "\"");
}

const char* to_string(LossKind kind) {
  switch (kind) {
    case LossKind::kForwardKL: return "forward_kl";
    case LossKind::kReverseKL: return "reverse_kl";
    case LossKind::kJSD: return "jsd";
    case LossKind::kCE: return "ce";
  }
  return "?";
}

KdLossOptions options_from_config(const config::LossConfig& config) {
  KdLossOptions options;
  options.kind = parse_loss_kind(config.kind);
  options.temperature = config.temperature;
  options.alpha = config.alpha;
  options.beta = config.beta;
  options.chunk_tokens = config.chunk_tokens;
  validate(options);
  return options;
}

void validate(const KdLossOptions& options) {
  const auto fail = [](const std::string& key, const std::string& rule, double value) {
    std::ostringstream message;
    message << "key '" << key << "' must be " << rule << ", got " << value;
    throw UsageError(message.str());
  };
  // Written so that NaN fails too.
  if (!(options.temperature > 0.0)) fail("loss.temperature", "> 0", options.temperature);
  if (!(options.alpha >= 0.0 && options.alpha <= 1.0)) fail("loss.alpha", "in [0, 1]", options.alpha);
  if (!(options.beta >= 0.0 && options.beta <= 1.0)) fail("loss.beta", "in [0, 1]", options.beta);
  if (options.chunk_tokens < 1) fail("loss.chunk_tokens", ">= 1", static_cast<double>(options.chunk_tokens));
}

bool needs_teacher(const KdLossOptions& options) { return options.kind != LossKind::kCE && options.alpha > 0.0; }

}  // namespace distill::loss
