// SentencePiece .model backend: libsentencepiece (through libdistill_spm.so) encodes and decodes.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <mutex>

#include "distill/util/files.h"
#include "distill/tokenizer/loaders.h"
#include "distill/tokenizer/spm_shim_api.h"
#include "distill/tokenizer/utf8.h"
#include "distill/util/errors.h"

namespace distill::tokenizer {
namespace {

constexpr const char* kShimName = "libdistill_spm.so";

// The shim's functions, resolved once. See spm_shim.cpp for why SentencePiece sits behind dlopen.
struct SpmApi {
  decltype(&distill_spm_load) load = nullptr;
  decltype(&distill_spm_free) free = nullptr;
  decltype(&distill_spm_piece_size) piece_size = nullptr;
  decltype(&distill_spm_special_id) special_id = nullptr;
  decltype(&distill_spm_is) is = nullptr;
  decltype(&distill_spm_encode) encode = nullptr;
  decltype(&distill_spm_decode) decode = nullptr;
  decltype(&distill_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&distill_spm_piece_to_id) piece_to_id = nullptr;
};

// Where the shim may be: $DISTILL_SPM_LIBRARY, beside the running executable, ../lib from it, and
// the build tree this code was compiled in.
std::vector<std::string> shim_candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("DISTILL_SPM_LIBRARY"); env && *env) out.emplace_back(env);
  const std::string exe = files::executable_path();
  if (!exe.empty()) {
    out.push_back(files::join(files::parent(exe), kShimName));
    out.push_back(files::join(files::join(files::parent(exe), "../lib"), kShimName));
  }
#ifdef DISTILL_SPM_LIBRARY_PATH
  out.emplace_back(DISTILL_SPM_LIBRARY_PATH);
#endif
  return out;
}

const SpmApi& spm_api() {
  static std::once_flag once;
  static SpmApi api;
  static std::string failure;
  std::call_once(once, [] {
    void* handle = nullptr;
    std::string tried;
    for (const auto& path : shim_candidates()) {
      if (!files::exists(path)) {
        tried += " " + path;
        continue;
      }
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (handle) break;
      tried += " " + path + " (" + dlerror() + ")";
    }
    if (!handle) {
      failure = std::string("cannot load ") + kShimName + "; tried:" + tried;
      return;
    }
    auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
      if (!fn && failure.empty()) failure = std::string(kShimName) + " lacks " + name;
    };
    auto version = reinterpret_cast<decltype(&distill_spm_api_version)>(dlsym(handle, "distill_spm_api_version"));
    if (!version || version() != DISTILL_SPM_API_VERSION) {
      failure = std::string(kShimName) + " is from another distill version";
      return;
    }
    get(api.load, "distill_spm_load");
    get(api.free, "distill_spm_free");
    get(api.piece_size, "distill_spm_piece_size");
    get(api.special_id, "distill_spm_special_id");
    get(api.is, "distill_spm_is");
    get(api.encode, "distill_spm_encode");
    get(api.decode, "distill_spm_decode");
    get(api.id_to_piece, "distill_spm_id_to_piece");
    get(api.piece_to_id, "distill_spm_piece_to_id");
  });
  if (!failure.empty()) {
    throw Error(ExitCode::kInternal, "SentencePiece support is unavailable: " + failure,
                std::string("install ") + kShimName + " beside the distill executable or set DISTILL_SPM_LIBRARY");
  }
  return api;
}

// A cheap structural check of the protobuf wire format before the bytes reach sentencepiece: every
// top-level field has a known wire type and stays inside the buffer, and the pieces (field 1,
// length-delimited) are there. Garbage is then our InputError, whatever the library would do with it.
bool looks_like_model_proto(const std::string& bytes) {
  std::size_t i = 0;
  bool has_pieces = false;
  auto varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && i < bytes.size(); shift += 7) {
      const auto b = static_cast<unsigned char>(bytes[i++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  while (i < bytes.size()) {
    std::uint64_t key = 0, len = 0;
    if (!varint(key) || (key >> 3) == 0) return false;
    switch (key & 7) {
      case 0: if (!varint(len)) return false; break;
      case 1: if (bytes.size() - i < 8) return false; i += 8; break;
      case 5: if (bytes.size() - i < 4) return false; i += 4; break;
      case 2:
        if (!varint(len) || len > bytes.size() - i) return false;
        i += len;
        has_pieces = has_pieces || (key >> 3) == 1;
        break;
      default: return false;
    }
  }
  return has_pieces;
}

void append_text(void* ctx, const char* text, std::size_t size) { static_cast<std::string*>(ctx)->append(text, size); }

class SentencePieceTokenizer : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::string& path, const TokenizerConfig& config) : api_(spm_api()) {
    const std::string bytes = read_input_file(path);
    if (!looks_like_model_proto(bytes)) {
      throw InputError(path, "not a SentencePiece model: not a serialized ModelProto",
                       "tokenizer.model files are written by SentencePiece's spm_train");
    }
    std::string error;
    spm_ = Handle(api_.load(bytes.data(), bytes.size(), append_text, &error), Free{api_.free});
    if (!spm_) {
      throw InputError(path, "not a SentencePiece model: " + error,
                       "tokenizer.model files are written by SentencePiece's spm_train");
    }
    source_ = path;
    std::vector<std::string> contents{bytes};
    contents.insert(contents.end(), config.files.begin(), config.files.end());
    fingerprint_ = tokenizer::fingerprint("sentencepiece", contents);
    size_ = api_.piece_size(spm_.get());
    auto id_or_none = [](int id) -> std::optional<TokenId> {
      if (id < 0) return std::nullopt;
      return static_cast<TokenId>(id);
    };
    special_.bos = id_or_none(api_.special_id(spm_.get(), 0));
    special_.eos = id_or_none(api_.special_id(spm_.get(), 1));
    special_.pad = id_or_none(api_.special_id(spm_.get(), 2));
    special_.unk = id_or_none(api_.special_id(spm_.get(), 3));
    const SpecialTokens named = resolve_special_tokens(
        config, [this](const std::string& name) { return token_to_id(name); }, path);
    if (named.bos) special_.bos = named.bos;
    if (named.eos) special_.eos = named.eos;
    if (named.pad) special_.pad = named.pad;
    if (named.unk) special_.unk = named.unk;
    add_bos_ = config.add_bos_token.value_or(true);
    add_eos_ = config.add_eos_token.value_or(false);
    // Control pieces (<s>, </s>, ...) are the special tokens; SentencePiece never matches them in
    // text (user-defined pieces it matches itself, inside Encode).
    for (TokenId id = 0; id < size_; ++id) {
      if (!api_.is(spm_.get(), id, 0)) continue;
      AddedToken t;
      t.id = id;
      t.content = *id_to_token(id);
      t.special = true;
      added_.push_back(std::move(t));
    }
  }

  Encoding encode(std::string_view input, const EncodeOptions& options) const override {
    std::string repaired;
    std::vector<std::uint32_t> source_of;
    std::string_view text = input;
    if (!utf8::is_valid(input)) {
      repaired = utf8::repair(input, &source_of);
      text = repaired;
    }
    struct Ctx {
      Encoding enc;
      const std::vector<std::uint32_t>* source_of;
      bool offsets;
      std::string error;
    } ctx{{}, &source_of, options.offsets, {}};
    if (options.add_special_tokens && add_bos_ && special_.bos) push(ctx.enc, *special_.bos, {}, options.offsets);
    const int rc = api_.encode(
        spm_.get(), text.data(), text.size(),
        [](void* p, std::int32_t id, std::uint32_t b, std::uint32_t e) {
          Ctx& c = *static_cast<Ctx*>(p);
          Offset o{b, e};
          if (!c.source_of->empty()) o = {(*c.source_of)[b], (*c.source_of)[e]};
          push(c.enc, id, o, c.offsets);
        },
        [](void* p, const char* t, std::size_t n) { static_cast<Ctx*>(p)->error.append(t, n); }, &ctx);
    if (rc != 0) throw std::runtime_error(source_ + ": SentencePiece encode failed: " + ctx.error);
    if (options.add_special_tokens && add_eos_ && special_.eos) push(ctx.enc, *special_.eos, {}, options.offsets);
    return std::move(ctx.enc);
  }

  std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const override {
    std::vector<std::int32_t> kept;
    kept.reserve(ids.size());
    for (TokenId id : ids) {
      if (id < 0 || id >= size_) continue;
      if (skip_special_tokens && (api_.is(spm_.get(), id, 0) || api_.is(spm_.get(), id, 1))) continue;
      kept.push_back(id);
    }
    struct Ctx {
      std::string out, error;
    } ctx;
    const int rc = api_.decode(
        spm_.get(), kept.data(), kept.size(),
        [](void* p, const char* t, std::size_t n) { static_cast<Ctx*>(p)->out.append(t, n); },
        [](void* p, const char* t, std::size_t n) { static_cast<Ctx*>(p)->error.append(t, n); }, &ctx);
    if (rc != 0) throw std::runtime_error(source_ + ": SentencePiece decode failed: " + ctx.error);
    return std::move(ctx.out);
  }

  std::size_t vocab_size() const override { return static_cast<std::size_t>(size_); }

  std::optional<std::string> id_to_token(TokenId id) const override {
    if (id < 0 || id >= size_) return std::nullopt;
    std::string piece;
    api_.id_to_piece(spm_.get(), id, append_text, &piece);
    return piece;
  }

  std::optional<TokenId> token_to_id(std::string_view token) const override {
    // PieceToId answers unk for unknown pieces: confirm by reading the piece back.
    const std::int32_t id = api_.piece_to_id(spm_.get(), token.data(), token.size());
    if (id < 0 || id_to_token(id) != std::string(token)) return std::nullopt;
    return static_cast<TokenId>(id);
  }

  std::string kind() const override { return "sentencepiece"; }
  // SentencePiece normalizes (NFKC by default) and folds whitespace: not lossless in general.
  bool lossless() const override { return false; }

 private:
  static void push(Encoding& enc, TokenId id, Offset o, bool with_offsets) {
    enc.ids.push_back(id);
    if (with_offsets) enc.offsets.push_back(o);
  }

  struct Free {
    decltype(&distill_spm_free) fn;
    void operator()(DistillSpm* p) const { fn(p); }
  };
  using Handle = std::unique_ptr<DistillSpm, Free>;

  const SpmApi& api_;
  Handle spm_{nullptr, Free{nullptr}};
  TokenId size_ = 0;
  bool add_bos_ = true;
  bool add_eos_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& path, const TokenizerConfig& config) {
  return std::make_unique<SentencePieceTokenizer>(path, config);
}

}  // namespace distill::tokenizer
