// errno formatting shared by every error that wraps a failed system call.
#include "distill/util/errors.h"

#include <cstring>

namespace distill {

std::string errno_text(int err) {
  char buf[256];
  buf[0] = '\0';
  // GNU strerror_r returns a pointer that may or may not be buf; XSI returns an int.
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  const char* s = strerror_r(err, buf, sizeof buf);
  return s ? std::string(s) : std::string("errno ") + std::to_string(err);
#else
  if (strerror_r(err, buf, sizeof buf) != 0) return "errno " + std::to_string(err);
  return buf;
#endif
}

}  // namespace distill
