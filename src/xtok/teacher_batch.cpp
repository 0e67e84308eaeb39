// One student batch -> the teacher's tokens of the same text and the column alignment.
#include "distill/xtok/teacher_batch.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string_view>

#include "distill/xtok/alignment.h"

namespace distill::xtok {
namespace {

struct Row {
  std::vector<std::int64_t> student_end;  // per window column (T + 1): virtual byte end, -1 none
  std::vector<std::int64_t> teacher_ids, teacher_end;
  std::int64_t failed_spans = 0;
};

// The row as one virtual byte stream: each span's text, and one byte per separator (EOS on both
// sides), so that positions in different documents never align by accident.
Row build_row(const TeacherView& v, const std::int64_t* window, std::int64_t width,
              const std::vector<data::Span>& spans) {
  Row r;
  r.student_end.assign(static_cast<std::size_t>(width), -1);
  std::int64_t pos = 0;
  std::size_t next_span = 0;
  std::vector<std::int64_t> doc_tokens;
  for (std::int64_t c = 0; c < width;) {
    if (next_span < spans.size() && spans[next_span].column == c) {
      const data::Span& sp = spans[next_span++];
      const std::int64_t len = sp.token_end - sp.token_begin;
      const std::string_view text = v.corpus->text(sp.document);
      doc_tokens.resize(static_cast<std::size_t>(sp.token_end));
      v.corpus->copy_tokens(sp.document, 0, sp.token_end, doc_tokens.data());
      std::vector<tokenizer::TokenId> ids(doc_tokens.begin(), doc_tokens.end());
      // The document's tokens up to the span's end spell a prefix of its text.
      std::int64_t prefix_end = 0;
      std::optional<std::vector<std::int64_t>> ends;
      if (!ids.empty()) {
        // token_ends wants the whole text spelled: spell the prefix the tokens cover.
        std::int64_t bytes = 0;
        bool ok = true;
        for (const auto id : ids) {
          if (id < 0 || static_cast<std::size_t>(id) >= v.student_texts.size()) { ok = false; break; }
          bytes += static_cast<std::int64_t>(v.student_texts[static_cast<std::size_t>(id)].bytes.size());
        }
        // A dummy-prefix space is not in the text: try both lengths.
        for (const std::int64_t cut : {bytes, bytes - 1}) {
          if (!ok || ends || cut < 0 || cut > static_cast<std::int64_t>(text.size())) continue;
          ends = token_ends(ids, v.student_texts, text.substr(0, static_cast<std::size_t>(cut)));
          prefix_end = cut;
        }
      }
      if (!ends) {
        ++r.failed_spans;
        c += len;
        continue;
      }
      const std::int64_t a = sp.token_begin > 0 ? (*ends)[static_cast<std::size_t>(sp.token_begin - 1)] : 0;
      const std::int64_t z = prefix_end;
      for (std::int64_t k = 0; k < len; ++k) {
        r.student_end[static_cast<std::size_t>(c + k)] = pos + (*ends)[static_cast<std::size_t>(sp.token_begin + k)] - a;
      }
      const std::string_view piece = text.substr(static_cast<std::size_t>(a), static_cast<std::size_t>(z - a));
      tokenizer::EncodeOptions eo;
      eo.offsets = true;
      const tokenizer::Encoding enc = v.teacher->encode(piece, eo);
      std::vector<std::int64_t> t_ends;
      if (auto spelled = token_ends(enc.ids, v.teacher_texts, piece)) {
        t_ends = std::move(*spelled);
      } else {
        t_ends = offset_ends(enc.offsets);
      }
      for (std::size_t k = 0; k < enc.ids.size(); ++k) {
        r.teacher_ids.push_back(enc.ids[k]);
        r.teacher_end.push_back(t_ends[k] < 0 ? -1 : pos + t_ends[k]);
      }
      pos += z - a;
      c += len;
      continue;
    }
    if (window[c] == v.student_eos && v.student_eos >= 0) {  // a separator between documents
      ++pos;
      r.student_end[static_cast<std::size_t>(c)] = pos;
      r.teacher_ids.push_back(v.teacher_eos);
      r.teacher_end.push_back(pos);
    }
    ++c;
  }
  return r;
}

}  // namespace

TeacherBatch make_teacher_batch(const TeacherView& v, const data::Batch& batch) {
  const std::int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
  const at::Tensor ids = batch.input_ids.to(at::kLong).contiguous();
  const at::Tensor labels = batch.labels.to(at::kLong).contiguous();
  TeacherBatch out;
  out.teacher_pos = at::full({B, T}, -1, at::kLong);
  out.exact = at::zeros({B, T}, at::kBool);
  std::vector<Row> rows;
  std::vector<std::vector<std::int64_t>> uld(static_cast<std::size_t>(B));
  std::int64_t tt = 1;
  std::vector<std::int64_t> window(static_cast<std::size_t>(T + 1));
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t* in = ids.data_ptr<std::int64_t>() + b * T;
    const std::int64_t* lab = labels.data_ptr<std::int64_t>() + b * T;
    std::copy(in, in + T, window.begin());
    window[static_cast<std::size_t>(T)] = lab[T - 1];
    const std::vector<data::Span> none;
    const auto& spans = static_cast<std::size_t>(b) < batch.spans.size() ? batch.spans[static_cast<std::size_t>(b)] : none;
    Row r = build_row(v, window.data(), T + 1, spans);
    out.failed_spans += r.failed_spans;
    const Alignment al = align_ends(r.student_end, r.teacher_end);
    const auto limit = std::min<std::int64_t>(static_cast<std::int64_t>(r.teacher_ids.size()), v.max_teacher_len);
    tt = std::max(tt, limit);
    auto* pos = out.teacher_pos.data_ptr<std::int64_t>() + b * T;
    auto* exact = out.exact.data_ptr<bool>() + b * T;
    for (std::int64_t i = 0; i < T; ++i) {
      const std::int64_t j = al.teacher_pos[static_cast<std::size_t>(i)];
      if (lab[i] < 0) continue;
      ++out.positions;
      if (j < 0 || j >= limit) continue;
      pos[i] = j;
      exact[i] = al.exact[static_cast<std::size_t>(i)] != 0;
      ++out.aligned;
      out.exact_count += exact[i] ? 1 : 0;
      if (!exact[i]) uld[static_cast<std::size_t>(b)].push_back(i);
    }
    r.teacher_ids.resize(static_cast<std::size_t>(limit));
    rows.push_back(std::move(r));
  }
  std::size_t most = 0;
  for (const auto& u : uld) most = std::max(most, u.size());
  const auto width = static_cast<std::int64_t>((most + 15) / 16 * 16);
  out.uld_cols = at::full({B, width}, -1, at::kLong);
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& u = uld[static_cast<std::size_t>(b)];
    std::copy(u.begin(), u.end(), out.uld_cols.data_ptr<std::int64_t>() + b * width);
  }
  // Rows padded to a multiple of 64 tokens (fewer distinct shapes for the device's allocator).
  tt = std::min(v.max_teacher_len, (tt + 63) / 64 * 64);
  out.input_ids = at::full({B, tt}, v.teacher_pad, at::kLong);
  out.attention_mask = at::zeros({B, tt}, at::kLong);
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& t = rows[static_cast<std::size_t>(b)].teacher_ids;
    auto* dst = out.input_ids.data_ptr<std::int64_t>() + b * tt;
    std::copy(t.begin(), t.end(), dst);
    out.attention_mask.narrow(0, b, 1).narrow(1, 0, static_cast<std::int64_t>(t.size())).fill_(1);
  }
  return out;
}

}  // namespace distill::xtok
