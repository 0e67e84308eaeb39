// Token ids -> the bytes they stand for, and the teacher -> student pairing by those bytes.
#include "distill/xtok/vocab_map.h"

#include <unordered_map>

#include "distill/tokenizer/byte_level.h"

namespace distill::xtok {
namespace {

enum class Spelling { kByteLevel, kMetaspace, kRawBytes };

// Byte-level vocabularies hold a token for (nearly) every character of GPT-2's byte alphabet;
// SentencePiece-style ones spell spaces U+2581 and bytes <0xXX>.
Spelling spelling_of(const tokenizer::Tokenizer& tok) {
  if (tok.kind() == "tiktoken") return Spelling::kRawBytes;
  if (tok.kind() == "sentencepiece") return Spelling::kMetaspace;
  // SentencePiece-style vocabularies hold "▁" or byte tokens; byte-level ones spell those otherwise.
  if (tok.token_to_id("\xE2\x96\x81") || tok.token_to_id("<0x0A>")) return Spelling::kMetaspace;
  int alphabet = 0;
  for (int b = 0; b < 256; ++b) {
    if (tok.token_to_id(tokenizer::byte_level::from_bytes(std::string(1, static_cast<char>(b))))) ++alphabet;
  }
  return alphabet > 200 ? Spelling::kByteLevel : Spelling::kMetaspace;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "▁the" -> " the"; "<0x0A>" -> "\n".
std::string metaspace_bytes(const std::string& piece) {
  if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>') {
    const int hi = hex_digit(piece[3]), lo = hex_digit(piece[4]);
    if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
  }
  static const std::string kSpace = "\xE2\x96\x81";  // U+2581
  std::string out;
  for (std::size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

}  // namespace

std::vector<TokenText> token_texts(const tokenizer::Tokenizer& tok) {
  const Spelling spelling = spelling_of(tok);
  std::vector<TokenText> out(tok.vocab_size());
  for (std::size_t id = 0; id < out.size(); ++id) {
    const auto token = tok.id_to_token(static_cast<tokenizer::TokenId>(id));
    if (!token) continue;
    TokenText& t = out[id];
    t.present = true;
    t.special = tok.is_special(static_cast<tokenizer::TokenId>(id));
    switch (spelling) {
      case Spelling::kRawBytes: t.bytes = *token; break;
      case Spelling::kMetaspace: t.bytes = metaspace_bytes(*token); break;
      case Spelling::kByteLevel:
        if (!tokenizer::byte_level::to_bytes(*token, t.bytes)) t.bytes = *token;
        break;
    }
  }
  // Added tokens match their content literally in the text.
  for (const auto& added : tok.added_tokens()) {
    if (added.id < 0 || static_cast<std::size_t>(added.id) >= out.size()) continue;
    TokenText& t = out[static_cast<std::size_t>(added.id)];
    t.present = true;
    t.bytes = added.content;
    t.special = added.special;
  }
  return out;
}

VocabMap build_vocab_map(const tokenizer::Tokenizer& teacher, const tokenizer::Tokenizer& student) {
  const std::vector<TokenText> t_text = token_texts(teacher), s_text = token_texts(student);
  VocabMap m;
  m.teacher_vocab = static_cast<std::int64_t>(t_text.size());
  m.student_vocab = static_cast<std::int64_t>(s_text.size());
  m.teacher_fingerprint = teacher.fingerprint();
  m.student_fingerprint = student.fingerprint();
  m.teacher_to_student.assign(t_text.size(), -1);

  // Key: a special flag byte, then the bytes (a special token never pairs with text).
  const auto key = [](const TokenText& t) { return std::string(1, t.special ? 'S' : 'T') + t.bytes; };
  std::unordered_map<std::string, std::int32_t> student_ids;
  student_ids.reserve(s_text.size());
  for (std::size_t id = 0; id < s_text.size(); ++id) {
    if (s_text[id].present && !s_text[id].bytes.empty()) {
      student_ids.emplace(key(s_text[id]), static_cast<std::int32_t>(id));  // the first id wins
    }
  }
  for (std::size_t id = 0; id < t_text.size(); ++id) {
    if (!t_text[id].present || t_text[id].bytes.empty()) continue;
    const auto it = student_ids.find(key(t_text[id]));
    if (it != student_ids.end()) m.teacher_to_student[id] = it->second;
  }
  // Special tokens of the same role pair even when spelled differently.
  const auto& ts = teacher.special_tokens();
  const auto& ss = student.special_tokens();
  for (const auto& [t, s] : {std::pair{ts.eos, ss.eos}, {ts.bos, ss.bos}, {ts.pad, ss.pad}, {ts.unk, ss.unk}}) {
    if (t && s && *t >= 0 && *t < m.teacher_vocab && m.teacher_to_student[static_cast<std::size_t>(*t)] < 0) {
      m.teacher_to_student[static_cast<std::size_t>(*t)] = *s;
    }
  }
  std::vector<bool> used(s_text.size(), false);
  for (std::size_t id = 0; id < t_text.size(); ++id) {
    const std::int32_t s = m.teacher_to_student[id];
    if (s < 0 || used[static_cast<std::size_t>(s)]) continue;
    used[static_cast<std::size_t>(s)] = true;
    m.shared_teacher.push_back(static_cast<std::int64_t>(id));
    m.shared_student.push_back(s);
  }
  return m;
}

}  // namespace distill::xtok
