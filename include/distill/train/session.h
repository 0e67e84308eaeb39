// One `distill train` run end to end: tokenizers, data, models, run directory, trainer.
#pragma once

#include <string>

#include "distill/checkpoint/run_dir.h"
#include "distill/config/config.h"
#include "distill/train/trainer.h"

namespace distill::train {

// Checks that teacher and student tokenize alike (vocabularies that differ only by padding rows are
// fine). Different tokenizers are a UsageError naming loss.cross_tokenizer (transplant or align
// make such pairs work; run_training skips this check for them).
void check_same_vocabulary(const config::Config& config);

// Runs the whole job described by `config` and returns what the trainer reports. Exit-code errors
// (lock, interrupt, OOM, bad inputs) propagate as distill::Error.
TrainResult run_training(const config::Config& config, checkpoint::ResumeMode mode);

}  // namespace distill::train
