// The data-parallel seam: the trainer talks to this interface; one process is the only backend today.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

namespace distill::dist {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In-place average of each tensor over all ranks (gradients, metrics).
  virtual void all_reduce_mean(std::vector<at::Tensor>& tensors) = 0;
  virtual void barrier() = 0;
  bool is_main() const { return rank() == 0; }
};

// The single-process group: rank 0 of 1; reductions are identities.
std::unique_ptr<ProcessGroup> single_process_group();

}  // namespace distill::dist
