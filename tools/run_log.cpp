#include "tools/run_log.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "r2g2/core/checkpoint.h"
#include "r2g2/core/error.h"
#include "r2g2/core/json.h"

namespace r2g2::cli {

namespace {

std::string number(double v, const char* format = "%.9g") {
  if (!std::isfinite(v)) return "";
  char text[64];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

// The fourth field of a CSV line (the step), honouring quoted fields before it.
std::string fourth_field(const std::string& line) {
  int field = 0;
  bool quoted = false;
  std::string current;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      if (field == 3) return current;
      ++field;
      current.clear();
    } else {
      current += c;
    }
  }
  return field == 3 ? current : "";
}

}  // namespace

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out.append(c == '"' ? "\"\"" : std::string(1, c));
  return out.append("\"");
}

double StepWindow::nan() { return std::numeric_limits<double>::quiet_NaN(); }

void StepWindow::add(const StepRecord& r) {
  ++count_;
  loss_ += r.loss;
  nll_ += r.nll;
  kl_ += r.kl;
  seconds_ += r.seconds;
  if (!std::isnan(r.accuracy)) {
    accuracy_ += r.accuracy;
    ++accuracy_count_;
  }
  last_ = r;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char text[32];
  if (s < 60)
    std::snprintf(text, sizeof text, "%llds", s);
  else if (s < 3600)
    std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  return text;
}

Progress::Progress(int64_t first_step, int64_t total, bool terminal, std::FILE* out)
    : first_(first_step), total_(total), terminal_(terminal), out_(out) {}

std::string Progress::line(int64_t steps, const StepWindow& w, double elapsed) const {
  const double rate = elapsed > 0 ? static_cast<double>(steps - first_) / elapsed : 0.0;
  // Appended piece by piece: GCC 12's -Wrestrict misfires on chained concatenation at -O3.
  std::string text = "step ";
  text.append(std::to_string(steps)).append("/").append(std::to_string(total_));
  if (w.steps() > 0) {
    text.append("  loss ").append(number(w.loss(), "%.4g"));
    text.append("  nll ").append(number(w.nll(), "%.4g"));
    text.append("  kl ").append(number(w.kl(), "%.4g"));
    if (!std::isnan(w.accuracy()))
      text.append("  acc ").append(number(100.0 * w.accuracy(), "%.1f")).append("%");
  }
  text.append("  ").append(number(rate, "%.1f")).append(" steps/s");
  if (rate > 0) text.append("  ETA ").append(format_duration(static_cast<double>(total_ - steps) / rate));
  return text;
}

void Progress::step(int64_t steps, const StepWindow& window, double elapsed) {
  if (!terminal_ || (elapsed - last_draw_ < 0.1 && steps < total_)) return;
  last_draw_ = elapsed;
  const int width = 24;
  const int filled = total_ > 0 ? static_cast<int>(width * steps / total_) : width;
  std::string bar = "[";
  bar.append(static_cast<size_t>(filled), '#').append(static_cast<size_t>(width - filled), '.').append("] ");
  std::fprintf(out_, "\r\033[K%s%s", bar.c_str(), line(steps, window, elapsed).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void Progress::window_closed(int64_t steps, const StepWindow& window, double elapsed) {
  if (terminal_) return;
  std::fprintf(out_, "%s\n", line(steps, window, elapsed).c_str());
  std::fflush(out_);
}

void Progress::finish() {
  if (terminal_ && drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

const char* CsvLog::header() {
  return "model,estimator,seed,step,epoch,loss,nll,kl,accuracy,step_seconds,elapsed_seconds";
}

CsvLog::CsvLog(const std::string& path, int64_t resumed_at_step) : path_(path) {
  const std::string tmp = path + ".tmp";
  std::vector<std::string> kept;
  if (resumed_at_step > 0) {
    // A killed run leaves its rows in PATH.tmp, newer than any PATH; rows past the
    // checkpoint were trained by the killed process and are trained again now.
    std::ifstream old(std::filesystem::exists(tmp) ? tmp : path);
    std::string line;
    if (std::getline(old, line) && line == header()) {
      while (std::getline(old, line)) {
        const std::string step = fourth_field(line);
        char* end = nullptr;
        const long long value = step.empty() ? 0 : std::strtoll(step.c_str(), &end, 10);
        if (!step.empty() && *end == '\0' && value <= resumed_at_step) kept.push_back(line);
      }
    }
  }
  // The kept rows go to a fresh file that replaces PATH.tmp in one rename, so a kill at any
  // moment leaves them in one of the two.
  const std::string fresh = path + ".tmp.new";
  file_ = std::fopen(fresh.c_str(), "w");
  R2G2_CHECK(file_ != nullptr, "--log-csv ", path, ": cannot write ", fresh);
  std::fprintf(file_, "%s\n", header());
  for (const auto& line : kept) std::fprintf(file_, "%s\n", line.c_str());
  auto fail = [&](const std::string& what) {
    std::fclose(file_);
    file_ = nullptr;
    std::remove(fresh.c_str());
    throw Error(detail::concat("--log-csv ", path, ": ", what));
  };
  if (std::fflush(file_) != 0) fail("writing " + fresh + " failed");
  std::error_code error;
  std::filesystem::rename(fresh, tmp, error);
  if (error) fail("cannot rename " + fresh + " to " + tmp + ": " + error.message());
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

void CsvLog::row(const ExperimentOptions& o, const StepWindow& w, int64_t step, double elapsed) {
  if (!file_) return;
  std::fprintf(file_, "%s,%s,%llu,%lld,%lld,%s,%s,%s,%s,%s,%s\n", o.model.c_str(),
               csv_field(o.estimator).c_str(), (unsigned long long)o.seed, (long long)step,
               (long long)w.last().epoch, number(w.loss()).c_str(), number(w.nll()).c_str(),
               number(w.kl()).c_str(), number(w.accuracy()).c_str(), number(w.step_seconds()).c_str(),
               number(elapsed).c_str());
  std::fflush(file_);
}

void CsvLog::close() {
  if (!file_) return;
  const bool ok = std::fclose(file_) == 0;
  file_ = nullptr;
  R2G2_CHECK(ok, "--log-csv ", path_, ": writing ", path_, ".tmp failed");
  std::filesystem::rename(path_ + ".tmp", path_);
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
  members_.emplace_back(key, json::quote(value));
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, double value) {
  // The shortest of 15 to 17 digits that reads back as the same double: 0.0003, not
  // 0.00029999999999999997.
  std::string text = "null";
  for (const char* format : {"%.15g", "%.16g", "%.17g"}) {
    if (!std::isfinite(value)) break;
    text = number(value, format);
    if (std::strtod(text.c_str(), nullptr) == value) break;
  }
  members_.emplace_back(key, text);
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, int64_t value) {
  members_.emplace_back(key, std::to_string(value));
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, uint64_t value) {
  members_.emplace_back(key, std::to_string(value));
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, const JsonObject& value) {
  members_.emplace_back(key, value.str());
  return *this;
}

std::string JsonObject::str() const {
  std::string out = "{";
  for (const auto& [key, text] : members_) {
    if (out.size() > 1) out.append(",");
    out.append(json::quote(key)).append(":").append(text);
  }
  return out.append("}");
}

JsonObject to_json(const EvalRecord& e) {
  JsonObject o;
  o.add("split", e.split)
      .add("examples", e.examples)
      .add("accuracy", e.accuracy)
      .add("log_likelihood", e.log_likelihood)
      .add("ece", e.ece)
      .add("samples", e.samples)
      .add("iwae_bound", e.iwae_bound)
      .add("iwae_samples", e.iwae_samples);
  return o;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  // Through the checkpoint writer: fsync'ed, renamed, the folder fsync'ed.
  r2g2::write_file_atomically(path, {text}, path);
}

std::string describe(const EvalRecord& e) {
  char text[256];
  if (e.iwae_samples > 0 || !std::isnan(e.iwae_bound))
    std::snprintf(text, sizeof text, "%s: IWAE bound %.4f nats  (K = %lld, %lld examples)", e.split.c_str(),
                  e.iwae_bound, (long long)e.iwae_samples, (long long)e.examples);
  else
    std::snprintf(
        text, sizeof text, "%s: accuracy %.2f%%  log-likelihood %.4f  ECE %.4f  (%lld examples, %d %s)",
        e.split.c_str(), 100.0 * e.accuracy, e.log_likelihood, e.ece, (long long)e.examples, e.samples,
        e.samples == 0   ? "samples: the mean weights"
        : e.samples == 1 ? "sample"
                         : "samples");
  return text;
}

}  // namespace r2g2::cli
