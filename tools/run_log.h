#pragma once
// What `r2g2 train` and `r2g2 eval` report while and after they run: the window of steps
// between two log lines, the progress line (redrawn in place on a terminal), the CSV of
// windows and the JSON summary. The CSV and JSON layouts are read by scripts; keep them.
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "tools/experiment.h"

namespace r2g2::cli {

// The means of the steps since the last reset.
class StepWindow {
 public:
  void add(const StepRecord& r);
  void reset() { *this = StepWindow(); }
  int64_t steps() const { return count_; }
  double loss() const { return mean(loss_); }
  double nll() const { return mean(nll_); }
  double kl() const { return mean(kl_); }
  double accuracy() const {
    return accuracy_count_ ? accuracy_ / static_cast<double>(accuracy_count_) : nan();
  }
  double step_seconds() const { return mean(seconds_); }
  const StepRecord& last() const { return last_; }

 private:
  static double nan();
  double mean(double sum) const { return count_ ? sum / static_cast<double>(count_) : nan(); }
  int64_t count_ = 0, accuracy_count_ = 0;
  double loss_ = 0, nll_ = 0, kl_ = 0, accuracy_ = 0, seconds_ = 0;
  StepRecord last_;
};

// A CSV field, quoted when it holds a comma, a quote or a newline (an estimator schedule such
// as "r2g2:2000,rt" does).
std::string csv_field(const std::string& text);

// "42s", "1m05s", "2h03m".
std::string format_duration(double seconds);

// The progress of a run of `total` steps: on a terminal a bar redrawn in place (at most
// ten times a second), elsewhere a plain line each time a window closes:
//   step 200/1000  loss 0.53  nll 0.41  kl 0.12  acc 87.5%  12.3 steps/s  ETA 1m05s
class Progress {
 public:
  Progress(int64_t first_step, int64_t total, bool terminal, std::FILE* out = stdout);
  // After every step: `steps` taken so far, the open window and the seconds since the start.
  void step(int64_t steps, const StepWindow& window, double elapsed);
  // When a window closes (every --log-every steps and at the end).
  void window_closed(int64_t steps, const StepWindow& window, double elapsed);
  // Ends the bar's line on a terminal.
  void finish();

 private:
  std::string line(int64_t steps, const StepWindow& window, double elapsed) const;
  int64_t first_, total_;
  bool terminal_;
  std::FILE* out_;
  double last_draw_ = -1;
  bool drawn_ = false;
};

// One row per closed window (estimator: the run's, as configured, so that a schedule such
// as r2g2:2000,rt stays one curve), written to PATH.tmp as the run goes and renamed to PATH
// only by close(), so PATH never holds half a log: a run that is killed or throws leaves its
// rows in PATH.tmp. A run resumed at step s continues the log of PATH.tmp when there is one
// (the killed run's), else of PATH, keeping its rows up to step s.
class CsvLog {
 public:
  static const char* header();  // model,estimator,seed,step,epoch,loss,...
  CsvLog() = default;
  CsvLog(const std::string& path, int64_t resumed_at_step);
  ~CsvLog();  // leaves PATH.tmp as it is
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;
  bool active() const { return file_ != nullptr; }
  void row(const ExperimentOptions& options, const StepWindow& window, int64_t step, double elapsed);
  void close();

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// A JSON object built in insertion order; NaN and infinities are written as null.
class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, int64_t value);
  JsonObject& add(const std::string& key, int value) { return add(key, static_cast<int64_t>(value)); }
  JsonObject& add(const std::string& key, uint64_t value);
  JsonObject& add(const std::string& key, const JsonObject& value);
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> members_;  // key, JSON text
};

// The EvalRecord's fields: split, examples, accuracy, log_likelihood, ece, samples,
// iwae_bound, iwae_samples.
JsonObject to_json(const EvalRecord& e);
// Writes `text` to a temporary file next to PATH, fsyncs it and renames it to PATH.
void write_file_atomically(const std::string& path, const std::string& text);

// The evaluation as people read it, one line:
//   test: accuracy 87.50%  log-likelihood -0.3512  ECE 0.0213  (10000 examples, 10 samples)
//   test: IWAE bound -95.32 nats  (K = 5000, 10000 examples)
std::string describe(const EvalRecord& e);

}  // namespace r2g2::cli
