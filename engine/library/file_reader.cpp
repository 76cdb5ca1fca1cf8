#include <patchbay/library.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

#include "library/csv.hpp"

namespace patchbay::library {

namespace {

// A cell as the most specific value it spells: int, then double, else string; empty is null.
Value parse_cell(const std::string& cell) {
  if (cell.empty()) return {};
  const char* first = cell.data();
  const char* last = cell.data() + cell.size();
  std::int64_t i = 0;
  if (auto [end, ec] = std::from_chars(first, last, i); ec == std::errc{} && end == last)
    return Value(i);
  double d = 0;
  if (cell.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    if (auto [end, ec] = std::from_chars(first, last, d); ec == std::errc{} && end == last) {
      return Value(d);
    }
  }
  return Value(cell);
}

std::string open_error(const std::string& path) {
  return "cannot open '" + path + "' for reading: " + std::strerror(errno);
}

}  // namespace

struct FileReader::State {
  std::ifstream in;
  std::unique_ptr<csv::Reader> reader;
  std::vector<std::size_t> columns;  // per field, its column in the file
  std::size_t width = 0;             // columns in the header
  std::vector<std::string> row;
};

FileReader::FileReader(const ComponentArgs& args)
    : Component(args),
      path_(args.get<std::string>("path")),
      field_names_(args.get<std::vector<std::string>>("field_names")) {
  if (field_names_.empty()) throw args.error("field_names", "must name at least one column");
  for (const auto& field : field_names_)
    outputs_by_field_.push_back(&add_output<Value>(field));
  // Checked now so that a missing file is a model error before anything runs.
  std::ifstream probe(path_);
  if (!probe) throw args.error("path", open_error(path_));
}

FileReader::FileReader(std::string name, std::string path, std::vector<std::string> field_names)
    : FileReader(ComponentArgs(std::move(name), {{"path", path}, {"field_names", [&] {
                                                                    Value::List list;
                                                                    for (auto& f : field_names)
                                                                      list.emplace_back(f);
                                                                    return Value(std::move(list));
                                                                  }()}})) {}

FileReader::~FileReader() = default;

void FileReader::init() {
  state_ = std::make_unique<State>();
  state_->in.open(path_, std::ios::binary);
  if (!state_->in) throw Error(open_error(path_));
  state_->reader = std::make_unique<csv::Reader>(state_->in, path_);
  std::vector<std::string> header;
  if (!state_->reader->next_row(header))
    throw Error("'" + path_ + "' is empty: expected a header row");
  state_->width = header.size();
  for (const auto& field : field_names_) {
    std::size_t column = 0;
    while (column < header.size() && header[column] != field)
      ++column;
    if (column == header.size()) {
      std::string names;
      for (const auto& h : header)
        names += (names.empty() ? "" : ", ") + h;
      throw Error("'" + path_ + "' has no column '" + field + "' (its header: " + names + ")");
    }
    state_->columns.push_back(column);
  }
}

void FileReader::step() {
  auto& row = state_->row;
  if (!state_->reader->next_row(row)) {
    close();
    return;
  }
  if (row.size() != state_->width) {
    throw Error(path_ + ":" + std::to_string(state_->reader->line()) + ": row has " +
                std::to_string(row.size()) + " fields, the header has " +
                std::to_string(state_->width));
  }
  for (std::size_t i = 0; i < field_names_.size(); ++i) {
    *outputs_by_field_[i] = parse_cell(row[state_->columns[i]]);
  }
}

void FileReader::teardown(Status) {
  state_.reset();
}

}  // namespace patchbay::library
