// A BatchSource that draws from another one on a background thread, a few batches ahead. The inner
// source's per-batch host work (across tokenizers: the teacher's tokens of the same text and the
// alignment of the two, xtok/teacher_batch.h) then runs beside the training step instead of in it.
// position() is the inner source's position after the last batch returned, not after the ones
// drawn ahead, so checkpoints and resume are exactly those of the inner source.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "distill/train/batch_source.h"

namespace distill::train {

class PrefetchedBatches : public BatchSource {
 public:
  explicit PrefetchedBatches(std::unique_ptr<BatchSource> inner, std::size_t depth = 2);
  ~PrefetchedBatches() override;  // stops and joins the thread
  PrefetchedBatches(const PrefetchedBatches&) = delete;
  PrefetchedBatches& operator=(const PrefetchedBatches&) = delete;

  // The inner source's next batch, in its order; its errors are rethrown here, after the batches
  // it made before them.
  std::optional<Batch> next() override;
  nlohmann::ordered_json position() const override { return position_; }
  void seek(const nlohmann::ordered_json& position) override;
  void rewind() override;

 private:
  struct Item {
    std::optional<Batch> batch;
    nlohmann::ordered_json position;  // the inner source's, after `batch`
  };
  void run();
  void stop();

  std::unique_ptr<BatchSource> inner_;  // touched by the thread only while it runs
  std::size_t depth_;
  nlohmann::ordered_json position_;
  bool ended_ = false;  // the inner source ended (a finite one); rewind or seek to go on
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace distill::train
