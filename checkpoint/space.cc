#include "checkpoint/space.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "checkpoint/fs.h"

namespace moe::checkpoint {
namespace stdfs = std::filesystem;
namespace {

// /proc/self/mounts escapes blanks in paths as octal (\040).
std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out.push_back(char(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The mount with the longest mount point that is a prefix of `dir`.
void find_mount(const std::string& dir, FsSpace& out) {
  std::ifstream in("/proc/self/mounts");
  std::string line;
  size_t best = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string dev, point, type;
    if (!(ls >> dev >> point >> type)) continue;
    point = unescape_mount_path(point);
    const bool prefix = dir == point || point == "/" ||
                        (dir.size() > point.size() && dir.compare(0, point.size(), point) == 0 && dir[point.size()] == '/');
    if (prefix && point.size() >= best) {  // later lines win: a mount over a mount
      best = point.size();
      out.mount = point;
      out.type = type;
    }
  }
}

}  // namespace

absl::StatusOr<FsSpace> space_at(const std::string& path) {
  FsSpace out;
  std::error_code ec;
  stdfs::path p = stdfs::absolute(path.empty() ? "." : path, ec);
  if (ec) p = path;
  while (!stdfs::exists(p, ec) && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
  const stdfs::path canon = stdfs::weakly_canonical(p, ec);
  out.probed = (ec ? p : canon).string();
  struct statvfs v {};
  if (::statvfs(out.probed.c_str(), &v) != 0)
    return fs::errno_status(errno, "cannot measure the free space (statvfs) of " + out.probed);
  out.available = uint64_t(v.f_bavail) * uint64_t(v.f_frsize);
  find_mount(out.probed, out);
  return out;
}

int64_t space_margin(int64_t payload) { return std::max<int64_t>(int64_t(1) << 20, payload / 50); }

std::string bytes_str(int64_t b) {
  if (b < 1000000) return absl::StrFormat("%.1f kB", double(b) / 1e3);
  if (b < 1000000000) return absl::StrFormat("%.2f MB", double(b) / 1e6);
  return absl::StrFormat("%.2f GB", double(b) / 1e9);
}

}  // namespace moe::checkpoint
