// The resolved config: every field written out, defaults included, so the
// copy in the run directory alone says what ran.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "launch/config.h"

namespace moe::launch {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Sub-messages whose mere presence changes the meaning: left absent.
bool presence_matters(const FieldDescriptor* f) { return f->full_name() == "moe.config.ModelConfig.moe"; }

// Sets every unset singular field to its default (Get* returns the default
// for an unset field), recursing into sub-messages.
void fill_defaults(Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
        for (int j = 0; j < r->FieldSize(m, f); ++j) fill_defaults(*r->MutableRepeatedMessage(&m, f, j));
      continue;
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (r->HasField(m, f) || !presence_matters(f)) fill_defaults(*r->MutableMessage(&m, f));
      continue;
    }
    if (r->HasField(m, f)) continue;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(&m, f, r->GetInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(&m, f, r->GetInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(&m, f, r->GetUInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(&m, f, r->GetUInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(&m, f, r->GetDouble(m, f));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->SetFloat(&m, f, r->GetFloat(m, f));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(&m, f, r->GetBool(m, f));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        r->SetEnum(&m, f, r->GetEnum(m, f));
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(&m, f, r->GetString(m, f));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
  }
}

}  // namespace

std::string config_to_text(const config::TrainConfig& cfg) {
  config::TrainConfig full = cfg;
  fill_defaults(full);
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.PrintToString(full, &text);
  return text;
}

absl::Status write_resolved_config(const config::TrainConfig& cfg, const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create run directory ", run_dir, ": ", ec.message()));
  const std::filesystem::path path = std::filesystem::path(run_dir) / "config.pbtxt";
  const std::filesystem::path tmp = std::filesystem::path(run_dir) / "config.pbtxt.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp.string(), ": ", std::strerror(errno)));
    out << "# Resolved configuration: every field, defaults included.\n" << config_to_text(cfg);
    out.close();
    if (!out) return absl::DataLossError(absl::StrCat("cannot write ", tmp.string(), ": ", std::strerror(errno)));
  }
  // Rename so a reader never sees a half-written file.
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    return absl::DataLossError(absl::StrCat("cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace moe::launch
