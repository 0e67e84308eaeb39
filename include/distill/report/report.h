// `distill report`: a run directory as one self-contained HTML page (inline SVG charts, no network).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace distill::report {

// One chart: named series of (step, value) points drawn as lines (or as dots for sparse series).
struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (step, value), in step order
  bool dots = false;                               // validation points: markers instead of a line
};

struct Chart {
  std::string title;
  std::vector<Series> series;
};

// The charts of a run's metrics.jsonl rows: losses (train loss, kd, ce and validation loss),
// learning rate, gradient norm, entropies, tokens/s, validation perplexity (student and teacher).
// Charts without any finite point are left out.
std::vector<Chart> charts_of(const std::vector<nlohmann::json>& rows);

// One chart as an SVG element (width x height pixels, axes with ticks, a legend).
std::string render_svg(const Chart& chart, int width = 640, int height = 260);

// The whole page: a summary of the run (config.json), every chart, and `eval` (the JSON that
// `distill eval --json` writes) as a table when it is not null.
std::string render_html(const std::string& run_dir, const nlohmann::json& config, const std::vector<nlohmann::json>& rows,
                        const nlohmann::json& eval);

// Reads <run_dir>/metrics.jsonl (InputError naming file:line on a malformed line; an empty file is
// an InputError too), config.json when present and `eval_path` when not empty, and writes the page
// to `out` atomically. Returns the number of charts.
int write_report(const std::string& run_dir, const std::string& out, const std::string& eval_path);

}  // namespace distill::report
