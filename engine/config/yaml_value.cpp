#include "config/yaml_value.hpp"

#include <charconv>
#include <cstdlib>

namespace patchbay::detail {

SourceLocation location_of(const YAML::Node& node, const std::string& origin) {
  const YAML::Mark mark = node.Mark();
  return SourceLocation{origin, mark.line >= 0 ? mark.line + 1 : 0};
}

namespace {

bool parse_int(const std::string& s, std::int64_t& out) {
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (first != last && *first == '+') ++first;
  auto [end, ec] = std::from_chars(first, last, out);
  return ec == std::errc{} && end == last && first != last;
}

bool parse_double(const std::string& s, double& out) {
  if (s == ".inf" || s == "+.inf" || s == ".Inf") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-.inf" || s == "-.Inf") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == ".nan" || s == ".NaN") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // Require a digit: "inf", "nan" and hex floats stay strings, as in YAML.
  if (s.find_first_of("0123456789") == std::string::npos) return false;
  if (s.find_first_not_of("0123456789+-.eE") != std::string::npos) return false;
  const char* first = s.data();
  if (!s.empty() && s[0] == '+') ++first;
  auto [end, ec] = std::from_chars(first, s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace

Value to_value(const YAML::Node& node, const std::string& origin) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return {};
    case YAML::NodeType::Sequence: {
      Value::List items;
      for (const auto& item : node)
        items.push_back(to_value(item, origin));
      return Value(std::move(items));
    }
    case YAML::NodeType::Map:
      throw ModelError("a mapping is not allowed here (expected a scalar or a list)",
                       location_of(node, origin));
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return Value(s);  // quoted: always a string
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return {};
  if (s == "true" || s == "True" || s == "TRUE") return Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return Value(false);
  std::int64_t i = 0;
  if (parse_int(s, i)) return Value(i);
  double d = 0;
  if (parse_double(s, d)) return Value(d);
  return Value(s);
}

}  // namespace patchbay::detail
