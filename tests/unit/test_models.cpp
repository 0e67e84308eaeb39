// Model loading errors, spec parsing, RoPE frequencies and activation checkpointing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/core/grad_mode.h>

#include <cmath>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "distill/util/files.h"
#include "distill/io/safetensors.h"
#include "distill/models/init.h"
#include "distill/models/layers.h"
#include "distill/models/loader.h"
#include "distill/models/registry.h"
#include "distill/util/errors.h"
#include "../../src/models/linear_ops.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

using testing::model_dir;
using testing::TempDir;

// A copy of a fixture folder that a test may break.
std::string copy_fixture(const TempDir& tmp, const std::string& name) {
  const std::string dst = tmp.file(name);
  files::create_directories(dst);
  for (const std::string& file : files::list_directory(model_dir(name))) {
    testing::write_file(files::join(dst, file), testing::read_file(files::join(model_dir(name), file)));
  }
  return dst;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

void write_json(const std::string& path, const nlohmann::json& j) { testing::write_file(path, j.dump(2)); }

// Expects load_model to fail with exit code 3 and a message containing every `needle`.
void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
  try {
    models::load_model(dir);
    FAIL() << "expected an InputError for " << dir;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput) << e.what();
    const std::string text = std::string(e.what()) + "\n" + e.hint();  // what is printed: message + hint
    for (const auto& needle : needles) EXPECT_NE(text.find(needle), std::string::npos) << text;
  }
}

// Rewrites model.safetensors with `edit` applied to its (name, tensor) list.
template <typename Edit>
void rewrite_weights(const std::string& dir, Edit edit) {
  const std::string path = dir + "/model.safetensors";
  io::NamedTensors tensors;
  {
    auto file = io::SafetensorsFile::open(path);
    for (const auto& info : file->header().tensors) tensors.emplace_back(info.name, file->tensor(info.name).clone());
  }
  edit(tensors);
  io::save_file(path, tensors, {{"format", "pt"}});
}

TEST(ModelErrors, MissingTensorIsNamed) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "llama");
  rewrite_weights(dir, [](io::NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](const auto& p) { return p.first == "model.layers.1.mlp.up_proj.weight"; }),
            t.end());
  });
  expect_load_error(dir, {"missing", "model.layers.1.mlp.up_proj.weight"});
}

TEST(ModelErrors, WrongShapeNamesTensorAndShapes) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "qwen2");
  rewrite_weights(dir, [](io::NamedTensors& t) {
    for (auto& [name, tensor] : t) {
      if (name == "model.layers.0.self_attn.k_proj.weight") tensor = torch::zeros({8, 48});
    }
  });
  expect_load_error(dir, {"model.layers.0.self_attn.k_proj.weight", "wrong shape", "[24, 48]", "[8, 48]"});
}

TEST(ModelErrors, IntegerWeightIsRejected) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "gpt2");
  rewrite_weights(dir, [](io::NamedTensors& t) {
    for (auto& [name, tensor] : t) {
      if (name == "transformer.ln_f.bias") tensor = torch::zeros({48}, torch::kInt32);
    }
  });
  expect_load_error(dir, {"transformer.ln_f.bias", "I32"});
}

TEST(ModelErrors, UnknownArchitectureListsSupportedOnes) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "llama");
  auto cfg = read_json(dir + "/config.json");
  cfg["architectures"] = {"FalconForCausalLM"};
  cfg["model_type"] = "falcon";
  write_json(dir + "/config.json", cfg);
  expect_load_error(dir, {"config.json", "FalconForCausalLM", "LlamaForCausalLM"});
}

TEST(ModelErrors, MissingConfigJson) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "opt");
  files::remove_file(dir + "/config.json");
  expect_load_error(dir, {"config.json", "missing"});
}

TEST(ModelErrors, MissingFolder) { expect_load_error("/nonexistent/model", {"/nonexistent/model", "does not exist"}); }

TEST(ModelErrors, ConfigWithFewerLayersThanWeights) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "mistral");
  auto cfg = read_json(dir + "/config.json");
  cfg["num_hidden_layers"] = 1;
  if (cfg.contains("layer_types")) cfg.erase("layer_types");
  write_json(dir + "/config.json", cfg);
  expect_load_error(dir, {"does not account for", "model.layers.1."});
}

TEST(ModelErrors, ConfigContradictingVocabSize) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "qwen3");
  auto cfg = read_json(dir + "/config.json");
  cfg["vocab_size"] = 1234;
  write_json(dir + "/config.json", cfg);
  expect_load_error(dir, {"model.embed_tokens.weight", "[1234, 48]", "[1000, 48]"});
}

TEST(ModelErrors, MistypedConfigKeyIsNamed) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "llama");
  auto cfg = read_json(dir + "/config.json");
  cfg["hidden_size"] = "48";
  write_json(dir + "/config.json", cfg);
  expect_load_error(dir, {"hidden_size", "integer"});
}

TEST(ModelErrors, UnsupportedRopeTypeIsNamed) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "llama");
  auto cfg = read_json(dir + "/config.json");
  cfg.erase("rope_parameters");
  cfg["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  write_json(dir + "/config.json", cfg);
  expect_load_error(dir, {"yarn", "rope_type"});
}

TEST(ModelErrors, KvHeadsMustDivideHeads) {
  TempDir tmp;
  const std::string dir = copy_fixture(tmp, "llama");
  auto cfg = read_json(dir + "/config.json");
  cfg["num_key_value_heads"] = 3;
  write_json(dir + "/config.json", cfg);
  expect_load_error(dir, {"num_key_value_heads", "divide"});
}

TEST(ModelSpec, Qwen3DefaultsHeadDimTo128) {
  models::HfConfig cfg({{"architectures", {"Qwen3ForCausalLM"}}, {"vocab_size", 10}, {"hidden_size", 64},
                        {"intermediate_size", 32}, {"num_hidden_layers", 1}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 2}},
                       "config.json");
  const models::ModelSpec spec = models::spec_from_config(cfg);
  EXPECT_EQ(spec.head_dim, 128);
  EXPECT_TRUE(spec.qk_norm);
}

TEST(ModelSpec, LegacyRopeScalingIsRead) {
  models::HfConfig cfg({{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 10}, {"hidden_size", 64},
                        {"intermediate_size", 32}, {"num_hidden_layers", 1}, {"num_attention_heads", 4},
                        {"rope_theta", 500000.0},
                        {"rope_scaling", {{"type", "linear"}, {"factor", 4.0}}}},
                       "config.json");
  const models::ModelSpec spec = models::spec_from_config(cfg);
  EXPECT_EQ(spec.rope.scaling, models::RopeScaling::kLinear);
  EXPECT_DOUBLE_EQ(spec.rope.factor, 4.0);
  EXPECT_DOUBLE_EQ(spec.rope.theta, 500000.0);
}

// LLaMA-3.1 frequency scaling against its definition, evaluated in double precision.
TEST(Rope, Llama3FrequenciesFollowTheDefinition) {
  models::ModelSpec spec;
  spec.head_dim = 64;
  spec.rope.theta = 500000.0;
  spec.rope.scaling = models::RopeScaling::kLlama3;
  spec.rope.factor = 8.0;
  spec.rope.low_freq_factor = 1.0;
  spec.rope.high_freq_factor = 4.0;
  spec.rope.original_max_positions = 8192;
  const at::Tensor got = models::rope_inv_freq(spec, at::kCPU);
  ASSERT_EQ(got.numel(), 32);
  int scaled = 0, kept = 0, blended = 0;
  for (int i = 0; i < 32; ++i) {
    const double base = 1.0 / std::pow(500000.0, (2.0 * i) / 64.0);
    const double wavelen = 2 * M_PI / base;
    double want;
    if (wavelen < 8192.0 / 4.0) {
      want = base, ++kept;
    } else if (wavelen > 8192.0 / 1.0) {
      want = base / 8.0, ++scaled;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      want = (1 - smooth) * base / 8.0 + smooth * base, ++blended;
    }
    EXPECT_NEAR(got[i].item<double>() / want, 1.0, 1e-5) << i;
  }
  EXPECT_GT(scaled, 0);
  EXPECT_GT(kept, 0);
  EXPECT_GT(blended, 0);
}

// Gradients with per-layer recomputation equal those of the plain run.
class Checkpointing : public ::testing::TestWithParam<std::string> {};

TEST_P(Checkpointing, GradientsEqualPlainBackward) {
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(testing::golden_path(name));
  const at::Tensor ids = golden->tensor("input_ids");
  auto grads_of = [&](bool recompute) {
    models::CausalLM model = models::load_model(model_dir(name), {at::kFloat, at::kCPU, true});
    model->set_grad_checkpointing(recompute);
    const at::Tensor logits = model->forward(ids);  // (B, T, V)
    const at::Tensor loss = at::cross_entropy_loss(logits.view({-1, logits.size(-1)}).narrow(0, 0, logits.size(0) * logits.size(1) - 1),
                                                   ids.view({-1}).narrow(0, 1, ids.numel() - 1));
    loss.backward();
    std::vector<std::pair<std::string, at::Tensor>> grads;
    for (const auto& p : model->named_parameters()) {
      EXPECT_TRUE(p.value().grad().defined()) << name << ": no gradient for " << p.key();
      if (p.value().grad().defined()) grads.emplace_back(p.key(), p.value().grad().clone());
    }
    return grads;
  };
  const auto plain = grads_of(false);
  const auto recomputed = grads_of(true);
  ASSERT_EQ(plain.size(), recomputed.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_EQ(plain[i].first, recomputed[i].first);
    EXPECT_TRUE(at::allclose(plain[i].second, recomputed[i].second, /*rtol=*/1e-6, /*atol=*/1e-9))
        << name << ": " << plain[i].first << " differs by "
        << (plain[i].second - recomputed[i].second).abs().max().item<double>();
  }
}

INSTANTIATE_TEST_SUITE_P(Families, Checkpointing, ::testing::Values("llama", "mistral", "qwen3", "opt_postnorm", "gpt2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace distill

namespace distill {
namespace {

// A LLaMA-shaped model whose embedding (65536 x 256 = 2^24 values) is drawn in chunks on all cores.
models::CausalLM large_embedding_model(at::ScalarType dtype = at::kFloat) {
  const nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 65536},
                              {"hidden_size", 256}, {"intermediate_size", 512}, {"num_hidden_layers", 1},
                              {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 64},
                              {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", true}, {"initializer_range", 0.02}};
  return models::CausalLM(models::spec_from_config(models::HfConfig(cfg, "config.json")),
                          at::TensorOptions().dtype(dtype));
}

TEST(RandomInit, LargeHostTensorsAreDrawnInSeededIndependentChunks) {
  models::CausalLM a = large_embedding_model(), b = large_embedding_model(), c = large_embedding_model();
  models::init_random(*a, 5);
  models::init_random(*b, 5);
  models::init_random(*c, 6);
  const at::Tensor ea = a->named_parameters()["embed.weight"], eb = b->named_parameters()["embed.weight"];
  const at::Tensor ec = c->named_parameters()["embed.weight"];
  ASSERT_EQ(ea.numel(), std::int64_t{1} << 24);
  EXPECT_TRUE(at::equal(ea, eb)) << "the same seed gives the same weights";
  EXPECT_FALSE(at::equal(ea, ec)) << "another seed, other weights";
  EXPECT_NEAR(ea.std().item<double>(), 0.02, 0.0004);
  EXPECT_NEAR(ea.mean().item<double>(), 0.0, 0.0002);
  // Chunks of 2^22 values come from different generators: no chunk repeats or tracks another.
  const at::Tensor flat = ea.view({-1});
  const std::int64_t chunk = std::int64_t{1} << 22;
  for (std::int64_t i = 1; i < 4; ++i) {
    const at::Tensor x = flat.narrow(0, 0, chunk), y = flat.narrow(0, i * chunk, chunk);
    const double corr = ((x * y).mean() / (x.std() * y.std())).item<double>();
    EXPECT_LT(std::abs(corr), 0.003) << "chunk 0 against chunk " << i;
  }
  // bf16 (a streamed teacher's dtype): drawn in fp32 with the same generators, then rounded.
  models::CausalLM h = large_embedding_model(at::kBFloat16);
  models::init_random(*h, 5);
  const at::Tensor eh = h->named_parameters()["embed.weight"];
  ASSERT_EQ(eh.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(eh, ea.to(at::kBFloat16)));
}

}  // namespace
}  // namespace distill

namespace distill {
namespace {

// The gated MLP's gate and up products as one autograd node (linear_ops.h) against at::linear on
// the two row blocks of the [2I, C] weight, on the CPU in fp32 (the arithmetic is the same: values
// and gradients to the bit), with and without a bias, with and without an input that needs a gradient.
TEST(GateUp, OneNodeGivesAtLinearsValuesAndGradients) {
  for (const bool with_bias : {true, false}) {
    for (const bool x_grad : {true, false}) {
      at::manual_seed(13);
      const std::int64_t I = 24, C = 16;
      const at::Tensor x0 = at::randn({3, 5, C}), w0 = at::randn({2 * I, C}), b0 = at::randn({2 * I});
      const at::Tensor up_gate = at::randn({3, 5, I}), up_up = at::randn({3, 5, I});
      struct Run {
        at::Tensor gate, up, gx, gw, gb;
      };
      const auto run = [&](bool fused) {
        const at::Tensor x = x0.clone().requires_grad_(x_grad), w = w0.clone().requires_grad_(true);
        const at::Tensor b = with_bias ? b0.clone().requires_grad_(true) : at::Tensor();
        Run r;
        if (fused) {
          std::tie(r.gate, r.up) = models::fused::gate_up(x, w, b);
          EXPECT_TRUE(r.gate.defined() && r.up.defined()) << "the one-node path must take this case";
          if (!r.gate.defined()) return r;
          EXPECT_EQ(r.gate.grad_fn()->name(), r.up.grad_fn()->name());
        } else {
          r.gate = with_bias ? at::linear(x, w.narrow(0, 0, I), b.narrow(0, 0, I)) : at::linear(x, w.narrow(0, 0, I));
          r.up = with_bias ? at::linear(x, w.narrow(0, I, I), b.narrow(0, I, I)) : at::linear(x, w.narrow(0, I, I));
        }
        ((r.gate * up_gate).sum() + (r.up * up_up).sum()).backward();
        if (x_grad) r.gx = x.grad();
        r.gw = w.grad();
        if (with_bias) r.gb = b.grad();
        return r;
      };
      const Run fused = run(true), plain = run(false);
      ASSERT_TRUE(fused.gate.defined());
      const std::string what = std::string(with_bias ? "bias" : "no bias") + (x_grad ? ", x grad" : "");
      EXPECT_TRUE(fused.gate.is_contiguous() && fused.up.is_contiguous()) << what;
      EXPECT_TRUE(at::equal(fused.gate, plain.gate)) << what;
      EXPECT_TRUE(at::equal(fused.up, plain.up)) << what;
      EXPECT_TRUE(at::allclose(fused.gw, plain.gw, 1e-6, 1e-6)) << what;
      if (x_grad) {
        EXPECT_TRUE(at::allclose(fused.gx, plain.gx, 1e-6, 1e-6)) << what;
      }
      if (with_bias) {
        EXPECT_TRUE(at::allclose(fused.gb, plain.gb, 1e-6, 1e-6)) << what;
      }
    }
  }
}

TEST(GateUp, LeavesOtherCasesToAtLinear) {
  const at::Tensor x = at::randn({2, 8}), w = at::randn({12, 8}).requires_grad_(true);
  EXPECT_TRUE(models::fused::gate_up(x, w, at::Tensor()).first.defined());
  {
    const at::AutoGradMode no_grad(false);
    EXPECT_FALSE(models::fused::gate_up(x, w, at::Tensor()).first.defined()) << "no gradient wanted (a teacher)";
  }
  EXPECT_FALSE(models::fused::gate_up(x, w.detach(), at::Tensor()).first.defined()) << "nothing needs a gradient";
  EXPECT_FALSE(models::fused::gate_up(x.to(at::kDouble), w, at::Tensor()).first.defined()) << "mixed dtypes";
  EXPECT_FALSE(models::fused::gate_up(x, at::randn({11, 8}).requires_grad_(true), at::Tensor()).first.defined())
      << "an odd row count";
}

}  // namespace
}  // namespace distill
