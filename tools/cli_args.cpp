// Option parsing and the checks every command applies to what the user typed.
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "r2g2/core/data/datasets.h"
#include "tools/cli.h"

namespace r2g2::cli {

namespace {

template <class... Parts>
[[noreturn]] void usage_error(const Parts&... parts) {
  throw UsageError(detail::concat(parts...));
}

// "--batch must be positive, got 0": the wording a user expects for the usual bounds.
template <class T>
void check_range(const std::string& key, T value, T minimum, T maximum) {
  if (value < minimum) {
    if (minimum == T(1) && std::is_integral_v<T>) usage_error("--", key, " must be positive, got ", value);
    if (minimum == T(0)) usage_error("--", key, " must be >= 0, got ", value);
    usage_error("--", key, " must be at least ", minimum, ", got ", value);
  }
  if (value > maximum) usage_error("--", key, " must be at most ", maximum, ", got ", value);
}

}  // namespace

Args::Args(std::vector<std::string> words, const std::vector<std::string>& known_options,
           const std::vector<std::string>& known_flags) {
  auto known = [](const std::vector<std::string>& list, const std::string& w) {
    for (auto& k : list)
      if (k == w) return true;
    return false;
  };
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.rfind("--", 0) != 0) {
      positional_.push_back(w);
      continue;
    }
    std::string key = w.substr(2), value;
    bool inline_value = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      inline_value = true;
    }
    if (known(known_flags, key) && !inline_value) {
      flags_[key] = true;
    } else if (known(known_options, key)) {
      if (!inline_value) {
        if (i + 1 >= words.size()) usage_error("option --", key, " needs a value");
        value = words[++i];
      }
      values_[key] = value;
    } else if (known(known_flags, key)) {
      usage_error("option --", key, " is a flag and takes no value, got '", value, "'");
    } else {
      std::string all;
      for (auto& k : known_options) all += " --" + k;
      for (auto& k : known_flags) all += " --" + k;
      usage_error("unknown option --", key, all.empty() ? " (this command takes none)" : "; known:" + all);
    }
  }
}

std::string Args::get(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

long long Args::get_int(const std::string& key, long long fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  long long v = 0;
  const char* first = text.data();
  if (!text.empty() && text[0] == '+') ++first;  // from_chars takes no sign but '-'
  const auto [end, ec] = std::from_chars(first, text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range)
    usage_error("option --", key, " expects an integer, got '", text, "', which is out of range");
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || first == end)
    usage_error("option --", key, " expects an integer, got '", text, "'");
  return v;
}

double Args::get_double(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  // strtod, not from_chars: it reads what a user types ("1e-3", "+2", ".5") on every libstdc++.
  char* end = nullptr;
  errno = 0;
  const double v = text.empty() || std::isspace(static_cast<unsigned char>(text[0]))
                       ? 0.0
                       : std::strtod(text.c_str(), &end);
  if (end == nullptr || end == text.c_str() || *end != '\0')
    usage_error("option --", key, " expects a number, got '", text, "'");
  if (!std::isfinite(v) || (errno == ERANGE && std::fabs(v) > 1.0))
    usage_error("option --", key, " expects a finite number, got '", text, "'");
  return v;
}

long long Args::get_int(const std::string& key, long long fallback, long long minimum,
                        long long maximum) const {
  if (!has(key)) return fallback;
  const long long v = get_int(key, fallback);
  check_range(key, v, minimum, maximum);
  return v;
}

double Args::get_double(const std::string& key, double fallback, double minimum, double maximum) const {
  if (!has(key)) return fallback;
  const double v = get_double(key, fallback);
  check_range(key, v, minimum, maximum);
  return v;
}

double Args::get_positive(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const double v = get_double(key, fallback);
  if (!(v > 0)) usage_error("--", key, " must be positive, got ", v);
  return v;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int64_t> parse_sizes(const std::string& text, const char* option) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(text)) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size() || v <= 0)
      usage_error("option --", option, " expects positive sizes separated by commas (e.g. 1024,1024), got '",
                  text, "'");
    if (v > kMaxWidth) usage_error("option --", option, " width ", v, " exceeds the limit of ", kMaxWidth);
    if (!out.empty() && out.back() * v > kMaxWeightElements)
      usage_error("option --", option, " widths ", out.back(), " and ", v, " make a weight matrix of ",
                  out.back() * v, " elements, more than the limit of ", kMaxWeightElements);
    out.push_back(v);
  }
  if (out.empty()) usage_error("option --", option, " is empty");
  return out;
}

void check_output_path(const std::string& option, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) usage_error("option --", option, " needs a file name, got ''");
  std::error_code ec;
  if (fs::is_directory(path, ec)) usage_error("option --", option, " ", path, ": is a directory, not a file");
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  if (!fs::is_directory(folder, ec))
    usage_error("option --", option, " ", path, ": the folder ", folder.string(), " does not exist");
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    usage_error("option --", option, " ", path, ": the folder ", folder.string(), " is not writable");
  if (fs::exists(path, ec) && ::access(path.c_str(), W_OK) != 0)
    usage_error("option --", option, " ", path, ": the file exists and is not writable");
}

void check_input_file(const std::string& option, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) usage_error(option, " ", path, ": no such file");
  if (fs::is_directory(path, ec)) usage_error(option, " ", path, ": is a directory, not a file");
  if (::access(path.c_str(), R_OK) != 0) usage_error(option, " ", path, ": cannot be read (no permission)");
}

void check_input_dir(const std::string& option, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) usage_error("option --", option, " ", path, ": no such directory");
  if (!fs::is_directory(path, ec)) usage_error("option --", option, " ", path, ": not a directory");
}

void check_data_name(const std::string& option, const std::string& name) {
  try {
    data::find_data_dir(name);  // looks at folders only; an unknown name throws, listing the known ones
  } catch (const Error& e) {
    throw UsageError(detail::concat(option, ": ", e.what()));
  }
}

}  // namespace r2g2::cli
