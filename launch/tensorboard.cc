#include "launch/tensorboard.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "data/checksum.h"
#include "launch/tb_event.pb.h"

namespace moe::launch {

namespace {

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}
std::string le32(uint32_t v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TbWriter>> TbWriter::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("tensorboard: cannot create ", dir, ": ", ec.message()));
  char host[256] = "localhost";
  (void)gethostname(host, sizeof(host) - 1);
  const std::string path =
      absl::StrCat(dir, "/events.out.tfevents.", static_cast<int64_t>(wall_time()), ".", host);
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (!f)
    return absl::PermissionDeniedError(absl::StrCat("tensorboard: cannot write ", path, ": ", std::strerror(errno)));
  std::unique_ptr<TbWriter> w(new TbWriter(path, f));
  tb::Event version;
  version.set_wall_time(wall_time());
  version.set_file_version("brain.Event:2");
  w->record(version.SerializeAsString());
  return w;
}

TbWriter::~TbWriter() { std::fclose(f_); }

void TbWriter::record(const std::string& bytes) {
  const std::string len = le64(bytes.size());
  const std::string framed = len + le32(data::crc32c_masked(data::crc32c(len.data(), len.size()))) + bytes +
                             le32(data::crc32c_masked(data::crc32c(bytes.data(), bytes.size())));
  std::fwrite(framed.data(), 1, framed.size(), f_);
  std::fflush(f_);
}

void TbWriter::scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  tb::Event e;
  e.set_wall_time(wall_time());
  e.set_step(step);
  for (const auto& [tag, v] : values) {
    tb::Summary::Value* s = e.mutable_summary()->add_value();
    s->set_tag(tag);
    s->set_simple_value(float(v));
  }
  record(e.SerializeAsString());
}

absl::StatusOr<std::vector<TbScalar>> read_tb_scalars(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tensorboard: cannot open ", path));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<TbScalar> out;
  size_t at = 0;
  auto bad = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat("tensorboard: ", path, ": record at byte ", at, ": ", what));
  };
  auto u32 = [&](size_t off) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + off, 4);
    return v;
  };
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) return bad("truncated header");
    uint64_t len;
    std::memcpy(&len, bytes.data() + at, 8);
    if (u32(at + 8) != data::crc32c_masked(data::crc32c(bytes.data() + at, 8))) return bad("length CRC mismatch");
    if (bytes.size() - at - 12 < len + 4) return bad(absl::StrCat("truncated data (", len, " bytes announced)"));
    const char* payload = bytes.data() + at + 12;
    if (u32(at + 12 + len) != data::crc32c_masked(data::crc32c(payload, len))) return bad("data CRC mismatch");
    tb::Event e;
    if (!e.ParseFromArray(payload, int(len))) return bad("not an Event message");
    for (const tb::Summary::Value& v : e.summary().value()) out.push_back({e.step(), v.tag(), v.simple_value()});
    at += 12 + len + 4;
  }
  return out;
}

}  // namespace moe::launch
