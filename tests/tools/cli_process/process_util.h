#pragma once
// Runs the r2g2 program as a child process (with extra environment variables, output to a
// file), waits for it or kills it: the helpers of the tests that drive the command line.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace r2g2::test {

// The `r2g2` program under test, whose path CMake compiles in.
inline std::string r2g2_program() { return R2G2_CLI_PATH; }

struct Child {
  pid_t pid = -1;
  std::string log;  // stdout and stderr of the child
};

// Starts `program args...` with `env` added to the environment, stdout and stderr to `log`.
inline Child spawn(const std::vector<std::string>& args, const std::string& log,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
  Child c;
  c.log = log;
  // Everything the child needs is built before fork: between fork and exec a child of a
  // multi-threaded process may only make async-signal-safe calls (no malloc, no setenv).
  std::vector<std::string> argv_text{r2g2_program()};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<std::string> env_text;
  for (const auto& [key, value] : env) env_text.push_back(key + "=" + value);
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool replaced = false;
    for (const auto& [key, value] : env) replaced = replaced || entry.rfind(key + "=", 0) == 0;
    if (!replaced) env_text.push_back(entry);
  }
  std::vector<char*> argv, envp;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  c.pid = ::fork();
  if (c.pid < 0) throw std::runtime_error("fork failed");
  if (c.pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return c;
}

// Waits for the child; its exit status, or 128 + the signal that ended it.
inline int wait_for(const Child& c) {
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs to the end: {exit status, output}.
inline std::pair<int, std::string> run_r2g2(const std::vector<std::string>& args, const std::string& log,
                                            const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const Child c = spawn(args, log, env);
  const int status = wait_for(c);
  return {status, read_text(log)};
}

}  // namespace r2g2::test
