#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "core/error.h"

namespace ds {

namespace {

std::atomic<FileLoading> g_loading{FileLoading::kAuto};

constexpr size_t kReadMinBytes = size_t(64) << 20;

// MemAvailable from /proc/meminfo in bytes; 0 when it cannot be read.
size_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

bool should_read(size_t size) {
  switch (g_loading.load(std::memory_order_relaxed)) {
    case FileLoading::kRead:
      return true;
    case FileLoading::kMmap:
      return false;
    case FileLoading::kAuto:
      break;
  }
  if (size < kReadMinBytes) return false;
  const size_t avail = mem_available();
  return avail > 0 && size <= avail / 2;
}

}  // namespace

void set_file_loading(FileLoading mode) {
  g_loading.store(mode, std::memory_order_relaxed);
}

FileLoading file_loading() {
  return g_loading.load(std::memory_order_relaxed);
}

FileLoading parse_file_loading(const std::string& name) {
  if (name == "auto") return FileLoading::kAuto;
  if (name == "read") return FileLoading::kRead;
  if (name == "mmap") return FileLoading::kMmap;
  throw Error(cat("unknown file loading '", name, "' (auto, read or mmap)"));
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(cat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(cat(path, ": cannot stat: ", std::strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(cat(path, ": not a regular file"));
  }
  size_ = size_t(st.st_size);
  if (size_ > 0 && should_read(size_)) {
    // Huge-page-backed memory filled by pread, then made read-only. One copy: the page
    // cache's is reclaimable.
    try {
      copy_ = HugeBuffer(size_);
    } catch (...) {
      ::close(fd);
      throw;
    }
    uint8_t* dst = copy_.data();
    size_t off = 0;
    while (off < size_) {
      const ssize_t r = ::pread(fd, dst + off, size_ - off, off_t(off));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        const int e = r < 0 ? errno : 0;
        ::close(fd);
        copy_ = HugeBuffer();
        throw Error(cat(path, ": read failed at byte ", off, " of ", size_, ": ",
                        e ? std::strerror(e) : "unexpected end of file"));
      }
      off += size_t(r);
    }
    copy_.make_read_only();
    data_ = dst;
    read_ = true;
  } else if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw Error(cat(path, ": cannot map: ", std::strerror(e)));
    }
    data_ = static_cast<const uint8_t*>(p);
    map_base_ = p;
    map_len_ = size_;
  }
  ::close(fd);
}

MappedFile MappedFile::borrow(const uint8_t* data, size_t size, std::string name) {
  MappedFile f;
  f.path_ = std::move(name);
  f.data_ = data;
  f.size_ = size;
  return f;  // no map_base_: nothing is unmapped
}

void MappedFile::release() {
  if (map_base_) ::munmap(map_base_, map_len_);
  map_base_ = nullptr;
  map_len_ = 0;
  copy_ = HugeBuffer();
}

MappedFile::~MappedFile() {
  release();
}

// The mapping moves with the bytes: a moved borrowed view (an embedded model, a buffer) has no
// mapping, so its new owner never unmaps it.
MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      map_base_(std::exchange(o.map_base_, nullptr)),
      map_len_(std::exchange(o.map_len_, 0)),
      copy_(std::move(o.copy_)),
      read_(std::exchange(o.read_, false)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    map_base_ = std::exchange(o.map_base_, nullptr);
    map_len_ = std::exchange(o.map_len_, 0);
    copy_ = std::move(o.copy_);
    read_ = std::exchange(o.read_, false);
  }
  return *this;
}

}  // namespace ds
