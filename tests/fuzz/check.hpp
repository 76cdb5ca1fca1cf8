// The fuzzers' assertion: a broken property is a crash libFuzzer reports and keeps the input of.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace patchbay::fuzz {

/// Aborts with "property broken: WHAT" on stderr when `holds` is false.
inline void require(bool holds, const std::string& what) {
  if (holds) return;
  std::fprintf(stderr, "property broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace patchbay::fuzz
