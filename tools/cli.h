#pragma once
// The `r2g2` command line: each subcommand lives in its own tools/cli_*.cpp and
// registers itself with R2G2_COMMAND, so adding one touches no other file.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace r2g2::cli {

// Parsed "--key value" / "--flag" options plus positional words. Unknown options are
// an error: every command declares what it accepts.
class Args {
 public:
  Args(std::vector<std::string> words, const std::vector<std::string>& known_options,
       const std::vector<std::string>& known_flags = {});
  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  std::string get(const std::string& key, const std::string& fallback) const;
  long long get_int(const std::string& key, long long fallback) const;  // errors name the option
  double get_double(const std::string& key, double fallback) const;
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
};

// "a,b,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> split_list(const std::string& text);
// "1024,1024" -> {1024, 1024}; anything but positive integers is an error naming `option`.
std::vector<int64_t> parse_sizes(const std::string& text, const char* option);

struct Command {
  std::string name;
  std::string summary;                                // one line for `r2g2 --help`
  std::string usage;                                  // full text for `r2g2 NAME --help`
  int (*run)(const std::vector<std::string>& words);  // words after the command name
};

std::map<std::string, Command>& registry();
struct Registrar {
  explicit Registrar(Command c) { registry()[c.name] = std::move(c); }
};

}  // namespace r2g2::cli

#define R2G2_CLI_CONCAT2(a, b) a##b
#define R2G2_CLI_CONCAT(a, b) R2G2_CLI_CONCAT2(a, b)
#define R2G2_COMMAND(...) \
  static ::r2g2::cli::Registrar R2G2_CLI_CONCAT(r2g2_command_, __LINE__)(::r2g2::cli::Command{__VA_ARGS__})
