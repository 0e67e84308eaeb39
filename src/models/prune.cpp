// Pruning by index selection: each student parameter is its teacher parameter's kept rows and columns.
#include "distill/models/prune.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <numeric>
#include <optional>
#include <string>

#include "distill/models/registry.h"
#include "distill/util/errors.h"

namespace distill::models {
namespace {

using Indices = std::vector<std::int64_t>;

Indices iota(std::int64_t n) {
  Indices out(static_cast<size_t>(n));
  std::iota(out.begin(), out.end(), 0);
  return out;
}

// Rows [offset + i * width, offset + (i + 1) * width) for each i: whole heads of a projection.
Indices blocks(const Indices& which, std::int64_t width, std::int64_t offset = 0) {
  Indices out;
  for (std::int64_t i : which) {
    for (std::int64_t r = 0; r < width; ++r) out.push_back(offset + i * width + r);
  }
  return out;
}

Indices concat(Indices a, const Indices& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The rows and columns of one parameter that the student keeps (nullopt: all of them).
struct Selection {
  std::optional<Indices> rows, cols;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// `local` is the name inside a layer ("attn.qkv.weight") or a model-level name ("embed.weight").
Selection select(const ModelSpec& t, const PrunePlan& plan, size_t layer, const std::string& local) {
  const Indices& hidden = plan.hidden;
  const bool embed_is_hidden = t.embed_dim == t.hidden_size;  // else OPT's project_in/out carry the change
  const bool bias = ends_with(local, ".bias");
  Selection s;
  if (local == "embed.weight" || local == "lm_head.weight") {
    if (embed_is_hidden) s.cols = hidden;                                 // (V, E)
  } else if (local == "pos_embed.weight" || local == "project_out.weight") {
    s.cols = hidden;                                                      // (P, C), (E, C)
  } else if (local == "project_in.weight") {
    s.rows = hidden;                                                      // (C, E)
  } else if (local.rfind("final_norm.", 0) == 0 || local.rfind("attn_norm.", 0) == 0 ||
             local.rfind("mlp_norm.", 0) == 0) {
    s.rows = hidden;                                                      // (C)
  } else if (local.rfind("attn.qkv.", 0) == 0) {                          // (H*D + 2*KV*D, C)
    const Indices& kv = plan.kv_heads[layer];
    s.rows = concat(concat(blocks(plan.heads[layer], t.head_dim), blocks(kv, t.head_dim, t.q_size())),
                    blocks(kv, t.head_dim, t.q_size() + t.kv_size()));
    if (!bias) s.cols = hidden;
  } else if (local.rfind("attn.o.", 0) == 0) {                            // (C, H*D)
    s.rows = hidden;
    if (!bias) s.cols = blocks(plan.heads[layer], t.head_dim);
  } else if (local.rfind("attn.q_norm.", 0) == 0 || local.rfind("attn.k_norm.", 0) == 0) {
    // (D): shared by every head, untouched.
  } else if (local.rfind("mlp.up.", 0) == 0) {                            // gated: (2I, C) = gate | up; else (I, C)
    const Indices& ch = plan.channels[layer];
    s.rows = t.gated_mlp ? concat(ch, blocks(ch, 1, t.intermediate_size)) : ch;
    if (!bias) s.cols = hidden;
  } else if (local.rfind("mlp.down.", 0) == 0) {                          // (C, I)
    s.rows = hidden;
    if (!bias) s.cols = plan.channels[layer];
  } else {
    throw Error(ExitCode::kInternal, "prune: no rule for parameter '" + local + "'");
  }
  return s;
}

at::Tensor take(at::Tensor x, const Selection& s) {
  auto index = [&](const Indices& i) { return at::tensor(i, at::kLong).to(x.device()); };
  if (s.rows) x = x.index_select(0, index(*s.rows));
  if (s.cols) x = x.index_select(1, index(*s.cols));
  return x;
}

void check_uniform(const std::vector<Indices>& per_layer, size_t layers, const char* what) {
  if (per_layer.size() != layers) throw Error(ExitCode::kInternal, std::string("prune plan: ") + what + " per layer");
  for (const Indices& i : per_layer) {
    if (i.size() != per_layer.front().size()) {
      throw Error(ExitCode::kInternal, std::string("prune plan: every layer must keep as many ") + what);
    }
  }
}

ModelSpec shape_of(const ModelSpec& teacher, const PrunePlan& plan) {
  const size_t n = plan.layers.size();
  if (n == 0) throw Error(ExitCode::kInternal, "prune plan keeps no layer");
  check_uniform(plan.heads, n, "heads");
  check_uniform(plan.kv_heads, n, "kv heads");
  check_uniform(plan.channels, n, "channels");
  ModelSpec shape = teacher;
  shape.num_layers = static_cast<std::int64_t>(n);
  shape.num_heads = static_cast<std::int64_t>(plan.heads.front().size());
  shape.num_kv_heads = static_cast<std::int64_t>(plan.kv_heads.front().size());
  shape.intermediate_size = static_cast<std::int64_t>(plan.channels.front().size());
  shape.hidden_size = static_cast<std::int64_t>(plan.hidden.size());
  return shape;
}

}  // namespace

PrunePlan keep_all(const ModelSpec& spec) {
  PrunePlan plan;
  plan.layers = iota(spec.num_layers);
  const size_t n = static_cast<size_t>(spec.num_layers);
  plan.heads.assign(n, iota(spec.num_heads));
  plan.kv_heads.assign(n, iota(spec.num_kv_heads));
  plan.channels.assign(n, iota(spec.intermediate_size));
  plan.hidden = iota(spec.hidden_size);
  return plan;
}

nlohmann::json pruned_config(const ModelSpec& teacher, const PrunePlan& plan) {
  nlohmann::json config = teacher.hf_config;
  family_of(teacher).resize(config, shape_of(teacher, plan), plan.layers);
  return config;
}

CausalLM prune(CausalLMImpl& teacher, const PrunePlan& plan, const ModelSpec& student_spec) {
  const ModelSpec& t = teacher.spec();
  const ModelSpec shape = shape_of(t, plan);
  if (student_spec.num_layers != shape.num_layers || student_spec.num_heads != shape.num_heads ||
      student_spec.num_kv_heads != shape.num_kv_heads || student_spec.head_dim != t.head_dim ||
      student_spec.hidden_size != shape.hidden_size || student_spec.intermediate_size != shape.intermediate_size) {
    throw Error(ExitCode::kInternal, "prune: the student's config.json does not describe the plan's shape");
  }
  CausalLM student(student_spec, at::TensorOptions().dtype(teacher.dtype()).device(teacher.device()));
  auto source = teacher.named_parameters(/*recurse=*/true);
  torch::NoGradGuard no_grad;
  for (auto& item : student->named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    std::string teacher_name = name, local = name;
    size_t layer = 0;
    if (name.rfind("layers.", 0) == 0) {
      const size_t dot = name.find('.', 7);
      layer = std::stoul(name.substr(7, dot - 7));
      local = name.substr(dot + 1);
      teacher_name = "layers." + std::to_string(plan.layers.at(layer)) + "." + local;
    }
    const at::Tensor* src = source.find(teacher_name);
    if (!src) throw Error(ExitCode::kInternal, "prune: the teacher has no parameter '" + teacher_name + "'");
    const at::Tensor kept = take(*src, select(t, plan, layer, local));
    if (!kept.sizes().equals(item.value().sizes())) {
      throw Error(ExitCode::kInternal, "prune: '" + name + "' selects the wrong shape");
    }
    item.value().copy_(kept);
  }
  return student;
}

}  // namespace distill::models
