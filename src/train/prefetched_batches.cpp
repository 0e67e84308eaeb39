// See prefetched_batches.h.
#include "distill/train/prefetched_batches.h"

#include <algorithm>
#include <utility>

namespace distill::train {

PrefetchedBatches::PrefetchedBatches(std::unique_ptr<BatchSource> inner, std::size_t depth)
    : inner_(std::move(inner)), depth_(std::max<std::size_t>(depth, 1)), position_(inner_->position()) {}

PrefetchedBatches::~PrefetchedBatches() { stop(); }

void PrefetchedBatches::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || queue_.size() < depth_; });
      if (stopping_) return;
    }
    Item item;
    try {
      item.batch = inner_->next();
      item.position = inner_->position();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    const bool end = !item.batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(item));
    }
    cv_.notify_all();
    if (end) return;
  }
}

std::optional<Batch> PrefetchedBatches::next() {
  if (ended_) return std::nullopt;
  if (!thread_.joinable()) thread_ = std::thread(&PrefetchedBatches::run, this);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || error_; });
  if (queue_.empty()) {  // the thread failed and has returned
    std::exception_ptr error = std::exchange(error_, nullptr);
    lock.unlock();
    thread_.join();
    std::rethrow_exception(error);
  }
  Item item = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  cv_.notify_all();
  position_ = std::move(item.position);
  if (!item.batch) {
    ended_ = true;
    thread_.join();
  }
  return std::move(item.batch);
}

void PrefetchedBatches::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = false;
  queue_.clear();
  error_ = nullptr;
}

void PrefetchedBatches::seek(const nlohmann::ordered_json& position) {
  stop();
  inner_->seek(position);
  position_ = inner_->position();
  ended_ = false;
}

void PrefetchedBatches::rewind() {
  stop();
  inner_->rewind();
  position_ = inner_->position();
  ended_ = false;
}

}  // namespace distill::train
