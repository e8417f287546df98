// Read-only memory-mapped files: weights are mapped, never copied wholesale.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ds {

class MappedFile {
 public:
  MappedFile() = default;
  /// Maps `path` read-only; throws ds::Error naming the file when it cannot.
  explicit MappedFile(const std::string& path);
  /// A view of bytes that live elsewhere for the whole program (an embedded model); `name`
  /// stands in for the path in messages. Nothing is unmapped.
  static MappedFile borrow(const uint8_t* data, size_t size, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = true;
};

}  // namespace ds
