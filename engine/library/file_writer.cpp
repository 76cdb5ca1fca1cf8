#include <patchbay/library.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "library/csv.hpp"

namespace patchbay::library {

namespace fs = std::filesystem;

namespace {
std::string partial_path(const std::string& path) {
  return path + ".partial";
}
}  // namespace

FileWriter::FileWriter(const ComponentArgs& args)
    : Component(args),
      path_(args.get<std::string>("path")),
      field_names_(args.get<std::vector<std::string>>("field_names")) {
  if (field_names_.empty()) throw args.error("field_names", "must name at least one column");
  if (path_.empty()) throw args.error("path", "must not be empty");
  for (const auto& field : field_names_)
    inputs_by_field_.push_back(&add_input<Value>(field));
  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty() && !fs::is_directory(parent)) {
    throw args.error("path", "'" + path_ + "': directory '" + parent.string() + "' does not exist");
  }
}

FileWriter::FileWriter(std::string name, std::string path, std::vector<std::string> field_names)
    : FileWriter(ComponentArgs(std::move(name), {{"path", path}, {"field_names", [&] {
                                                                    Value::List list;
                                                                    for (auto& f : field_names)
                                                                      list.emplace_back(f);
                                                                    return Value(std::move(list));
                                                                  }()}})) {}

FileWriter::~FileWriter() = default;

void FileWriter::init() {
  // A file under `path` always means a complete run: remove an older one before writing.
  std::error_code ignored;
  fs::remove(path_, ignored);
  out_.open(partial_path(path_), std::ios::binary | std::ios::trunc);
  if (!out_)
    throw Error("cannot open '" + partial_path(path_) + "' for writing: " + std::strerror(errno));
  csv::write_row(out_, field_names_);
  row_.resize(field_names_.size());
}

void FileWriter::step() {
  for (std::size_t i = 0; i < inputs_by_field_.size(); ++i)
    row_[i] = inputs_by_field_[i]->value().to_string();
  csv::write_row(out_, row_);
  if (!out_) throw Error("writing '" + partial_path(path_) + "' failed: " + std::strerror(errno));
}

void FileWriter::teardown(Status final_status) {
  if (!out_.is_open()) return;
  out_.flush();
  const bool written = static_cast<bool>(out_);
  out_.close();
  if (final_status != Status::completed) return;  // the rows so far stay in PATH.partial
  if (!written)
    throw Error("writing '" + partial_path(path_) + "' failed: " + std::strerror(errno));
  std::error_code ec;
  fs::rename(partial_path(path_), path_, ec);
  if (ec)
    throw Error("cannot rename '" + partial_path(path_) + "' to '" + path_ + "': " + ec.message());
}

}  // namespace patchbay::library
