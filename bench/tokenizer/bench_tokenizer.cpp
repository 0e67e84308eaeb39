// distill_tokenizer_bench: encode throughput of one tokenizer over a JSONL corpus, as one JSON line.
//
//   distill_tokenizer_bench --tokenizer DIR_OR_FILE --corpus corpus.jsonl [--repeat 3] [--threads 1]
//
// Each run encodes every document (encode_batch, `--threads` threads; 1 = the single-thread number
// compared with HF); the best of --repeat runs counts, after one untimed warm-up run (HF's word
// cache is warm in its timed runs too). "ids_checksum" (FNV-1a 64 over every id as 4 little-endian
// bytes, 0xFFFFFFFF after each document) lets scripts/bench_tokenizer.sh check that distill and HF
// produced the same ids for the whole corpus.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "distill/tokenizer/tokenizer.h"
#include "distill/util/errors.h"

namespace {

using distill::tokenizer::EncodeOptions;
using distill::tokenizer::Encoding;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string checksum(const std::vector<Encoding>& encodings) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  auto feed = [&h](std::uint32_t v) {
    for (int k = 0; k < 4; ++k) {
      h = (h ^ ((v >> (8 * k)) & 0xFF)) * 0x100000001B3ULL;
    }
  };
  for (const auto& e : encodings) {
    for (auto id : e.ids) feed(static_cast<std::uint32_t>(id));
    feed(0xFFFFFFFFu);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

int usage() {
  std::cerr << "usage: distill_tokenizer_bench --tokenizer PATH --corpus FILE.jsonl [--text-field text] "
               "[--repeat 3] [--threads 1] [--name NAME]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path, corpus_path, field = "text", name;
  int repeat = 3;
  unsigned threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--tokenizer") tokenizer_path = value();
    else if (a == "--corpus") corpus_path = value();
    else if (a == "--text-field") field = value();
    else if (a == "--repeat") repeat = std::max(1, std::stoi(value()));
    else if (a == "--threads") threads = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--name") name = value();
    else return usage();
  }
  if (tokenizer_path.empty() || corpus_path.empty()) return usage();
  try {
    std::vector<std::string> docs;
    std::ifstream in(corpus_path);
    if (!in) throw distill::InputError(corpus_path, "cannot open");
    std::string line;
    std::size_t bytes = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      docs.push_back(nlohmann::json::parse(line).at(field).get<std::string>());
      bytes += docs.back().size();
    }
    const double t0 = now();
    const auto tok = distill::tokenizer::load_tokenizer(tokenizer_path);
    const double load_seconds = now() - t0;
    const std::vector<std::string_view> views(docs.begin(), docs.end());

    nlohmann::json out = {{"name", name.empty() ? tokenizer_path : name},
                          {"tokenizer", tokenizer_path},
                          {"kind", tok->kind()},
                          {"docs", docs.size()},
                          {"bytes", bytes},
                          {"threads", threads},
                          {"repeat", repeat},
                          {"load_seconds", load_seconds}};
    for (const bool offsets : {false, true}) {
      EncodeOptions o;
      o.offsets = offsets;
      std::vector<Encoding> result = tok->encode_batch(views, o, threads);  // warm-up
      double best = 1e30;
      for (int r = 0; r < repeat; ++r) {
        const double start = now();
        result = tok->encode_batch(views, o, threads);
        best = std::min(best, now() - start);
      }
      std::size_t tokens = 0;
      for (const auto& e : result) tokens += e.ids.size();
      out["tokens"] = tokens;
      out["ids_checksum"] = checksum(result);
      out[offsets ? "with_offsets" : "ids_only"] = {{"seconds", best},
                                                    {"mb_per_s", bytes / best / 1e6},
                                                    {"tokens_per_s", tokens / best}};
    }
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "distill_tokenizer_bench: " << e.what() << "\n";
    return 3;
  }
}
