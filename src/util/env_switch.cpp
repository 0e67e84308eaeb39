// On/off switches read from the environment (env_switch.h).
#include "distill/util/env_switch.h"

#include <cstdlib>
#include <cstring>

namespace distill {

bool env_switch(const char* name, bool default_on) {
  const char* value = std::getenv(name);
  if (value == nullptr) return default_on;
  return default_on ? std::strcmp(value, "0") != 0 : std::strcmp(value, "1") == 0;
}

}  // namespace distill
