// Read-only weight files: mapped, or read once into huge-page-backed memory (never copied
// after that).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/huge_buffer.h"

namespace ds {

/// How MappedFile brings a file's bytes into memory.
///  - kMmap: map the file (starts at once, shares the page cache, works for files larger than
///    RAM). The kernel backs file mappings with 4 KiB pages, so streaming weights takes a TLB
///    miss every 4 KiB, which costs a two-level page walk inside a virtual machine.
///  - kRead: read the file into anonymous memory advised for transparent huge pages (2 MiB):
///    decode of a V2-Lite-shaped Q4_K_M slice ran 1.9x faster this way (docs/PERFORMANCE.md).
///  - kAuto: kRead for files of at least 64 MiB that take at most half of the memory the
///    system reports available, kMmap otherwise.
enum class FileLoading { kAuto, kRead, kMmap };

void set_file_loading(FileLoading mode);
FileLoading file_loading();
/// Parses "auto" | "read" | "mmap"; throws ds::Error otherwise.
FileLoading parse_file_loading(const std::string& name);

class MappedFile {
 public:
  MappedFile() = default;
  /// Maps or reads `path` read-only (file_loading()); throws ds::Error naming the file when
  /// it cannot.
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
  /// True when the bytes were read into anonymous memory rather than mapped.
  bool is_read() const { return read_; }

 private:
  void release();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* map_base_ = nullptr;  // the file mapping, when mapped
  size_t map_len_ = 0;
  HugeBuffer copy_;  // the bytes, when read
  bool read_ = false;
};

}  // namespace ds
