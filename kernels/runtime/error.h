#pragma once
// Errors carry a message that names what went wrong (shapes, dtypes, devices, files).
// Lives at the bottom layer so that kernels/ can throw them without depending on core/.
#include <sstream>
#include <stdexcept>
#include <string>

namespace r2g2 {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace r2g2

// R2G2_CHECK(cond, "message parts", ...): throws r2g2::Error with the parts joined.
#define R2G2_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) throw ::r2g2::Error(::r2g2::detail::concat(__VA_ARGS__)); \
  } while (0)
