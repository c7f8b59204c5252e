// `r2g2 COMMAND [options]`: dispatches to the registered subcommands.
#include <exception>
#include <iostream>
#include <sstream>

#include "r2g2/core/error.h"
#include "r2g2/core/profiler.h"
#include "tools/cli.h"

namespace r2g2::cli {

std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> commands;
  return commands;
}

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
        R2G2_CHECK(i + 1 < words.size(), "option --", key, " needs a value");
        value = words[++i];
      }
      values_[key] = value;
    } else {
      std::string all;
      for (auto& k : known_options) all += " --" + k;
      for (auto& k : known_flags) all += " --" + k;
      throw Error("unknown option --" + key +
                  (all.empty() ? " (this command takes none)" : "; known:" + all));
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
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  R2G2_CHECK(used == it->second.size() && used > 0, "option --", key, " expects an integer, got '",
             it->second, "'");
  return v;
}

double Args::get_double(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  R2G2_CHECK(used == it->second.size() && used > 0, "option --", key, " expects a number, got '", it->second,
             "'");
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
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    R2G2_CHECK(used == item.size() && v > 0, "option --", option,
               " expects positive sizes separated by commas (e.g. 1024,1024), got '", text, "'");
    out.push_back(v);
  }
  R2G2_CHECK(!out.empty(), "option --", option, " is empty");
  return out;
}

}  // namespace r2g2::cli

namespace {
void print_help() {
  std::cout
      << "r2g2: Bayesian deep learning with pluggable reparameterisation gradient estimators\n\n"
         "usage: r2g2 COMMAND [options]      r2g2 COMMAND --help\n\n"
         "--profile (any command, or R2G2_PROFILE=1 in the environment) prints on stderr, at the end,\n"
         "the calls and wall time of every op, backward and kernel (on CUDA, each kernel synchronised)\n\n"
         "commands:\n";
  for (auto& [name, cmd] : r2g2::cli::registry()) {
    if (name.rfind("bench-", 0) == 0) continue;  // reached as `r2g2 bench TARGET`
    std::cout << "  " << name << std::string(name.size() < 10 ? 10 - name.size() : 1, ' ') << cmd.summary
              << "\n";
  }
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_help();
    return words.empty() ? 2 : 0;
  }
  auto& reg = r2g2::cli::registry();
  auto it = reg.find(words[0]);
  if (it == reg.end()) {
    std::cerr << "r2g2: unknown command '" << words[0] << "'\n\n";
    print_help();
    return 2;
  }
  std::vector<std::string> rest;
  bool profile = false;
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] == "--help" || words[i] == "-h") {
      // `r2g2 bench TARGET --help` is the target's own usage.
      auto target = words[0] == "bench" && i > 1 ? reg.find("bench-" + words[1]) : reg.end();
      std::cout << (target != reg.end() ? target->second.usage : it->second.usage) << "\n";
      return 0;
    }
    if (words[i] == "--profile")
      profile = true;
    else
      rest.push_back(words[i]);
  }
  if (profile) r2g2::profiler::enable(true);
  int status = 1;
  try {
    status = it->second.run(rest);
  } catch (const std::exception& e) {
    std::cerr << "r2g2 " << words[0] << ": error: " << e.what() << "\n";
  }
  if (profile) {
    std::cout.flush();
    r2g2::profiler::print(std::cerr);
    r2g2::profiler::enable(false);
    r2g2::profiler::reset();  // printed once: the exit report of R2G2_PROFILE finds it empty
  }
  return status;
}
