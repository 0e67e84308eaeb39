// The run report: which charts a run gets, that the SVG lines follow the metrics, escaping, errors.
#include <gtest/gtest.h>

#include <regex>

#include "distill/report/report.h"
#include "distill/util/errors.h"
#include "test_support.h"

namespace distill {
namespace {

using Json = nlohmann::json;

std::vector<Json> rows_of_a_run() {
  std::vector<Json> rows;
  for (int step = 1; step <= 10; ++step) {
    rows.push_back({{"step", step}, {"loss", 5.0 - 0.3 * step}, {"kd_loss", 2.0 - 0.1 * step}, {"ce_loss", 7.0 - 0.4 * step},
                    {"lr", 1e-3 * step / 10}, {"grad_norm", 1.0}, {"tokens_per_s", 1000.0 + step},
                    {"teacher_entropy", 3.0}, {"student_entropy", 6.0 - 0.2 * step}, {"skipped", false}});
    if (step % 5 == 0) rows.push_back({{"step", step}, {"val_loss", 4.0}, {"val_ppl", 100.0 / step}, {"val_teacher_ppl", 9.0}});
  }
  rows[3]["loss"] = nullptr;  // a non-finite loss, written as null, is left out of the line
  return rows;
}

// The "x,y" pairs of the polyline drawn for `series`.
std::vector<std::pair<double, double>> polyline(const std::string& svg, const std::string& series) {
  const std::regex re("data-series=\"" + series + "\" points=\"([^\"]*)\"");
  std::smatch m;
  std::vector<std::pair<double, double>> out;
  if (!std::regex_search(svg, m, re)) return out;
  std::istringstream in(m[1].str());
  std::string pair;
  while (in >> pair) {
    const auto comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

TEST(Report, ChartsOfARunSkipEmptySeries) {
  const auto charts = report::charts_of(rows_of_a_run());
  std::vector<std::string> titles;
  for (const auto& c : charts) titles.push_back(c.title);
  // No loss_scale or peak_mem_gib in these rows: those charts are left out.
  EXPECT_EQ(titles, (std::vector<std::string>{"Loss", "Validation perplexity", "Learning rate",
                                              "Gradient norm (before clipping)", "Output entropy (nats)",
                                              "Throughput (tokens/s)"}));
  EXPECT_EQ(charts[0].series[0].points.size(), 9u);  // the null loss is skipped
  EXPECT_EQ(charts[0].series[3].points.size(), 2u);  // validation loss at steps 5 and 10
  EXPECT_TRUE(charts[0].series[3].dots);
}

TEST(Report, LinesFollowTheValuesLeftToRightAndTopDown) {
  const auto charts = report::charts_of(rows_of_a_run());
  const std::string svg = report::render_svg(charts[0]);
  const auto ce = polyline(svg, "ce_loss");
  ASSERT_EQ(ce.size(), 10u);
  for (size_t i = 1; i < ce.size(); ++i) {
    EXPECT_GT(ce[i].first, ce[i - 1].first);   // later steps further right
    EXPECT_GT(ce[i].second, ce[i - 1].second);  // ce falls: each point lower on the page (larger y)
  }
  // The chart spans the plot area: the highest value of the chart (ce 6.6 at step 1) at the top edge,
  // the last step at the right edge.
  EXPECT_NEAR(ce.front().second, 28.0, 0.1);
  EXPECT_NEAR(ce.back().first, 640.0 - 16.0, 0.1);
  EXPECT_EQ(polyline(svg, "loss").size(), 9u);
}

TEST(Report, PageIsSelfContainedAndEscaped) {
  const Json config = {{"teacher", {{"path", "models/<teacher>"}}}, {"loss", {{"kind", "forward_kl"}}}};
  const Json eval = {{"perplexity", 12.5}, {"teacher", {{"perplexity", 10.0}}}};
  const std::string html = report::render_html("runs/a&b", config, rows_of_a_run(), eval);
  EXPECT_NE(html.find("runs/a&amp;b"), std::string::npos);
  EXPECT_NE(html.find("models/&lt;teacher&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<teacher>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_NE(html.find("Evaluation"), std::string::npos);
  EXPECT_NE(html.find("teacher perplexity"), std::string::npos);
  std::size_t svgs = 0;
  for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 6u);
}

TEST(Report, MissingOrBrokenMetricsAreInputErrors) {
  testing::TempDir tmp;
  try {
    report::write_report(tmp.file("none"), tmp.file("r.html"), "");
    FAIL() << "expected an InputError";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl"), std::string::npos);
  }
  testing::write_file(tmp.file("metrics.jsonl"), "{\"step\": 1, \"loss\": 2}\n{\"step\": 2, \"loss\":\n");
  try {
    report::write_report(tmp.path(), tmp.file("r.html"), "");
    FAIL() << "expected an InputError";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace distill
