// The single-process ProcessGroup (a c10d-backed one can implement the same interface later).
#include "distill/dist/process_group.h"

namespace distill::dist {
namespace {

class SingleProcess : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_mean(std::vector<at::Tensor>&) override {}
  void barrier() override {}
};

}  // namespace

std::unique_ptr<ProcessGroup> single_process_group() { return std::make_unique<SingleProcess>(); }

}  // namespace distill::dist
