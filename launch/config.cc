// Loading: protobuf text parsing with positioned errors, then overrides.
#include "launch/config.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace moe::launch {
namespace {

// Collects the parser's messages as "source:line:column: message" (the
// parser counts lines and columns from 0).
class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(const std::string& source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    errors_.push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  std::string joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::StatusOr<config::TrainConfig> parse_train_config(const std::string& text, const std::string& source) {
  config::TrainConfig cfg;
  CollectErrors errors(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &cfg)) {
    std::string why = errors.joined();
    if (why.empty()) why = absl::StrCat(source, ": not a valid TrainConfig in protobuf text format");
    return absl::InvalidArgumentError(why);
  }
  return cfg;
}

absl::StatusOr<config::TrainConfig> load_train_config(const std::string& path,
                                                      const std::vector<std::string>& overrides, bool allow_empty) {
  // A directory opens as a stream and reads as empty text, which would parse
  // as a config of every default.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return absl::InvalidArgumentError(
        absl::StrCat("config ", path, " is a directory, not a config file (protobuf text, e.g. configs/tiny_moe.pbtxt)"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open config file ", path, ": ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read config file ", path));
  absl::StatusOr<config::TrainConfig> cfg = parse_train_config(text.str(), path);
  if (!cfg.ok()) return cfg.status();
  std::vector<const google::protobuf::FieldDescriptor*> set;
  cfg->GetReflection()->ListFields(*cfg, &set);
  if (set.empty() && !allow_empty)
    return absl::InvalidArgumentError(
        absl::StrCat("config ", path, " sets no field (", text.str().find_first_not_of(" \t\r\n") == std::string::npos ? "an empty file" : "only comments",
                     "), so every value would be the default: a wrong or truncated file? "
                     "--allow_empty_config accepts it"));
  for (const std::string& o : overrides) {
    if (absl::Status s = apply_override(*cfg, o); !s.ok())
      return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  return cfg;
}

}  // namespace moe::launch
