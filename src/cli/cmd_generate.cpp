// `distill generate`: KV-cached decoding from a prompt, streamed to stdout.
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "distill/cli/commands.h"
#include "distill/infer/generate.h"
#include "distill/models/loader.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/device.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::cli {
namespace {

struct GenerateCliOptions {
  std::string model;
  std::string prompt;
  std::string prompt_ids;
  std::string tokenizer;
  std::string dtype = "auto";
  std::string device = "auto";
  bool ids_output = false;
  infer::GenerateOptions gen;
};

std::vector<std::int64_t> parse_ids(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      out.push_back(std::stoll(item, &used));
      if (item.find_first_not_of(" \t", used) != std::string::npos) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UsageError("--prompt-ids: '" + item + "' is not an integer", "give comma-separated token ids, e.g. 1,450,3");
    }
  }
  return out;
}

int run_generate(GenerateCliOptions& o) {
  if (o.prompt.empty() == o.prompt_ids.empty()) {
    throw UsageError("give exactly one of --prompt and --prompt-ids");
  }
  const c10::Device device = resolve_device(o.device, "--device");
  const at::ScalarType dtype = models::parse_dtype_for(o.dtype, device, "--dtype");
  std::unique_ptr<tokenizer::Tokenizer> tok;
  if (!o.prompt.empty() || !o.ids_output) tok = tokenizer::load_tokenizer(o.tokenizer.empty() ? o.model : o.tokenizer);
  models::CausalLM model = models::load_model(o.model, {dtype, device, false});
  model->eval();
  std::vector<std::int64_t> prompt;
  if (!o.prompt_ids.empty()) {
    prompt = parse_ids(o.prompt_ids);
  } else {
    for (auto id : tok->encode_ids(o.prompt, /*add_special_tokens=*/true)) prompt.push_back(id);
  }
  if (o.gen.eos_ids.empty()) o.gen.eos_ids = infer::eos_ids_of(*model);

  // Stream text: decode everything generated so far and print what is new, holding back an
  // incomplete UTF-8 sequence (shown as U+FFFD) until the next token completes it.
  // The prompt is decoded with the new tokens so that word boundaries come out right (SentencePiece
  // drops the space of a sequence's first piece); what follows the decoded prompt is new text.
  std::vector<tokenizer::TokenId> all(prompt.begin(), prompt.end());
  const std::string base = o.ids_output ? std::string() : tok->decode(all, /*skip_special_tokens=*/true);
  std::string printed;  // new text already written
  auto new_text = [&]() -> std::string {
    const std::string text = tok->decode(all, /*skip_special_tokens=*/true);
    return text.compare(0, base.size(), base) == 0 ? text.substr(base.size()) : text;
  };
  auto on_token = [&](std::int64_t id) {
    if (o.ids_output) return;
    all.push_back(static_cast<tokenizer::TokenId>(id));
    const std::string text = new_text();
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;
    if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
      std::fputs(text.c_str() + printed.size(), stdout);
      std::fflush(stdout);
      printed = text;
    }
  };
  if (!o.ids_output) {
    std::fputs(o.prompt.empty() ? tok->decode(std::vector<tokenizer::TokenId>(prompt.begin(), prompt.end()), true).c_str()
                                : o.prompt.c_str(),
               stdout);
  }
  const auto out = infer::generate(*model, prompt, o.gen, on_token);
  if (o.ids_output) {
    nlohmann::json j = {{"prompt_ids", prompt}, {"ids", out}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    const std::string text = new_text();
    if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
      std::fputs(text.c_str() + printed.size(), stdout);
    }
    std::fputs("\n", stdout);
  }
  std::fflush(stdout);
  log::info("generated {} tokens", out.size());
  return 0;
}

}  // namespace

Command add_generate(CLI::App& root) {
  auto opts = std::make_shared<GenerateCliOptions>();
  CLI::App* sub = root.add_subcommand("generate", "generate text with a model (KV-cached decoding, streamed)");
  sub->add_option("--model", opts->model, "HF model folder")->required();
  sub->add_option("--prompt", opts->prompt, "prompt text (tokenized with the model's tokenizer, special tokens added)");
  sub->add_option("--prompt-ids", opts->prompt_ids, "the prompt as comma-separated token ids instead of text");
  sub->add_option("--tokenizer", opts->tokenizer, "tokenizer file or folder (default: the model folder)");
  sub->add_option("--max-new-tokens", opts->gen.max_new_tokens, "tokens to generate at most (default 64)");
  sub->add_option("--temperature", opts->gen.temperature, "0: greedy (default); > 0: sampling temperature");
  sub->add_option("--top-k", opts->gen.top_k, "sampling: keep the k most likely tokens (0: all)");
  sub->add_option("--top-p", opts->gen.top_p, "sampling: nucleus probability mass (default 1)");
  sub->add_option("--seed", opts->gen.seed, "sampling seed (default 0)");
  sub->add_option("--dtype", opts->dtype, "auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16");
  sub->add_option("--device", opts->device, "auto | cpu | cuda | cuda:N (default auto)");
  sub->add_flag("--no-cuda-graphs", [opts](std::int64_t) { opts->gen.cuda_graphs = false; },
                "on CUDA, launch every decode step op by op instead of replaying CUDA graphs");
  sub->add_flag("--ids", opts->ids_output, "print {\"prompt_ids\", \"ids\"} as JSON instead of text");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() { return run_generate(*opts); };
  return cmd;
}

}  // namespace distill::cli
