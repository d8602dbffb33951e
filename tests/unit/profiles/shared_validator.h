// One validator loaded from the repository's fhir-profiles/ and shared by the profile tests.
#pragma once

#include <gtest/gtest.h>

#include "profiles/validator.h"

namespace ketamine::profiles {

inline std::shared_ptr<const Validator> Shared() {
  static auto v = Validator::Load(KETAMINE_PROFILES_DIR);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return *v;
}

}  // namespace ketamine::profiles
