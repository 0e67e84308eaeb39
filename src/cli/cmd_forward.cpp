// `distill forward`: the public parity tool. input_ids from a safetensors file in, fp32 logits out.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/torch.h>

#include <memory>

#include "distill/cli/commands.h"
#include "distill/io/safetensors.h"
#include "distill/models/loader.h"
#include "distill/util/device.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::cli {
namespace {

struct ForwardCliOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string dtype = "fp32";
  std::string device = "cpu";
};

// input_ids / attention_mask from the input file: 2-D integers, converted to int64.
at::Tensor read_ids(const io::SafetensorsFile& file, const std::string& name, bool required) {
  const io::TensorInfo* info = file.find(name);
  if (!info) {
    if (required) throw InputError(file.path(), "no tensor '" + name + "'", "the input must hold input_ids (int64, [B, T])");
    return {};
  }
  at::Tensor t = file.tensor(name);
  if (t.dim() != 2) {
    throw InputError(file.path(), "tensor '" + name + "' must be 2-D [B, T], got " + std::to_string(t.dim()) + "-D");
  }
  if (at::isFloatingType(t.scalar_type())) {
    throw InputError(file.path(), "tensor '" + name + "' must hold integers, got " + io::dtype_name(info->dtype));
  }
  return t.to(at::kLong);
}

int run_forward(const ForwardCliOptions& o) {
  const at::ScalarType dtype = models::parse_dtype(o.dtype, "--dtype");
  const c10::Device device = resolve_device(o.device, "--device");
  auto input = io::SafetensorsFile::open(o.input);
  at::Tensor ids = read_ids(*input, "input_ids", true);
  at::Tensor mask = read_ids(*input, "attention_mask", false);
  if (mask.defined() && mask.sizes() != ids.sizes()) {
    throw InputError(o.input, "attention_mask must have the shape of input_ids");
  }

  models::CausalLM model = models::load_model(o.model, {dtype, device, false});
  model->eval();
  const std::int64_t vocab = model->spec().vocab_size;
  if (ids.numel() > 0) {
    const std::int64_t lo = ids.min().item<std::int64_t>(), hi = ids.max().item<std::int64_t>();
    if (lo < 0 || hi >= vocab) {
      throw InputError(o.input, "input_ids must lie in [0, " + std::to_string(vocab) + "), got values in [" +
                                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  }
  at::NoGradGuard no_grad;
  models::ForwardOptions fo;
  if (mask.defined()) fo.attention_mask = mask.to(device);
  const at::Tensor logits = model->forward(ids.to(device), fo).to(at::kFloat).to(at::kCPU);  // (B, T, V)
  io::save_file(o.output, {{"logits", logits}});
  log::info("wrote logits [{}, {}, {}] to {}", logits.size(0), logits.size(1), logits.size(2), o.output);
  return 0;
}

}  // namespace

Command add_forward(CLI::App& root) {
  auto opts = std::make_shared<ForwardCliOptions>();
  CLI::App* sub = root.add_subcommand("forward", "run a model on input_ids and write its logits (parity tool)");
  sub->add_option("--model", opts->model, "HF model folder")->required();
  sub->add_option("--input", opts->input, "safetensors with input_ids (int, [B, T]) and optional attention_mask")
      ->required();
  sub->add_option("--output", opts->output, "safetensors to write: logits (float32, [B, T, V])")->required();
  sub->add_option("--dtype", opts->dtype, "compute dtype: fp32 | bf16 | fp16 (default fp32)");
  sub->add_option("--device", opts->device, "cpu | cuda | cuda:N | auto (default cpu)");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() { return run_forward(*opts); };
  return cmd;
}

}  // namespace distill::cli
