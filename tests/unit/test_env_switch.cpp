// env_switch: the environment switches of the GPU levers (distill/util/env_switch.h).
#include <gtest/gtest.h>

#include <cstdlib>

#include "distill/util/env_switch.h"

namespace distill {
namespace {

constexpr const char* kName = "DISTILL_TEST_ENV_SWITCH";

TEST(EnvSwitch, UnsetKeepsTheDefault) {
  ::unsetenv(kName);
  EXPECT_TRUE(env_switch(kName, true));
  EXPECT_FALSE(env_switch(kName, false));
}

TEST(EnvSwitch, ZeroTurnsADefaultOnSwitchOffAndNothingElseDoes) {
  ::setenv(kName, "0", 1);
  EXPECT_FALSE(env_switch(kName, true));
  for (const char* v : {"1", "", "off", "00"}) {
    ::setenv(kName, v, 1);
    EXPECT_TRUE(env_switch(kName, true)) << "'" << v << "'";
  }
  ::unsetenv(kName);
}

TEST(EnvSwitch, OneTurnsADefaultOffSwitchOnAndNothingElseDoes) {
  ::setenv(kName, "1", 1);
  EXPECT_TRUE(env_switch(kName, false));
  for (const char* v : {"0", "", "on", "true", "11"}) {
    ::setenv(kName, v, 1);
    EXPECT_FALSE(env_switch(kName, false)) << "'" << v << "'";
  }
  ::unsetenv(kName);
}

}  // namespace
}  // namespace distill
