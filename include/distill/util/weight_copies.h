// Low-precision copies of fp32 parameters, kept current by the optimizer (AdamW writes a
// parameter's bf16 copy in the same pass as its update) and read by the products under autocast in
// place of a fresh cast of the weight every step: one read and write of the weights a step less.
//
// A copy is current while its parameter is unchanged since it was recorded: the same version
// (which any in-place change, such as loading a checkpoint, raises), memory and shape (set_data()
// changes those without a new version). Otherwise, and for tensors without a copy, weight_in()
// casts as before.
#pragma once

#include <ATen/core/Tensor.h>

namespace distill {

// Records `copy` (param's shape, another floating dtype) as param's copy at param's current
// version. The record holds both tensors until forget_weight_copy().
void set_weight_copy(const at::Tensor& param, const at::Tensor& copy);
void forget_weight_copy(const at::Tensor& param);

// `weight` in `dtype`: weight itself when it is of dtype, its copy when one of dtype is current,
// else weight.to(dtype).
at::Tensor weight_in(const at::Tensor& weight, at::ScalarType dtype);

// Copies recorded now, and the products that read one instead of casting (for tests).
std::int64_t weight_copies();
std::int64_t weight_copy_reads();

// DISTILL_WEIGHT_COPIES=0: the optimizer keeps no copies (for A/Bs). Read by the trainer.
bool weight_copies_enabled();
void set_weight_copies_enabled(bool on);

}  // namespace distill
