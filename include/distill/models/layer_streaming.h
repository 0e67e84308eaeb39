// Teacher layers streamed from pinned host memory (teacher.offload = "layers").
//
// A 7B bf16 teacher is 15 GB of weights; a 24 GB GPU cannot hold it next to a student and its
// optimizer. With streaming, only the embedding, the final norm and the LM head stay on the GPU;
// each decoder layer lives in pinned host memory and is copied into one of two GPU slots on a
// separate copy stream while the previous layer computes (double buffering). A forward pass then
// needs two layers' worth of GPU memory, and costs one host-to-device copy of the layers, which
// overlaps with the compute.
#pragma once

#include <cstdint>
#include <memory>

#include <ATen/ATen.h>

namespace distill::models {

class CausalLMImpl;

// Called by CausalLMImpl::hidden_states around each decoder layer.
class LayerStreamer {
 public:
  virtual ~LayerStreamer() = default;
  // Layer `i`'s parameters are on the GPU (in a slot) when this returns; starts the next copy.
  virtual void before_layer(std::int64_t i) = 0;
  // Layer `i`'s slot may be refilled once the work queued so far is done.
  virtual void after_layer(std::int64_t i) = 0;
  // Bytes of GPU memory the slots hold.
  virtual std::int64_t slot_bytes() const = 0;
};

// Moves everything but the decoder layers of `model` (held on the CPU) to `device` and pins the
// layers' parameters in host memory; later forward passes stream them. The model must be used for
// inference only (no gradients). Throws std::invalid_argument unless `device` is CUDA (and the build
// has CUDA) and every layer has the same parameter shapes.
void stream_layers_from_host(CausalLMImpl& model, const at::Device& device);

}  // namespace distill::models
