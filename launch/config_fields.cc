// `moe-train --list_config`: the run config's fields from the descriptors
// (types, defaults) and the .proto sources (comments), which generated code
// does not keep.
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "launch/config.h"
#include "launch/train_config.pb.h"

namespace moe::launch {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// "<file>:<Message.Nested>.<field>" -> its comment: the one on its line, or
// the comment lines right above it.
std::map<std::string, std::string> field_docs() {
  static const std::regex open_re(R"(^\s*(message|enum|oneof)\s+(\w+)\s*\{)");
  static const std::regex field_re(R"(^\s*(optional|repeated|required)?\s*[\w.]+\s+(\w+)\s*=\s*\d+)");
  std::map<std::string, std::string> docs;
  for (const auto& [file, text] : proto_texts()) {
    std::vector<std::pair<std::string, bool>> scopes;  // name, is a message
    std::vector<std::string> above;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const size_t slash = line.find("//");
      const std::string code = trim(line.substr(0, slash));
      const std::string note = slash == std::string::npos ? "" : trim(line.substr(slash + 2));
      std::smatch m;
      if (code.empty()) {
        if (slash != std::string::npos)
          above.push_back(note);
        else
          above.clear();
        continue;
      }
      if (std::regex_search(code, m, open_re)) {
        scopes.emplace_back(m[2].str(), m[1].str() == "message");
      } else if (code.front() == '}') {
        if (!scopes.empty()) scopes.pop_back();
      } else if (!scopes.empty() && scopes.back().second && std::regex_search(code, m, field_re)) {
        std::vector<std::string> path;
        for (const auto& [name, message] : scopes)
          if (message) path.push_back(name);
        docs[absl::StrCat(file, ":", absl::StrJoin(path, "."), ".", m[2].str())] =
            !note.empty() ? note : absl::StrJoin(above, " ");
      }
      above.clear();
    }
  }
  return docs;
}

std::string type_of(const FieldDescriptor* f) {
  if (f->cpp_type() != FieldDescriptor::CPPTYPE_ENUM) return f->type_name();
  std::vector<std::string> values;
  for (int i = 0; i < f->enum_type()->value_count(); ++i) values.push_back(f->enum_type()->value(i)->name());
  return absl::StrCat("enum ", absl::StrJoin(values, "|"));
}

std::string default_of(const FieldDescriptor* f) {
  if (f->is_repeated()) return "[]";
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return absl::StrCat(f->default_value_int32());
    case FieldDescriptor::CPPTYPE_INT64: return absl::StrCat(f->default_value_int64());
    case FieldDescriptor::CPPTYPE_UINT32: return absl::StrCat(f->default_value_uint32());
    case FieldDescriptor::CPPTYPE_UINT64: return absl::StrCat(f->default_value_uint64());
    case FieldDescriptor::CPPTYPE_DOUBLE: return absl::StrCat(f->default_value_double());
    case FieldDescriptor::CPPTYPE_FLOAT: return absl::StrCat(f->default_value_float());
    case FieldDescriptor::CPPTYPE_BOOL: return f->default_value_bool() ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM: return f->default_value_enum()->name();
    case FieldDescriptor::CPPTYPE_STRING: return absl::StrCat("\"", f->default_value_string(), "\"");
    case FieldDescriptor::CPPTYPE_MESSAGE: return "";
  }
  return "";
}

void list(const Descriptor* d, const std::string& prefix, const std::map<std::string, std::string>& docs,
          std::string& out, int depth) {
  const std::string& package = d->file()->package();
  const std::string message = d->full_name().substr(package.empty() ? 0 : package.size() + 1);
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string path = prefix + f->name();
    const auto doc = docs.find(absl::StrCat(d->file()->name(), ":", message, ".", f->name()));
    const std::string note = doc == docs.end() || doc->second.empty() ? "" : "  # " + doc->second;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      absl::StrAppend(&out, path, f->is_repeated() ? "[]" : "", " {", f->message_type()->name(), "}", note, "\n");
      if (depth < 8) list(f->message_type(), path + (f->is_repeated() ? "[i]." : "."), docs, out, depth + 1);
      continue;
    }
    absl::StrAppend(&out, path, " (", type_of(f), f->is_repeated() ? ", repeated" : "", ") = ", default_of(f), note,
                    "\n");
  }
}

}  // namespace

std::string list_config_fields() {
  std::string out;
  list(config::TrainConfig::descriptor(), "", field_docs(), out, 0);
  return out;
}

}  // namespace moe::launch
