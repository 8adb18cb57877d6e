// inspect: a text summary of one checkpoint, for moe-ckpt and humans.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/region.h"

namespace moe::checkpoint {

absl::StatusOr<std::string> inspect(const std::string& step_dir) {
  absl::StatusOr<CheckpointMeta> meta = read_metadata(step_dir);
  if (!meta.ok()) return meta.status();
  const CheckpointMeta& m = *meta;
  std::string out;
  absl::StrAppendFormat(&out, "checkpoint %s\n", step_dir);
  absl::StrAppendFormat(&out, "step %d, tokens seen %d, format version %d, code %s, save took %.3f s\n", m.step(),
                        m.tokens_seen(), m.format_version(), m.code_version().empty() ? "?" : m.code_version(),
                        m.save_seconds());
  const SavedLayout& l = m.layout();
  absl::StrAppendFormat(&out, "saved from layout: world %d, dp %d, tp %d, ep %d, zero1 %s\n", l.world(), l.dp(), l.tp(),
                        l.ep(), l.zero1() ? "on" : "off");
  for (const auto& [k, v] : m.rng_seeds()) absl::StrAppendFormat(&out, "rng %s: %d\n", k, v);
  for (const auto& [k, v] : m.extra()) absl::StrAppendFormat(&out, "extra %s: %s\n", k, v);
  int64_t total = 0;
  for (const FileRecord& f : m.files()) {
    absl::StrAppendFormat(&out, "file %s: %d bytes (rank %d)\n", f.name(), f.bytes(), f.rank());
    total += f.bytes();
  }
  absl::StrAppendFormat(&out, "%d tensors, %d files, %d bytes\n", m.tensors_size(), m.files_size(), total);
  for (const TensorRecord& t : m.tensors()) {
    int64_t bytes = 0;
    for (const SliceRecord& s : t.slices()) bytes += s.bytes();
    absl::StrAppendFormat(&out, "  %s %s%s, %d bytes, %d slice(s)\n", t.name(), t.dtype(), shape_str(global_shape_of(t)),
                          bytes, t.slices_size());
    for (const SliceRecord& s : t.slices()) {
      const std::string where = s.dim() < 0 ? std::string("whole")
                                            : absl::StrFormat("dim %d: %d of %d", s.dim(), s.index(), s.count());
      absl::StrAppendFormat(&out, "    %s  %s:%s  %d bytes  fnv1a64 %016x\n", where, s.file(), s.dataset(), s.bytes(),
                            s.fnv1a64());
    }
  }
  if (!m.config_text().empty()) absl::StrAppend(&out, "config:\n", m.config_text(), m.config_text().back() == '\n' ? "" : "\n");
  return out;
}

}  // namespace moe::checkpoint
