#pragma once
// The run configuration: protobuf text files (configs/*.pbtxt) plus
// command-line overrides, validation, and the resolved copy written into
// the run directory. Every error names the file or the override, the field
// by its full dotted path (model.moe.top_k) and the reason.
#include <utility>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launch/train_config.pb.h"

namespace moe::launch {

// Parses protobuf text. `source` names the text in errors, which carry
// "source:line:column: " and the parser's reason (an unknown field names
// the field and its message type).
absl::StatusOr<config::TrainConfig> parse_train_config(const std::string& text, const std::string& source);

// Reads and parses `path`, then applies `overrides` in order. Does not
// validate (call validate() once the dataset is known). A directory is an
// error, and so is a file that sets no field (empty, or only comments)
// unless allow_empty: it would silently train with every default.
absl::StatusOr<config::TrainConfig> load_train_config(const std::string& path,
                                                      const std::vector<std::string>& overrides,
                                                      bool allow_empty = false);

// One override "a.b.c=value": nested messages are created as needed;
// integers, floats, bools (true/false/1/0), strings and enums by value name
// (SCORE_SIGMOID); a repeated field takes "v1,v2,..." and replaces the
// list (empty value: cleared). An unknown path lists the valid fields of
// the message where it went wrong.
absl::Status apply_override(config::TrainConfig& cfg, std::string_view override_text);

// Checks the whole config; the error lists every violation found, each as
// "field.path = value: reason" (every floating-point field must be finite).
// dataset_max_token >= 0 also checks that model.vocab_size covers the
// dataset's largest token id; max_token_at says where that token is (file,
// offset, document: data::token_location) for the message.
absl::Status validate(const config::TrainConfig& cfg, int64_t dataset_max_token = -1,
                      const std::string& max_token_at = "");
// The parallel layout against `world` ranks and the model (parallel/mesh.h's
// rules plus batch divisibility and device-limited groups vs EP), and
// parallel.comm_timeout_s, which the launcher applies right after this
// check. Pure: every rank reaches the same verdict before any communication.
absl::Status validate_layout(const config::TrainConfig& cfg, int world);

// Text format with every default written out, so the file alone says what
// ran. Absent sub-messages are filled too, except model.moe, whose absence
// means "dense model". Parsing the text back gives an equivalent config.
std::string config_to_text(const config::TrainConfig& cfg);

// Every field of the run config, one per line: its path (as --set takes
// it), type (an enum's values), default and the .proto's comment on it.
std::string list_config_fields();
// The text of the project's .proto files, by path (launch/proto_texts.cc.in).
const std::vector<std::pair<std::string, std::string>>& proto_texts();

// mkdir -p run_dir, then writes config_to_text(cfg) to run_dir/config.pbtxt.
absl::Status write_resolved_config(const config::TrainConfig& cfg, const std::string& run_dir);

}  // namespace moe::launch
