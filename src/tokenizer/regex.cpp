// PCRE2 wrapper: pattern translation, JIT compile, per-thread match data and a large JIT stack.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "distill/tokenizer/regex.h"

#include <pcre2.h>

#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer {
namespace {

constexpr const char* kWordClassBody = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof buf) < 0) return "PCRE2 error " + std::to_string(code);
  return reinterpret_cast<const char*>(buf);
}

// Per-thread match state shared by every Regex: one ovector pair is all find_all reads.
struct ThreadMatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadMatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    // Long runs of one class (300 spaces before a lookahead) need more than the 32 KiB default.
    stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

std::string translate_pattern(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 32);
  bool in_class = false;
  std::size_t class_start = 0;  // index in p just after '[' or '[^'
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      ++i;
      switch (e) {
        case 's': out += "\\p{White_Space}"; break;
        case 'S': out += "\\P{White_Space}"; break;
        case 'd': out += "\\p{Nd}"; break;
        case 'D': out += "\\P{Nd}"; break;
        case 'w':
          out += in_class ? std::string(kWordClassBody) : "[" + std::string(kWordClassBody) + "]";
          break;
        case 'W':
          if (in_class) throw RegexError("\\W inside a character class is not supported");
          out += "[^" + std::string(kWordClassBody) + "]";
          break;
        default:
          out += '\\';
          out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      class_start = i + 1;
      continue;
    }
    if (in_class && c == ']' && i != class_start) in_class = false;
    out += c;
  }
  return out;
}

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

Regex::Regex() = default;
Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

Regex Regex::compile(const std::string& pattern, bool literal) {
  Regex r;
  r.pattern_ = pattern;
  r.impl_ = std::make_unique<Impl>();
  const std::string translated = literal ? pattern : translate_pattern(pattern);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  std::uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK;
  if (literal) options = PCRE2_UTF | PCRE2_LITERAL;
  r.impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), options, &err,
                                &err_offset, nullptr);
  if (!r.impl_->code) {
    throw RegexError("cannot compile regex '" + pattern + "': " + pcre2_message(err) + " at offset " +
                     std::to_string(err_offset));
  }
  r.impl_->jit = pcre2_jit_compile(r.impl_->code, PCRE2_JIT_COMPLETE) == 0;
  return r;
}

void Regex::find_all(std::string_view s, std::vector<std::pair<std::size_t, std::size_t>>& out) const {
  ThreadMatchState& st = thread_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const int rc = impl_->jit
                       ? pcre2_jit_match(impl_->code, subject, s.size(), pos, 0, st.data, st.context)
                       : pcre2_match(impl_->code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw RegexError("regex '" + pattern_ + "' failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const std::size_t b = ov[0], e = ov[1];
    out.emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {
      if (e >= s.size()) break;
      pos = e + utf8::sequence_length(static_cast<unsigned char>(s[e]));
    }
  }
}

bool Regex::search(std::string_view s) const {
  ThreadMatchState& st = thread_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  const int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, s.size(), 0, 0, st.data, st.context)
                            : pcre2_match(impl_->code, subject, s.size(), 0, PCRE2_NO_UTF_CHECK, st.data, st.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) throw RegexError("regex '" + pattern_ + "' failed: " + pcre2_message(rc));
  return true;
}

}  // namespace distill::tokenizer
