/* C interface of libdistill_spm.so, the library that alone links libsentencepiece (see spm_shim.cpp). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DISTILL_SPM_API_VERSION 1

typedef struct DistillSpm DistillSpm;
typedef void (*DistillSpmPieceFn)(void* ctx, int32_t id, uint32_t begin, uint32_t end);
typedef void (*DistillSpmTextFn)(void* ctx, const char* text, size_t size);

/* Each symbol below is looked up by name with dlsym; the table lists them for the loader. */
int distill_spm_api_version(void);
/* Loads a serialized ModelProto; on failure returns NULL and passes the reason to `error`. */
DistillSpm* distill_spm_load(const char* model, size_t size, DistillSpmTextFn error, void* ctx);
void distill_spm_free(DistillSpm* spm);
int32_t distill_spm_piece_size(const DistillSpm* spm);
/* which: 0 bos, 1 eos, 2 pad, 3 unk; -1 when the model has none. */
int32_t distill_spm_special_id(const DistillSpm* spm, int which);
/* kind: 0 control, 1 unknown, 2 byte. */
int distill_spm_is(const DistillSpm* spm, int32_t id, int kind);
/* Calls piece(ctx, id, begin, end) per piece (byte offsets into text); 0 on success, else calls error. */
int distill_spm_encode(const DistillSpm* spm, const char* text, size_t size, DistillSpmPieceFn piece,
                       DistillSpmTextFn error, void* ctx);
/* Calls out(ctx, text) once with the decoded text; 0 on success, else calls error. */
int distill_spm_decode(const DistillSpm* spm, const int32_t* ids, size_t n, DistillSpmTextFn out,
                       DistillSpmTextFn error, void* ctx);
void distill_spm_id_to_piece(const DistillSpm* spm, int32_t id, DistillSpmTextFn out, void* ctx);
int32_t distill_spm_piece_to_id(const DistillSpm* spm, const char* piece, size_t size);

#ifdef __cplusplus
}
#endif
