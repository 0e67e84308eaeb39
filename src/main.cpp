// distill: knowledge distillation for causal language models. Everything lives in distill_core.
#include "distill/cli/app.h"

int main(int argc, char** argv) { return distill::cli::run(argc, argv); }
