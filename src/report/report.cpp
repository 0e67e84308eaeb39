// The run report: metrics.jsonl -> inline SVG line charts -> one HTML file.
#include "distill/report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "distill/io/atomic_file.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/jsonl.h"

namespace distill::report {
namespace {

using Json = nlohmann::json;

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v, int precision = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// (step, value) of every row holding a finite number under `key`.
Series series_of(const std::vector<Json>& rows, const std::string& key, const std::string& name, bool dots = false) {
  Series s{name, {}, dots};
  for (const Json& row : rows) {
    const auto v = row.find(key), step = row.find("step");
    if (v == row.end() || step == row.end() || !v->is_number() || !step->is_number()) continue;
    const double value = v->get<double>();
    if (std::isfinite(value)) s.points.emplace_back(step->get<double>(), value);
  }
  return s;
}

// Round tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
std::vector<double> ticks(double lo, double hi, int target = 5) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

}  // namespace

std::vector<Chart> charts_of(const std::vector<Json>& rows) {
  std::vector<Chart> charts = {
      {"Loss", {series_of(rows, "loss", "loss"), series_of(rows, "kd_loss", "kd_loss (T\u00b2\u00b7KL)"),
                series_of(rows, "ce_loss", "ce_loss"), series_of(rows, "val_loss", "validation loss", true)}},
      {"Validation perplexity", {series_of(rows, "val_ppl", "student", true),
                                 series_of(rows, "val_teacher_ppl", "teacher", true)}},
      {"Learning rate", {series_of(rows, "lr", "lr")}},
      {"Gradient norm (before clipping)", {series_of(rows, "grad_norm", "grad_norm")}},
      {"Output entropy (nats)", {series_of(rows, "teacher_entropy", "teacher"), series_of(rows, "student_entropy", "student")}},
      {"Throughput (tokens/s)", {series_of(rows, "tokens_per_s", "tokens/s")}},
      {"Loss scale (fp16)", {series_of(rows, "loss_scale", "loss scale")}},
      {"Peak GPU memory (GiB)", {series_of(rows, "peak_mem_gib", "peak GiB")}},
  };
  std::vector<Chart> out;
  for (Chart& c : charts) {
    c.series.erase(std::remove_if(c.series.begin(), c.series.end(), [](const Series& s) { return s.points.empty(); }),
                   c.series.end());
    if (!c.series.empty()) out.push_back(std::move(c));
  }
  return out;
}

std::string render_svg(const Chart& chart, int width, int height) {
  const double left = 64, right = 16, top = 28, bottom = 36;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const Series& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) {
    const double pad = std::abs(y0) > 0 ? std::abs(y0) * 0.05 : 1.0;
    y0 -= pad, y1 += pad;
  }
  const double w = width - left - right, h = height - top - bottom;
  auto X = [&](double x) { return left + (x - x0) / (x1 - x0) * w; };
  auto Y = [&](double y) { return top + (y1 - y) / (y1 - y0) * h; };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" role=\"img\" aria-label=\"" << escape(chart.title) << "\">\n";
  svg << "<text x=\"" << left << "\" y=\"18\" class=\"title\">" << escape(chart.title) << "</text>\n";
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << px(w) << "\" height=\"" << px(h)
      << "\" class=\"frame\"/>\n";
  for (double t : ticks(y0, y1)) {
    svg << "<line x1=\"" << left << "\" x2=\"" << px(left + w) << "\" y1=\"" << px(Y(t)) << "\" y2=\"" << px(Y(t))
        << "\" class=\"grid\"/><text x=\"" << left - 6 << "\" y=\"" << px(Y(t) + 4) << "\" class=\"ytick\">" << num(t)
        << "</text>\n";
  }
  for (double t : ticks(x0, x1)) {
    svg << "<text x=\"" << px(X(t)) << "\" y=\"" << px(top + h + 16) << "\" class=\"xtick\">" << num(t, 6) << "</text>\n";
  }
  svg << "<text x=\"" << px(left + w / 2) << "\" y=\"" << height - 4 << "\" class=\"xtick\">step</text>\n";
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const char* color = kColors[i % (sizeof kColors / sizeof *kColors)];
    if (s.dots || s.points.size() == 1) {
      for (const auto& [x, y] : s.points) {
        svg << "<circle cx=\"" << px(X(x)) << "\" cy=\"" << px(Y(y)) << "\" r=\"3.5\" fill=\"" << color << "\"><title>"
            << escape(s.name) << " step " << num(x, 9) << ": " << num(y, 6) << "</title></circle>\n";
      }
    } else {
      svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\" data-series=\"" << escape(s.name)
          << "\" points=\"";
      for (size_t k = 0; k < s.points.size(); ++k) {
        svg << (k ? " " : "") << px(X(s.points[k].first)) << "," << px(Y(s.points[k].second));
      }
      svg << "\"/>\n";
    }
    const double ly = top + 14 + 16 * static_cast<double>(i);
    svg << "<rect x=\"" << px(left + w - 170) << "\" y=\"" << px(ly - 9) << "\" width=\"10\" height=\"10\" fill=\"" << color
        << "\"/><text x=\"" << px(left + w - 155) << "\" y=\"" << px(ly) << "\" class=\"legend\">" << escape(s.name)
        << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string render_html(const std::string& run_dir, const Json& config, const std::vector<Json>& rows, const Json& eval) {
  std::ostringstream html;
  html << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>distill run " << escape(run_dir)
       << "</title>\n<style>\n"
          "body{font-family:system-ui,-apple-system,sans-serif;margin:24px;color:#222;max-width:1340px}\n"
          "h1{font-size:20px} h2{font-size:16px;margin-top:28px} table{border-collapse:collapse;margin:8px 0}\n"
          "td,th{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:13px}\n"
          ".charts{display:flex;flex-wrap:wrap;gap:12px} .chart{background:#fff}\n"
          ".frame{fill:none;stroke:#999} .grid{stroke:#eee} .title{font-size:14px;font-weight:600}\n"
          ".ytick{font-size:11px;text-anchor:end;fill:#555} .xtick{font-size:11px;text-anchor:middle;fill:#555}\n"
          ".legend{font-size:12px;fill:#333}\n</style></head><body>\n";
  html << "<h1>distill run: " << escape(run_dir) << "</h1>\n<table>\n";
  auto cfg = [&](const char* section, const char* key) -> std::string {
    if (!config.is_object() || !config.contains(section) || !config[section].is_object() ||
        !config[section].contains(key)) {
      return "";
    }
    const Json& v = config[section][key];
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  const std::pair<const char*, std::string> facts[] = {
      {"teacher", cfg("teacher", "path")},
      {"student", cfg("student", "path")},
      {"loss", cfg("loss", "kind") + " (T " + cfg("loss", "temperature") + ", alpha " + cfg("loss", "alpha") + ")"},
      {"optimizer", "lr " + cfg("optim", "lr") + ", warmup " + cfg("schedule", "warmup_steps") + ", " +
                        cfg("schedule", "decay") + " decay"},
      {"batch", cfg("train", "micro_batch") + " x " + cfg("data", "seq_len") + " tokens, grad_accum " +
                    cfg("train", "grad_accum") + ", " + cfg("train", "precision")},
  };
  for (const auto& [name, value] : facts) html << "<tr><th>" << name << "</th><td>" << escape(value) << "</td></tr>\n";
  std::int64_t last_step = 0, logged = 0;
  double last_loss = NAN;
  for (const Json& row : rows) {
    if (row.contains("step") && row["step"].is_number()) last_step = std::max(last_step, row["step"].get<std::int64_t>());
    if (row.contains("loss") && row["loss"].is_number()) last_loss = row["loss"].get<double>(), ++logged;
  }
  html << "<tr><th>progress</th><td>step " << last_step << ", " << logged << " logged steps, last loss "
       << (std::isfinite(last_loss) ? num(last_loss, 5) : "-") << "</td></tr>\n</table>\n";
  html << "<h2>Curves</h2>\n<div class=\"charts\">\n";
  for (const Chart& c : charts_of(rows)) html << render_svg(c);
  html << "</div>\n";
  if (!eval.is_null()) {
    html << "<h2>Evaluation</h2>\n<table>\n";
    for (const auto& [key, value] : eval.items()) {
      if (value.is_object() || (value.is_array() && value.size() > 8)) continue;
      html << "<tr><th>" << escape(key) << "</th><td>"
           << escape(value.is_number_float() ? num(value.get<double>(), 6) : value.is_string() ? value.get<std::string>()
                                                                                            : value.dump())
           << "</td></tr>\n";
    }
    for (const char* section : {"teacher", "mc"}) {
      if (!eval.contains(section) || !eval[section].is_object()) continue;
      for (const auto& [key, value] : eval[section].items()) {
        if (value.is_array()) continue;
        html << "<tr><th>" << section << " " << escape(key) << "</th><td>"
             << escape(value.is_number_float() ? num(value.get<double>(), 6)
                                               : value.is_string() ? value.get<std::string>() : value.dump())
             << "</td></tr>\n";
      }
    }
    html << "</table>\n";
  }
  html << "<p style=\"color:#777;font-size:12px\">Written by distill report from " << escape(run_dir)
       << "/metrics.jsonl; self-contained (no network needed to view).</p>\n</body></html>\n";
  return html.str();
}

int write_report(const std::string& run_dir, const std::string& out, const std::string& eval_path) {
  const std::string metrics = files::join(run_dir, "metrics.jsonl");
  if (!files::is_regular_file(metrics)) {
    throw InputError(metrics, "cannot read", "give a run directory (checkpoint.dir) that has trained");
  }
  std::vector<Json> rows;
  for_each_jsonl_object(metrics, [&](const Json& row, const std::string&) { rows.push_back(row); });
  if (rows.empty()) throw InputError(metrics, "has no rows yet", "train for at least train.log_every steps first");
  Json config = nullptr, eval = nullptr;
  const std::string config_path = files::join(run_dir, "config.json");
  if (files::is_regular_file(config_path)) {
    try {
      std::ifstream c(config_path);
      config = Json::parse(c);
    } catch (const std::exception&) {
      throw InputError(config_path, "not valid JSON");
    }
  }
  if (!eval_path.empty()) {
    std::ifstream e(eval_path);
    if (!e) throw InputError(eval_path, "cannot read");
    try {
      eval = Json::parse(e);
    } catch (const std::exception&) {
      throw InputError(eval_path, "not valid JSON", "give the file `distill eval --json` wrote");
    }
  }
  io::write_file_atomic(out, render_html(run_dir, config, rows, eval));
  return static_cast<int>(charts_of(rows).size());
}

}  // namespace distill::report
