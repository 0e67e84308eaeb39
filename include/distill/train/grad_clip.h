// Global L2 gradient norm and clipping with torch.nn.utils.clip_grad_norm_'s semantics, sync-free.
#pragma once

#include <ATen/core/Tensor.h>

namespace distill::train {

// The L2 norm over the gradients of `params` taken together (parameters without a gradient are
// skipped), as a 0-dim tensor on the first gradient's device: fp32 (fp64 if any gradient is fp64),
// 0 when no parameter has a gradient. Never read on the host here: the caller reads it once, at
// log time, to log it and to notice inf/nan.
at::Tensor grad_norm(at::TensorList params);

// Scales the gradients by min(1, max_norm / (total + 1e-6)) where total = grad_norm(params), and
// returns total (the norm before clipping). max_norm <= 0: no clipping, only the norm. The scaling
// is applied without looking at the value (a multiply by 1 when under the limit), so there is no
// host sync; a non-finite total makes the gradients non-finite, as in torch.
at::Tensor clip_grad_norm_(at::TensorList params, double max_norm);

// The factor clip_grad_norm_ scales by, min(1, max_norm / (total + 1e-6)), as a 0-dim tensor on
// total's device (total: grad_norm's result; max_norm > 0). For an optimizer that applies it
// itself (AdamW::step's grad_scale) instead of a separate pass over the gradients.
at::Tensor clip_coefficient(const at::Tensor& total, double max_norm);

}  // namespace distill::train
