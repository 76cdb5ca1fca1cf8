#include "support/tsan_exclusions.hpp"

#include <array>

namespace patchbay::test {

namespace {

// Every entry says what ThreadSanitizer cannot do there; each of these test cases runs in the
// normal build (and the AddressSanitizer one). TSan has no view across processes anyway: a
// worker's rings are shared memory with another process, which no TSan runtime observes.
constexpr std::array<Exclusion, 4> tsan_table{{
    {"stop() from another thread ends a run that would never end, without an error",
     "it stops the run 50 ms after run() starts and expects the sink to have stepped; under "
     "TSan a parallel run's workers start too slowly for that"},
    {"stop(): a long step that polls stop_requested() sees the stop",
     "it expects the whole run, workers' start-up included, to end within 300 ms; a parallel "
     "run under TSan takes longer to start"},
    {"engine-run --validate of a huge channel capacity allocates no channel",
     "it bounds engine-run's peak memory at 128 MiB; TSan's runtime alone takes about 230 MiB"},
    {"randomly timed signals to workers and supervisors fail runs cleanly",
     "the campaign's short form has 100 s and times kill-to-exit; under TSan engine-run moves "
     "2 million messages in 5.3 s and the campaign runs past its limit"},
}};

// `~"name"` or `~[tag]`, escaped for Catch2's test-spec parser.
std::string exclusion_term(const Exclusion& exclusion) {
  const std::string test = exclusion.test;
  if (test.size() >= 2 && test.front() == '[' && test.back() == ']') return "~" + test;
  std::string term = "~\"";
  for (const char c : test) {
    if (c == '"' || c == '\\' || c == ',') term += '\\';
    term += c;
  }
  return term + '"';
}

}  // namespace

std::span<const Exclusion> tsan_exclusions() {
  return tsan_table;
}

std::vector<std::string> exclude_from_filters(const std::vector<std::string>& filters,
                                              std::span<const Exclusion> exclusions) {
  if (exclusions.empty()) return filters;
  // Before each alternative: after an unquoted name, Catch2 would read them as part of it.
  std::string terms;
  for (const Exclusion& exclusion : exclusions)
    terms += exclusion_term(exclusion) + " ";
  // Without a filter, Catch2 runs every test case but the hidden ones ("[.]"); a filter of
  // exclusions alone would select those too.
  if (filters.empty()) return {terms + "~[.]"};
  std::vector<std::string> result;
  for (const std::string& filter : filters) {
    // A comma outside quotes, tags and escapes starts an alternative.
    std::string out = terms;
    bool quoted = false;
    bool tag = false;
    for (std::size_t i = 0; i < filter.size(); ++i) {
      const char c = filter[i];
      out += c;
      if (c == '\\' && i + 1 < filter.size()) {
        out += filter[++i];
        continue;
      }
      if (c == '"' && !tag) quoted = !quoted;
      if (c == '[' && !quoted) tag = true;
      if (c == ']' && !quoted) tag = false;
      if (c == ',' && !quoted && !tag) out += terms;
    }
    result.push_back(out);
  }
  return result;
}

}  // namespace patchbay::test
