#pragma once

#include <filesystem>
#include <string_view>

namespace echod::test {

// A fresh directory under /tmp, removed with everything in it on destruction. /tmp rather than
// $TMPDIR keeps socket paths well below the 108-byte sun_path limit.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  // Writes `content` to `name` atomically (a temporary file renamed over it), so that a daemon
  // reloading concurrently reads either the old or the new file, never half of one.
  std::filesystem::path write_file(std::string_view name, std::string_view content) const;

 private:
  std::filesystem::path path_;
};

// The whole content of a file; empty when it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace echod::test
