// JSONL lines -> token ids (input_ids lists, or text through the model's tokenizer).
#include "distill/infer/sequences.h"

#include "distill/util/errors.h"
#include "distill/util/jsonl.h"

namespace distill::infer {

std::vector<std::int64_t> token_list(const nlohmann::json& j, const std::string& where, const char* key) {
  if (!j.is_array()) throw InputError(where, std::string("'") + key + "' must be a list of token ids");
  std::vector<std::int64_t> out;
  for (const auto& v : j) {
    if (!v.is_number_integer()) throw InputError(where, std::string("'") + key + "' must hold integers only");
    out.push_back(v.get<std::int64_t>());
  }
  return out;
}

std::vector<std::int64_t> encode_text(const tokenizer::Tokenizer* tok, const std::string& text, bool specials,
                                      const std::string& where) {
  if (!tok) throw InputError(where, "holds text but no tokenizer was found for the model", "pass --tokenizer");
  std::vector<std::int64_t> out;
  for (auto id : tok->encode_ids(text, specials)) out.push_back(id);
  return out;
}

std::vector<std::vector<std::int64_t>> read_sequences(const std::string& path, const tokenizer::Tokenizer* tok,
                                                      const std::string& text_field, std::size_t max_sequences) {
  std::vector<std::vector<std::int64_t>> seqs;
  for_each_jsonl_object(path, [&](const nlohmann::json& j, const std::string& where) {
    if (max_sequences > 0 && seqs.size() >= max_sequences) return;
    if (j.contains("input_ids")) {
      seqs.push_back(token_list(j["input_ids"], where, "input_ids"));
    } else if (j.contains(text_field) && j[text_field].is_string()) {
      seqs.push_back(encode_text(tok, j[text_field].get<std::string>(), true, where));
    } else {
      throw InputError(where, "has neither \"input_ids\" nor a \"" + text_field + "\" string",
                       "each line: {\"input_ids\": [...]} or {\"" + text_field + "\": \"...\"}");
    }
  });
  return seqs;
}

}  // namespace distill::infer
