// The command line's option parser: the input is split at newlines into words, parsed
// against a fixed set of options and flags, and every option is then read as text, as
// an integer, as a number (both also within bounds), as a list and as sizes. Every
// refusal must be an r2g2::Error (cli::UsageError).
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "tools/cli.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> words;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  const std::vector<std::string> options = {"steps", "lr", "hidden", "estimators", "device", "sizes"};
  const std::vector<std::string> flags = {"list", "no-eval"};
  r2g2::fuzz::expect_read_or_error([&] {
    r2g2::cli::Args args(words, options, flags);
    for (const std::string& key : options) {
      (void)args.has(key);
      const std::string value = args.get(key, "");
      r2g2::fuzz::expect_read_or_error([&] { (void)args.get_int(key, 0); });
      r2g2::fuzz::expect_read_or_error([&] { (void)args.get_int(key, 0, -5, 1000); });
      r2g2::fuzz::expect_read_or_error([&] { (void)args.get_double(key, 0.0); });
      r2g2::fuzz::expect_read_or_error([&] { (void)args.get_double(key, 0.0, -1.0, 1e6); });
      r2g2::fuzz::expect_read_or_error([&] { (void)args.get_positive(key, 1.0); });
      (void)r2g2::cli::split_list(value);
      r2g2::fuzz::expect_read_or_error([&] { (void)r2g2::cli::parse_sizes(value, key.c_str()); });
    }
    for (const std::string& flag : flags) (void)args.flag(flag);
  });
  return 0;
}
