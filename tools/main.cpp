// `r2g2 COMMAND [options]`: dispatches to the registered subcommands.
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "r2g2/core/error.h"
#include "r2g2/core/profiler.h"
#include "tools/cli.h"

namespace r2g2::cli {

std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> commands;
  return commands;
}

}  // namespace r2g2::cli

namespace {

// A usage error is one line, so that scripts and the user see the whole of it at once.
std::string one_line(std::string text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n') {
      out += text[i];
      continue;
    }
    while (i + 1 < text.size() && text[i + 1] == ' ') ++i;
    if (i + 1 < text.size()) out += "; ";
  }
  return out;
}

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
    std::cerr << "r2g2: error: unknown command '" << words[0] << "'; `r2g2 --help` lists them\n";
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
  const std::string prefix = "r2g2 " + words[0] + ": error: ";
  try {
    status = it->second.run(rest);
  } catch (const r2g2::cli::UsageError& e) {
    std::cerr << prefix << one_line(e.what()) << "\n";
    status = 2;
  } catch (const std::bad_alloc&) {
    std::cerr << prefix << "out of memory (try a smaller --batch, --hidden or --iwae-chunk)\n";
  } catch (const std::exception& e) {
    std::cerr << prefix << e.what() << "\n";
  }
  if (profile) {
    std::cout.flush();
    r2g2::profiler::print(std::cerr);
    r2g2::profiler::enable(false);
    r2g2::profiler::reset();  // printed once: the exit report of R2G2_PROFILE finds it empty
  }
  return status;
}
