#include "config/yaml_value.hpp"

#include <patchbay/process_spec.hpp>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cstdlib>
#include <istream>
#include <limits>
#include <streambuf>
#include <string_view>
#include <unordered_map>

#include "core/text.hpp"

namespace patchbay::detail {

SourceLocation location_of(const YAML::Node& node, const std::string& origin) {
  const YAML::Mark mark = node.Mark();
  return SourceLocation{origin, mark.line >= 0 ? mark.line + 1 : 0};
}

namespace {

std::string too_many_nodes() {
  return "the model has more than " + std::to_string(limits::max_yaml_nodes) +
         " YAML nodes once its aliases are expanded (the limit; an alias counts each time it is "
         "used)";
}

std::string too_deep() {
  return "the model nests mappings and lists more than " + std::to_string(limits::max_yaml_depth) +
         " deep (the limit)";
}

// One walk of the document as the readers will walk it: an aliased node once per use.
class DocumentCheck {
 public:
  explicit DocumentCheck(const std::string& origin) : origin_(origin) {}

  // `site`: the line to blame for a limit. Inside an alias it stays the line where the alias is
  // used, not the lines of the anchored nodes it expands to.
  void visit(const YAML::Node& node, std::size_t depth, int site) {
    if (++nodes_ > limits::max_yaml_nodes) {
      fail(site, too_many_nodes());
    }
    if (depth > limits::max_yaml_depth) {
      fail(site, too_deep());
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        text_bytes_ += node.Scalar().size();
        if (text_bytes_ > limits::max_yaml_text_bytes) {
          fail(site, "the model has more than " + std::to_string(limits::max_yaml_text_bytes) +
                         " bytes of YAML text once its aliases are expanded (the limit; an "
                         "alias counts each time it is used)");
        }
        break;
      case YAML::NodeType::Sequence:
        for (const auto& item : node)
          visit(item, depth + 1, site_of(item, node, site));
        break;
      case YAML::NodeType::Map:
        visit_map(node, depth, site);
        break;
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        break;
    }
  }

 private:
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw ModelError(message, SourceLocation{origin_, line});
  }

  // A child written before its parent starts is an alias of an anchored node: from there on,
  // the site stays the parent's line.
  int site_of(const YAML::Node& child, const YAML::Node& parent, int site) const {
    if (site != line_of(parent)) return site;  // already inside an alias
    const YAML::Mark child_mark = child.Mark();
    const bool alias = child_mark.pos >= 0 && child_mark.pos < parent.Mark().pos;
    return alias ? site : line_of(child);
  }

  int line_of(const YAML::Node& node) const { return location_of(node, origin_).line; }

  // yaml-cpp keeps every entry of a mapping, so a repeated key would be read once by lookups
  // (the first) and again by loops (the last): it is refused instead.
  void visit_map(const YAML::Node& node, std::size_t depth, int site) {
    std::unordered_map<std::string_view, int> lines;  // key -> its line
    for (const auto& entry : node) {
      visit(entry.first, depth + 1, site_of(entry.first, node, site));
      if (!entry.first.IsScalar() && !entry.first.IsNull())
        fail(line_of(entry.first), "a mapping key must be a plain string, not a mapping or a list");
      const std::string_view key =
          entry.first.IsScalar() ? std::string_view(entry.first.Scalar()) : std::string_view();
      const auto [first, inserted] = lines.try_emplace(key, line_of(entry.first));
      if (!inserted) {
        fail(line_of(entry.first), "duplicate key " + quote(key) + " (also at line " +
                                       std::to_string(first->second) +
                                       "): a key may appear once per mapping");
      }
      visit(entry.second, depth + 1, site_of(entry.second, node, site));
    }
  }

  const std::string& origin_;
  std::size_t nodes_ = 0;
  std::size_t text_bytes_ = 0;
};

// Counts the parser's events, so that a document too large or too deep is refused before
// yaml-cpp builds a tree for it. An alias is one event here; check_document() counts its uses.
class EventLimits final : public YAML::EventHandler {
 public:
  explicit EventLimits(const std::string& origin) : origin_(origin) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      fail(mark,
           "a second YAML document starts here: a model holds one document (remove the "
           "'---')");
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnMapEnd() override { --depth_; }

 private:
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& message) const {
    throw ModelError(message, SourceLocation{origin_, mark.line >= 0 ? mark.line + 1 : 0});
  }
  void count(const YAML::Mark& mark) {
    if (++nodes_ > limits::max_yaml_nodes) fail(mark, too_many_nodes());
  }
  void open(const YAML::Mark& mark) {
    count(mark);
    if (++depth_ > limits::max_yaml_depth) fail(mark, too_deep());
  }

  const std::string& origin_;
  std::size_t documents_ = 0;
  std::size_t nodes_ = 0;
  std::size_t depth_ = 0;
};

// An istream over text it does not copy.
class TextBuffer final : public std::streambuf {
 public:
  explicit TextBuffer(const std::string& text) {
    char* begin = const_cast<char*>(text.data());  // only ever read
    setg(begin, begin, begin + text.size());
  }
};

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

YAML::Node load_document(const std::string& text, const std::string& origin) {
  if (text.size() > limits::max_model_file_bytes) {
    throw ModelError("the model is " + std::to_string(text.size()) + " bytes, more than the " +
                         std::to_string(limits::max_model_file_bytes) + " bytes allowed",
                     SourceLocation{origin, 0});
  }
  YAML::Node root;
  try {
    {
      TextBuffer buffer(text);
      std::istream stream(&buffer);
      YAML::Parser parser(stream);
      EventLimits limits(origin);
      while (parser.HandleNextDocument(limits)) {
      }
    }
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ModelError("YAML syntax error: " + one_line(e.msg),
                     SourceLocation{origin, e.mark.line >= 0 ? e.mark.line + 1 : 0});
  }
  check_document(root, origin);
  return root;
}

void check_document(const YAML::Node& root, const std::string& origin) {
  DocumentCheck(origin).visit(root, 0, location_of(root, origin).line);
}

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
    case YAML::NodeType::Map: {
      // Keys are plain strings, each once: check_document() has made sure.
      Value::Map entries;
      for (const auto& entry : node)
        entries[entry.first.IsScalar() ? entry.first.Scalar() : std::string()] =
            to_value(entry.second, origin);
      return Value(std::move(entries));
    }
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
