// The record of the parameters' low-precision copies (weight_copies.h).
#include "distill/util/weight_copies.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>

#include "distill/util/env_switch.h"

namespace distill {
namespace {

struct Entry {
  at::Tensor param;  // held, so that its TensorImpl (the key) cannot be reused while recorded
  at::Tensor copy;
  std::int64_t version = 0;
  const void* data = nullptr;  // param's memory then: set_data() swaps it without a new version
};

std::mutex g_mutex;
std::map<const c10::TensorImpl*, Entry> g_copies;
std::atomic<std::int64_t> g_reads{0};
std::atomic<bool> g_enabled{env_switch("DISTILL_WEIGHT_COPIES", true)};

}  // namespace

void set_weight_copy(const at::Tensor& param, const at::Tensor& copy) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_copies[param.unsafeGetTensorImpl()] =
      Entry{param, copy, static_cast<std::int64_t>(param._version()), param.data_ptr()};
}

void forget_weight_copy(const at::Tensor& param) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_copies.erase(param.unsafeGetTensorImpl());
}

at::Tensor weight_in(const at::Tensor& weight, at::ScalarType dtype) {
  if (!weight.defined() || weight.scalar_type() == dtype) return weight;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    const auto it = g_copies.find(weight.unsafeGetTensorImpl());
    if (it != g_copies.end() && it->second.copy.scalar_type() == dtype &&
        it->second.version == static_cast<std::int64_t>(weight._version()) && it->second.data == weight.data_ptr() &&
        it->second.copy.sizes() == weight.sizes() && it->second.copy.device() == weight.device()) {
      ++g_reads;
      return it->second.copy;
    }
  }
  return weight.to(dtype);
}

std::int64_t weight_copies() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return static_cast<std::int64_t>(g_copies.size());
}

std::int64_t weight_copy_reads() { return g_reads.load(); }
bool weight_copies_enabled() { return g_enabled.load(); }
void set_weight_copies_enabled(bool on) { g_enabled = on; }

}  // namespace distill
