// Golden parity: every backend against the reference library's ids, offsets and decodes
// (tests/data/tokenizers/golden_<name>.jsonl, made by scripts/make_tokenizer_golden.py).
#include <gtest/gtest.h>

#include <algorithm>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "distill/tokenizer/utf8.h"
#include "test_support.h"
#include "tokenizer_data.h"

namespace distill::testing {
namespace {

using tokenizer::Encoding;
using tokenizer::EncodeOptions;
using tokenizer::TokenId;

struct Text {
  std::string id;
  std::string bytes;  // the UTF-8 (or, for "hex" texts, invalid) input
};

std::string fnv1a64_hex(const std::string& data) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : data) h = (h ^ c) * 0x100000001B3ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<Text> load_texts(const std::string& raw) {
  std::vector<Text> out;
  std::istringstream in(raw);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    Text t;
    t.id = j.at("id").get<std::string>();
    if (j.contains("hex")) {
      const std::string h = j["hex"].get<std::string>();
      for (std::size_t i = 0; i + 1 < h.size(); i += 2) t.bytes.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
    } else {
      t.bytes = j.at("text").get<std::string>();
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string show_tokens(const tokenizer::Tokenizer& tok, const std::vector<TokenId>& ids, std::size_t from) {
  std::ostringstream s;
  for (std::size_t i = from; i < ids.size() && i < from + 6; ++i) {
    s << ids[i] << "=" << nlohmann::json(tok.id_to_token(ids[i]).value_or("?")).dump(-1, ' ', false,
                                                                                     nlohmann::json::error_handler_t::replace)
      << " ";
  }
  return s.str();
}

std::string first_difference(const tokenizer::Tokenizer& tok, const std::vector<TokenId>& got,
                             const std::vector<TokenId>& want) {
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "at token " + std::to_string(i) + ": got [" + show_tokens(tok, got, i) + "] want [" + show_tokens(tok, want, i) +
         "] (" + std::to_string(got.size()) + " vs " + std::to_string(want.size()) + " tokens)";
}

// Compares one backend with its golden file; reports up to a dozen differing texts in detail.
// A unigram SentencePiece model scores a segmentation by the sum of its pieces' scores, so two
// segmentations made of the same pieces in another order ("0"+"00" vs "00"+"0" for "000") score
// exactly the same: both are optimal, and which one wins is the library's tie-breaking, which
// changed between sentencepiece 0.1.9x (the system library distill loads) and 0.2.x (the Python
// package that made the golden file). Only such ties are tolerated, and only for SentencePiece.
bool is_reordering_of_same_pieces(std::vector<TokenId> a, std::vector<TokenId> b) {
  if (a.size() != b.size()) return false;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

void check_golden(const std::string& name, bool score_ties_allowed = false) {
  const std::string golden_path = data_path("tokenizers/golden_" + name + ".jsonl");
  std::ifstream golden(golden_path);
  ASSERT_TRUE(golden.good()) << "missing " << golden_path
                             << ": run scripts/make_tokenizer_golden.py on the machine with HF tokenizers (docs/tokenizers.md)";
  const std::string texts_raw = read_file(data_path("tokenizers/texts.jsonl"));
  const std::vector<Text> texts = load_texts(texts_raw);

  std::string line;
  ASSERT_TRUE(std::getline(golden, line));
  const auto meta = nlohmann::json::parse(line).at("meta");
  ASSERT_EQ(meta.value("texts_fnv1a64", ""), fnv1a64_hex(texts_raw))
      << golden_path << " was made from another texts.jsonl: make the golden files again";

  const bool floor_to_characters = meta.value("offsets_floored_to_characters", false);
  const tokenizer::Tokenizer& tok = shared_tokenizer(name.c_str());
  std::size_t rows = 0, bad = 0, roundtrips = 0, ties = 0;
  std::vector<std::string> report;
  auto fail = [&](const Text& t, const std::string& what) {
    ++bad;
    if (report.size() < 12) report.push_back(t.id + ": " + what);
  };
  while (std::getline(golden, line)) {
    const auto g = nlohmann::json::parse(line);
    ASSERT_LT(rows, texts.size()) << golden_path << " has more rows than texts.jsonl";
    const Text& t = texts[rows++];
    ASSERT_EQ(g.at("id").get<std::string>(), t.id) << golden_path << " row " << rows << " is out of order";
    const std::string text = tokenizer::utf8::repair(t.bytes);  // what the reference received

    EncodeOptions with_offsets;
    with_offsets.offsets = true;
    const Encoding e = tok.encode(t.bytes, with_offsets);
    const auto want_ids = g.at("ids").get<std::vector<TokenId>>();
    if (e.ids != want_ids) {
      if (score_ties_allowed && is_reordering_of_same_pieces(e.ids, want_ids) && tok.decode(e.ids) == tok.decode(want_ids)) {
        ++ties;  // an equal-score segmentation: see is_reordering_of_same_pieces
        continue;
      }
      fail(t, "ids differ " + first_difference(tok, e.ids, want_ids));
      continue;
    }
    if (g.contains("offsets")) {
      const auto flat = g["offsets"].get<std::vector<std::uint32_t>>();
      std::vector<std::uint32_t> got;
      // sentencepiece's Python wrapper reports character spans; a byte offset inside a character
      // then stands for that character's start.
      auto floor = [&](std::uint32_t b) {
        if (!floor_to_characters) return b;
        while (b > 0 && b < t.bytes.size() && (static_cast<unsigned char>(t.bytes[b]) & 0xC0) == 0x80) --b;
        return b;
      };
      for (const auto& o : e.offsets) {
        got.push_back(floor(o.begin));
        got.push_back(floor(o.end));
      }
      if (got != flat) {
        std::size_t i = 0;
        while (i < got.size() && i < flat.size() && got[i] == flat[i]) ++i;
        fail(t, "offsets differ at token " + std::to_string(i / 2) + ": got " +
                    (i < got.size() ? std::to_string(got[i]) : "end") + " want " +
                    (i < flat.size() ? std::to_string(flat[i]) : "end"));
        continue;
      }
    }
    EncodeOptions special;
    special.add_special_tokens = true;
    const auto want_special = g.contains("ids_special") ? g["ids_special"].get<std::vector<TokenId>>() : want_ids;
    const auto got_special = tok.encode(t.bytes, special).ids;
    if (got_special != want_special) {
      fail(t, "ids with special tokens differ " + first_difference(tok, got_special, want_special));
      continue;
    }
    const std::string want_decoded = g.contains("decoded") ? g["decoded"].get<std::string>() : text;
    const std::string decoded = tok.decode(e.ids);
    if (decoded != want_decoded) {
      fail(t, "decode differs: got " + nlohmann::json(decoded).dump() + " want " + nlohmann::json(want_decoded).dump());
      continue;
    }
    const std::string want_skip = g.contains("decoded_skip") ? g["decoded_skip"].get<std::string>() : want_decoded;
    if (tok.decode(e.ids, true) != want_skip) {
      fail(t, "decode without special tokens differs: got " + nlohmann::json(tok.decode(e.ids, true)).dump() +
                  " want " + nlohmann::json(want_skip).dump());
      continue;
    }
    if (decoded == text) ++roundtrips;
  }
  EXPECT_EQ(rows, texts.size()) << golden_path << " has fewer rows than texts.jsonl";
  std::string details;
  for (const auto& r : report) details += "\n  " + r;
  EXPECT_EQ(bad, 0u) << name << ": " << bad << " of " << rows << " texts differ from the reference:" << details;
  EXPECT_LE(ties, rows / 100) << name << ": too many equal-score segmentations for tie-breaking to explain";
  // Lossless tokenizers give the text back for nearly every text (not for NFC-changed ones and a
  // few around special-token strings); a collapse here means decode broke.
  if (tok.lossless()) {
    EXPECT_GT(roundtrips, rows * 8 / 10) << name << ": decode(encode(x)) == x too rarely";
  }
}

TEST(TokenizerGolden, Qwen3TokenizerJson) { check_golden("qwen3"); }
TEST(TokenizerGolden, Llama2TokenizerJson) { check_golden("llama2"); }
TEST(TokenizerGolden, Gpt2VocabAndMerges) { check_golden("gpt2"); }
TEST(TokenizerGolden, QwenTiktoken) { check_golden("qwen-tiktoken"); }
TEST(TokenizerGolden, BrownSentencePiece) { check_golden("brown-spm", /*score_ties_allowed=*/true); }

// encode_batch on several threads gives exactly what encode gives one text at a time.
TEST(TokenizerGolden, BatchOnThreadsEqualsSequential) {
  const std::vector<Text> texts = load_texts(read_file(data_path("tokenizers/texts.jsonl")));
  for (const char* name : {"qwen3", "llama2"}) {
    const tokenizer::Tokenizer& tok = shared_tokenizer(name);
    std::vector<std::string_view> views;
    for (int round = 0; round < 4; ++round) {
      for (const auto& t : texts) views.push_back(t.bytes);
    }
    EncodeOptions o;
    o.offsets = true;
    const auto batch = tok.encode_batch(views, o, 4);
    ASSERT_EQ(batch.size(), views.size());
    for (std::size_t i = 0; i < views.size(); ++i) {
      const Encoding one = tok.encode(views[i], o);
      ASSERT_EQ(batch[i].ids, one.ids) << name << " text " << i;
      ASSERT_EQ(batch[i].offsets, one.offsets) << name << " text " << i;
    }
  }
}

}  // namespace
}  // namespace distill::testing
