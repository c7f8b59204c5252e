// The (estimator, layer kind) table and estimator schedules.
#include <cctype>
#include <limits>
#include <string>

#include "r2g2/core/error.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/estimators/table.h"

namespace r2g2 {

namespace est {
namespace {

const Unsupported kLrtLimits[] = {
    {LayerKind::conv2d,
     "LRT needs a diagonal K, but a convolution shares each weight across output positions, "
     "so K = X^T diag(sigma^2) X is not diagonal; use rt, flipout or r2g2"},
    {LayerKind::latent_linear,
     "LRT needs a diagonal K, but here K = W diag(sigma^2) W^T couples the outputs; use rt or r2g2"},
};

const Unsupported kFlipoutLimits[] = {
    {LayerKind::latent_linear,
     "Flipout decorrelates a weight sample shared by the mini-batch, but a latent already has "
     "independent noise per example; use rt or r2g2"},
};

// A table rather than self-registering objects: the library is static, and the linker
// would drop an estimator file that nothing else references. Listed in help-text order.
const EstimatorEntry kEstimators[] = {
    {.name = "rt",
     .linear = rt_linear,
     .conv2d = stateless_conv2d<conv_est::rt>,
     .latent_linear = rt_latent_linear},
    {.name = "rt-per-example",
     .linear = rt_per_example_linear,
     .conv2d = stateless_conv2d<conv_est::rt_per_example>,
     .latent_linear = rt_latent_linear},  // a latent already has independent noise per example
    {.name = "lrt", .linear = lrt_linear, .why_not = kLrtLimits},
    {.name = "flipout",
     .linear = flipout_linear,
     .conv2d = stateless_conv2d<conv_est::flipout>,
     .why_not = kFlipoutLimits},
    {.name = "score",
     .linear = score_linear,
     .conv2d = score_conv2d,
     .latent_linear = score_latent_linear,
     .needs_surrogate = true},
    {.name = "r2g2", .linear = r2g2_linear, .conv2d = r2g2_conv2d, .latent_linear = r2g2_latent_linear},
    {.name = "r2g2-paper",
     .linear = r2g2_linear,
     .conv2d = r2g2_conv2d,
     .latent_linear = r2g2_latent_linear,
     .adjust_options = r2g2_paper_options},
    {.name = "r2g2-shared",
     .linear = r2g2_linear,
     .conv2d = r2g2_conv2d,
     .latent_linear = r2g2_latent_linear,
     .adjust_options = r2g2_shared_options},
};

}  // namespace

const EstimatorEntry* find_estimator(const std::string& name) {
  for (const auto& e : kEstimators)
    if (name == e.name) return &e;
  return nullptr;
}

}  // namespace est

namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

}  // namespace

std::vector<std::string> estimator_names() {
  std::vector<std::string> out;
  for (const auto& e : est::kEstimators) out.push_back(e.name);
  return out;
}

std::string estimator_names_joined() {
  std::string s;
  for (const auto& e : est::kEstimators) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

std::unique_ptr<Estimator> make_estimator(const std::string& name, const EstimatorOptions& options) {
  if (const est::EstimatorEntry* e = est::find_estimator(name))
    return std::make_unique<Estimator>(*e, options);
  throw Error("unknown estimator '" + name + "'; known estimators: " + estimator_names_joined());
}

EstimatorSchedule::EstimatorSchedule(const std::string& spec) {
  const std::string where = "estimator schedule '" + spec + "'";
  R2G2_CHECK(!trim(spec).empty(), where, ": empty (expected e.g. \"r2g2:2000,rt\")");
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t comma = spec.find(',', start);
    parts.push_back(trim(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  int64_t total = 0;  // steps of the segments so far
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const bool last = i + 1 == parts.size();
    R2G2_CHECK(!part.empty(), where, ": segment ", i + 1, " is empty");
    std::string name = part;
    int64_t steps = -1;
    if (auto colon = part.find(':'); colon != std::string::npos) {
      name = trim(part.substr(0, colon));
      std::string count = trim(part.substr(colon + 1));
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(count, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      R2G2_CHECK(used == count.size() && used > 0 && v > 0, where, ": segment ", i + 1, " ('", part,
                 "') needs a positive step count after ':'");
      steps = v;
    }
    R2G2_CHECK(est::find_estimator(name) != nullptr, where, ": unknown estimator '", name,
               "'; known estimators: ", estimator_names_joined());
    R2G2_CHECK(last || steps > 0, where, ": segment ", i + 1, " ('", part,
               "') needs a step count (name:steps) because another segment follows it");
    // name_at adds up the counts before the last segment: their sum must fit in int64.
    R2G2_CHECK(last || steps <= std::numeric_limits<int64_t>::max() - total, where, ": segment ", i + 1,
               " ('", part, "') ends beyond step ", std::numeric_limits<int64_t>::max());
    if (!last) total += steps;
    segments_.emplace_back(name, steps);
  }
}

const std::string& EstimatorSchedule::name_at(int64_t step) const {
  R2G2_CHECK(!segments_.empty(), "estimator schedule: empty schedule");
  int64_t end = 0;
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    end += segments_[i].second;
    if (step < end) return segments_[i].first;
  }
  return segments_.back().first;
}

std::string EstimatorSchedule::str() const {
  std::string s;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (i) s += ",";
    s += segments_[i].first;
    if (i + 1 < segments_.size()) {
      s += ':';  // appended in two steps: GCC 12's -Wrestrict misfires on ":" + to_string(...)
      s += std::to_string(segments_[i].second);
    }
  }
  return s;
}

}  // namespace r2g2
