// libdistill_spm.so: the only code that links libsentencepiece, loaded with dlopen(RTLD_DEEPBIND).
//
// Debian's libsentencepiece carries its own protobuf 3.14 and exports those symbols; Debian's
// LibTorch loads the system protobuf 3.21. Linked into one executable the two copies bind to each
// other and the process dies at start-up (segfault or protobuf's version abort). Loaded on its own
// with RTLD_LOCAL | RTLD_DEEPBIND, this library and libsentencepiece see their own symbols first and
// none of theirs reach the global scope.
#include <sentencepiece_processor.h>

#include <string>
#include <vector>

#include "distill/tokenizer/spm_shim_api.h"

struct DistillSpm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

void report(DistillSpmTextFn error, void* ctx, const std::string& message) {
  if (error) error(ctx, message.data(), message.size());
}

}  // namespace

extern "C" {

int distill_spm_api_version(void) { return DISTILL_SPM_API_VERSION; }

// No C++ exception may cross this C interface (the caller's runtime cannot catch it): every entry
// point that calls into sentencepiece reports failures through `error` instead.
DistillSpm* distill_spm_load(const char* model, size_t size, DistillSpmTextFn error, void* ctx) {
  try {
    auto* spm = new DistillSpm();
    const auto status = spm->sp.LoadFromSerializedProto(std::string_view(model, size));
    if (!status.ok()) {
      report(error, ctx, status.ToString());
      delete spm;
      return nullptr;
    }
    return spm;
  } catch (const std::exception& e) {
    report(error, ctx, e.what());
  } catch (...) {
    report(error, ctx, "unknown exception in sentencepiece");
  }
  return nullptr;
}

void distill_spm_free(DistillSpm* spm) { delete spm; }

int32_t distill_spm_piece_size(const DistillSpm* spm) { return spm->sp.GetPieceSize(); }

int32_t distill_spm_special_id(const DistillSpm* spm, int which) {
  switch (which) {
    case 0: return spm->sp.bos_id();
    case 1: return spm->sp.eos_id();
    case 2: return spm->sp.pad_id();
    case 3: return spm->sp.unk_id();
    default: return -1;
  }
}

int distill_spm_is(const DistillSpm* spm, int32_t id, int kind) {
  if (id < 0 || id >= spm->sp.GetPieceSize()) return 0;
  switch (kind) {
    case 0: return spm->sp.IsControl(id);
    case 1: return spm->sp.IsUnknown(id);
    case 2: return spm->sp.IsByte(id);
    default: return 0;
  }
}

int distill_spm_encode(const DistillSpm* spm, const char* text, size_t size, DistillSpmPieceFn piece,
                       DistillSpmTextFn error, void* ctx) {
  try {
    sentencepiece::ImmutableSentencePieceText spt;
    const auto status = spm->sp.Encode(std::string_view(text, size), spt.mutable_proto());
    if (!status.ok()) {
      report(error, ctx, status.ToString());
      return 1;
    }
    const size_t n = spt.pieces_size();
    for (size_t i = 0; i < n; ++i) {
      const auto p = spt.pieces(static_cast<int>(i));
      piece(ctx, static_cast<int32_t>(p.id()), p.begin(), p.end());
    }
    return 0;
  } catch (const std::exception& e) {
    report(error, ctx, e.what());
  } catch (...) {
    report(error, ctx, "unknown exception in sentencepiece");
  }
  return 1;
}

int distill_spm_decode(const DistillSpm* spm, const int32_t* ids, size_t n, DistillSpmTextFn out,
                       DistillSpmTextFn error, void* ctx) {
  try {
    std::vector<int> v(ids, ids + n);
    std::string text;
    const auto status = spm->sp.Decode(v, &text);
    if (!status.ok()) {
      report(error, ctx, status.ToString());
      return 1;
    }
    out(ctx, text.data(), text.size());
    return 0;
  } catch (const std::exception& e) {
    report(error, ctx, e.what());
  } catch (...) {
    report(error, ctx, "unknown exception in sentencepiece");
  }
  return 1;
}

void distill_spm_id_to_piece(const DistillSpm* spm, int32_t id, DistillSpmTextFn out, void* ctx) {
  const std::string& piece = spm->sp.IdToPiece(id);
  out(ctx, piece.data(), piece.size());
}

int32_t distill_spm_piece_to_id(const DistillSpm* spm, const char* piece, size_t size) {
  return spm->sp.PieceToId(std::string_view(piece, size));
}

}  // extern "C"
