// Teacher layers streamed from pinned host memory (teacher.offload = "layers").
//
// A 7B bf16 teacher is 15 GB of weights; a 24 GB GPU cannot hold it next to a student and its
// optimizer. With streaming, only the embedding, the final norm and the LM head stay on the GPU;
// each decoder layer lives in pinned host memory and is copied into one of two GPU slots on a
// separate copy stream while the previous layer computes (double buffering). A forward pass then
// needs two layers' worth of GPU memory, and costs one host-to-device copy of the layers, which
// overlaps with the compute.
//
// Streaming only some layers (teacher.offload_layers) trades less: the others stay on the GPU, and
// each streamed layer's copy overlaps the compute of the resident layers before it, so a few
// streamed layers cost GPU memory two slots' worth and, while the host link keeps up, no time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

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

// The decoder layers streamed when `count` of `num_layers` are (0: all): the middle layer of each of
// `count` equal stretches of the stack, ascending. Throws std::invalid_argument unless
// 0 <= count <= num_layers and num_layers >= 1.
std::vector<std::int64_t> streamed_layer_ids(std::int64_t num_layers, std::int64_t count);

// Moves everything of `model` (held on the CPU) but `count` of its decoder layers (0: all of them,
// chosen by streamed_layer_ids) to `device` and pins those layers' parameters in host memory; later
// forward passes stream them. The model must be used for inference only (no gradients). Throws
// std::invalid_argument unless `device` is CUDA (and the build has CUDA), `count` is in range and the
// streamed layers have the same parameter shapes.
void stream_layers_from_host(CausalLMImpl& model, const at::Device& device, std::int64_t count = 0);

}  // namespace distill::models
