// `distill eval`: perplexity of a model on held-out data, agreement with a teacher, multiple choice.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "distill/cli/commands.h"
#include "distill/infer/eval.h"
#include "distill/infer/sequences.h"
#include "distill/io/atomic_file.h"
#include "distill/models/loader.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/device.h"
#include "distill/util/errors.h"
#include "distill/util/jsonl.h"
#include "distill/util/logging.h"
#include "distill/xtok/vocab_map.h"

namespace distill::cli {
namespace {

using Json = nlohmann::ordered_json;

struct EvalCliOptions {
  std::string model, teacher, data, mc, json_out, tokenizer;
  std::string text_field = "text";
  std::string dtype = "auto";
  std::string device = "auto";
  infer::EvalOptions eval;
};

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

int run_eval(const EvalCliOptions& o) {
  if (o.data.empty() && o.mc.empty()) throw UsageError("give --data, --mc or both");
  const c10::Device device = resolve_device(o.device, "--device");
  const at::ScalarType dtype = models::parse_dtype_for(o.dtype, device, "--dtype");
  std::unique_ptr<tokenizer::Tokenizer> tok;
  try {
    tok = tokenizer::load_tokenizer(o.tokenizer.empty() ? o.model : o.tokenizer);
  } catch (const InputError&) {
    if (!o.tokenizer.empty()) throw;  // named explicitly: it must load
  }
  models::CausalLM model = models::load_model(o.model, {dtype, device, false});
  model->eval();
  models::CausalLM teacher{nullptr};
  if (!o.teacher.empty()) {
    teacher = models::load_model(o.teacher, {dtype, device, false});
    teacher->eval();
  }

  Json report = {{"model", o.model}};
  if (!o.data.empty()) {
    const auto seqs = infer::read_sequences(o.data, tok.get(), o.text_field);
    const infer::EvalResult r = infer::evaluate(*model, teacher ? teacher.get() : nullptr, seqs, o.eval);
    if (r.tokens == 0) throw InputError(o.data, "holds no token to predict", "sequences need at least two tokens");
    report["data"] = o.data;
    report["sequences"] = r.sequences;
    report["tokens"] = r.tokens;
    report["max_length"] = r.max_length;
    report["stride"] = r.stride;
    report["mean_ce"] = r.student.mean_ce();
    report["perplexity"] = r.student.perplexity();
    // Bits per byte of the predicted tokens' text: comparable between models of different tokenizers.
    if (tok && o.eval.max_tokens == 0) {
      const std::vector<xtok::TokenText> texts = xtok::token_texts(*tok);
      std::int64_t bytes = 0;
      for (const auto& seq : seqs) {
        for (std::size_t i = 1; i < seq.size(); ++i) {
          const auto id = static_cast<std::size_t>(seq[i]);
          if (id < texts.size() && !texts[id].special) bytes += static_cast<std::int64_t>(texts[id].bytes.size());
        }
      }
      if (bytes > 0) {
        report["bytes"] = bytes;
        report["bits_per_byte"] = r.student.nll_sum / std::log(2.0) / static_cast<double>(bytes);
      }
    }
    std::printf("%-10s %-40s %10s %10s %12s\n", "", "model", "tokens", "mean CE", "perplexity");
    std::printf("%-10s %-40s %10lld %10s %12s\n", "student", o.model.c_str(), static_cast<long long>(r.tokens),
                fmt(r.student.mean_ce(), 4).c_str(), fmt(r.student.perplexity(), 2).c_str());
    if (r.with_teacher) {
      report["teacher"] = {{"model", o.teacher}, {"mean_ce", r.teacher.mean_ce()}, {"perplexity", r.teacher.perplexity()}};
      report["perplexity_ratio"] = r.student.perplexity() / r.teacher.perplexity();
      report["top1_agreement"] = r.top1_agreement;
      report["top5_overlap"] = r.top5_overlap;
      report["mean_kl_teacher_student"] = r.mean_kl;
      std::printf("%-10s %-40s %10lld %10s %12s\n", "teacher", o.teacher.c_str(), static_cast<long long>(r.tokens),
                  fmt(r.teacher.mean_ce(), 4).c_str(), fmt(r.teacher.perplexity(), 2).c_str());
      std::printf("student/teacher perplexity %s, top-1 agreement %s%%, top-5 overlap %s%%, KL(teacher || student) %s\n",
                  fmt(r.student.perplexity() / r.teacher.perplexity(), 3).c_str(), fmt(100 * r.top1_agreement, 1).c_str(),
                  fmt(100 * r.top5_overlap, 1).c_str(), fmt(r.mean_kl, 4).c_str());
    }
  }
  if (!o.mc.empty()) {
    std::vector<infer::ChoiceItem> items;
    for_each_jsonl_object(o.mc, [&](const nlohmann::json& j, const std::string& where) {
      infer::ChoiceItem item;
      if (j.contains("context_ids")) {
        item.context = infer::token_list(j["context_ids"], where, "context_ids");
        if (!j.contains("choices_ids") || !j["choices_ids"].is_array()) throw InputError(where, "needs \"choices_ids\"");
        for (const auto& c : j["choices_ids"]) item.choices.push_back(infer::token_list(c, where, "choices_ids"));
      } else if (j.contains("context") && j["context"].is_string() && j.contains("choices") && j["choices"].is_array()) {
        item.context = infer::encode_text(tok.get(), j["context"].get<std::string>(), true, where);
        for (const auto& c : j["choices"]) {
          if (!c.is_string()) throw InputError(where, "\"choices\" must be strings");
          item.choices.push_back(infer::encode_text(tok.get(), c.get<std::string>(), false, where));
        }
      } else {
        throw InputError(where, "needs {\"context\", \"choices\", \"answer\"} (or context_ids / choices_ids)");
      }
      if (!j.contains("answer") || !j["answer"].is_number_integer()) throw InputError(where, "needs an integer \"answer\"");
      item.answer = j["answer"].get<std::int64_t>();
      if (item.choices.empty() || item.answer < 0 || item.answer >= static_cast<std::int64_t>(item.choices.size())) {
        throw InputError(where, "\"answer\" must index one of the choices");
      }
      items.push_back(std::move(item));
    });
    if (items.empty()) throw InputError(o.mc, "holds no multiple-choice item");
    const infer::ChoiceResult r = infer::score_choices(*model, items);
    report["mc"] = {{"data", o.mc}, {"items", items.size()}, {"accuracy", r.accuracy}, {"predicted", r.predicted},
                    {"loglik", r.loglik}};
    std::printf("multiple choice: %zu items, accuracy %s%%\n", items.size(), fmt(100 * r.accuracy, 1).c_str());
  }
  if (!o.json_out.empty()) {
    io::write_file_atomic(o.json_out, report.dump(2) + "\n");
    log::info("wrote {}", o.json_out);
  }
  return 0;
}

}  // namespace

Command add_eval(CLI::App& root) {
  auto opts = std::make_shared<EvalCliOptions>();
  CLI::App* sub = root.add_subcommand("eval", "perplexity, teacher agreement and multiple-choice scores of a model");
  sub->add_option("--model", opts->model, "HF model folder (the student)")->required();
  sub->add_option("--teacher", opts->teacher, "a teacher to compare with (same tokenizer)");
  sub->add_option("--data", opts->data, "held-out JSONL: {\"input_ids\": [...]} or {\"text\": \"...\"} per line");
  sub->add_option("--mc", opts->mc, "multiple-choice JSONL: {\"context\", \"choices\", \"answer\"} per line");
  sub->add_option("--text-field", opts->text_field, "the JSON field holding text (default text)");
  sub->add_option("--tokenizer", opts->tokenizer, "tokenizer for text data (default: the model folder)");
  sub->add_option("--max-tokens", opts->eval.max_tokens, "score at most this many tokens (default: all)");
  sub->add_option("--max-length", opts->eval.max_length, "tokens per window (default: the context, at most 2048)");
  sub->add_option("--stride", opts->eval.stride, "window step (default: max-length / 2)");
  sub->add_option("--json", opts->json_out, "also write the results as JSON here");
  sub->add_option("--dtype", opts->dtype, "auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16");
  sub->add_option("--device", opts->device, "auto | cpu | cuda | cuda:N (default auto)");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() { return run_eval(*opts); };
  return cmd;
}

}  // namespace distill::cli
