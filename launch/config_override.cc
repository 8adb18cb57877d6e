// "a.b.c=value" overrides, applied through protobuf reflection so every
// field of every config message is reachable without per-field code.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "launch/config.h"

namespace moe::launch {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string field_names(const Descriptor* d) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i) names.push_back(d->field(i)->name());
  return absl::StrJoin(names, ", ");
}

std::string enum_names(const FieldDescriptor* f) {
  std::vector<std::string> names;
  for (int i = 0; i < f->enum_type()->value_count(); ++i) names.push_back(f->enum_type()->value(i)->name());
  return absl::StrJoin(names, ", ");
}

// Sets (or, for a repeated field, appends) one value parsed from `text`.
// Returns the reason when `text` is not a value of the field's type.
std::string set_value(Message& m, const FieldDescriptor* f, const std::string& text) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  auto bad = [&](const char* type) { return absl::StrCat("'", text, "' is not ", type); };
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a 32-bit integer");
      rep ? r->AddInt32(&m, f, v) : r->SetInt32(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
      rep ? r->AddInt64(&m, f, v) : r->SetInt64(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative 32-bit integer");
      rep ? r->AddUInt32(&m, f, v) : r->SetUInt32(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
      rep ? r->AddUInt64(&m, f, v) : r->SetUInt64(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return bad("a number");
      rep ? r->AddDouble(&m, f, v) : r->SetDouble(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v;
      if (!absl::SimpleAtof(text, &v)) return bad("a number");
      rep ? r->AddFloat(&m, f, v) : r->SetFloat(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (text != "true" && text != "false" && text != "1" && text != "0") return bad("a bool (true/false/1/0)");
      v = text == "true" || text == "1";
      rep ? r->AddBool(&m, f, v) : r->SetBool(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* v = f->enum_type()->FindValueByName(text);
      if (v == nullptr)
        return absl::StrCat("no value '", text, "' in enum ", f->enum_type()->full_name(), " (valid: ", enum_names(f),
                            ")");
      rep ? r->AddEnum(&m, f, v) : r->SetEnum(&m, f, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_STRING:
      rep ? r->AddString(&m, f, text) : r->SetString(&m, f, text);
      return "";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::StrCat("is a message (", f->message_type()->full_name(),
                      "); set one of its fields: ", field_names(f->message_type()));
}

}  // namespace

absl::Status apply_override(config::TrainConfig& cfg, std::string_view override_text) {
  const std::string o(override_text);
  const size_t eq = o.find('=');
  if (eq == std::string::npos || eq == 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--set '", o, "': expected field.path=value (e.g. model.moe.top_k=4)"));
  const std::string path(absl::StripAsciiWhitespace(o.substr(0, eq))), value = o.substr(eq + 1);
  auto fail = [&](const std::string& why) { return absl::InvalidArgumentError(absl::StrCat("--set ", o, ": ", why)); };

  // Applied to a copy so that a failed override leaves cfg as it was (and
  // creates no sub-message: an empty `moe` would switch MoE on).
  config::TrainConfig copy = cfg;
  Message* m = &copy;
  std::string walked;  // the dotted path resolved so far
  const std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const Descriptor* d = m->GetDescriptor();
    const FieldDescriptor* f = d->FindFieldByName(parts[i]);
    const std::string here = walked.empty() ? parts[i] : absl::StrCat(walked, ".", parts[i]);
    if (f == nullptr) {
      const std::string where = walked.empty() ? std::string("the top level") : walked;
      return fail(
          absl::StrCat("unknown field '", here, "': ", where, " (", d->full_name(), ") has fields: ", field_names(d)));
    }
    if (i + 1 < parts.size()) {
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated())
        return fail(absl::StrCat(here, " is not a message, so '", parts[i + 1], "' cannot be inside it"));
      m = m->GetReflection()->MutableMessage(m, f);
      walked = here;
      continue;
    }
    if (f->is_repeated() && f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      m->GetReflection()->ClearField(m, f);
      if (!value.empty()) {
        const std::vector<std::string> items = absl::StrSplit(value, ',');
        for (const std::string& item : items) {
          if (std::string why = set_value(*m, f, item); !why.empty()) return fail(absl::StrCat(here, ": ", why));
        }
      }
    } else if (std::string why = set_value(*m, f, value); !why.empty()) {
      return fail(absl::StrCat(here, ": ", why));
    }
  }
  cfg = std::move(copy);
  return absl::OkStatus();
}

}  // namespace moe::launch
