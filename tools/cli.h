#pragma once
// The `r2g2` command line: each subcommand lives in its own tools/cli_*.cpp and
// registers itself with R2G2_COMMAND, so adding one touches no other file.
//
// Exit status: 0 success, 1 a run that failed (e.g. training diverged), 2 a bad invocation
// (cli::UsageError: an unknown option or name, a malformed or out-of-range value, a missing
// input, an unwritable output path), reported on ONE line before any output file exists.
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/error.h"

namespace r2g2::cli {

// A bad invocation: main() prints "r2g2 COMMAND: error: MESSAGE" on one line and exits 2.
struct UsageError : Error {
  using Error::Error;
};

// Runs `check` (the part of a command that reads and validates its options, before any
// work or output) and turns any r2g2::Error it throws into a UsageError.
template <class F>
auto checking_usage(F&& check) -> decltype(check()) {
  try {
    return check();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

// Parsed "--key value" / "--flag" options plus positional words. Unknown options are
// an error: every command declares what it accepts. Every error here is a UsageError
// naming the option and the value.
class Args {
 public:
  Args(std::vector<std::string> words, const std::vector<std::string>& known_options,
       const std::vector<std::string>& known_flags = {});
  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  std::string get(const std::string& key, const std::string& fallback) const;
  // A whole decimal integer (no trailing text) that fits in 64 bits.
  long long get_int(const std::string& key, long long fallback) const;
  // A finite decimal number (no trailing text, no overflow such as 1e400).
  double get_double(const std::string& key, double fallback) const;
  // ... and within [minimum, maximum] (the fallback is not checked).
  long long get_int(const std::string& key, long long fallback, long long minimum, long long maximum) const;
  double get_double(const std::string& key, double fallback, double minimum, double maximum) const;
  // A finite number > 0.
  double get_positive(const std::string& key, double fallback) const;
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
};

// Upper bounds shared by the commands: large enough for any real run, small enough that a
// typo (an extra digit, a negative number read as huge) is refused before it allocates.
inline constexpr long long kMaxSteps = 1000000000;        // steps, epochs, intervals
inline constexpr long long kMaxBatch = 1 << 20;           // examples in one batch
inline constexpr long long kMaxExamples = 1000000000;     // --train-examples and the like
inline constexpr long long kMaxSamples = 1000000;         // Monte-Carlo samples and draws
inline constexpr long long kMaxIwaeChunk = 5000;          // importance samples drawn at once
inline constexpr long long kMaxSeed = std::numeric_limits<long long>::max();
inline constexpr int64_t kMaxWidth = 65536;               // one hidden layer
inline constexpr int64_t kMaxWeightElements = int64_t{1} << 26;  // two adjacent hidden widths

// "a,b,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> split_list(const std::string& text);
// "1024,1024" -> {1024, 1024}; anything but positive integers, a width above kMaxWidth or two
// adjacent widths whose product exceeds kMaxWeightElements is an error naming `option`.
std::vector<int64_t> parse_sizes(const std::string& text, const char* option);

// A UsageError naming `option` unless `path` can be written as a new or replaced file: its
// folder exists and is writable, and the path is not a folder. Creates nothing.
void check_output_path(const std::string& option, const std::string& path);
// A UsageError naming `option` unless `path` is a readable file.
void check_input_file(const std::string& option, const std::string& path);
// A UsageError naming `option` unless `path` is a folder.
void check_input_dir(const std::string& option, const std::string& path);

// A UsageError naming `option` (e.g. "option --data") unless data::load_dataset knows `name`.
void check_data_name(const std::string& option, const std::string& name);

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
