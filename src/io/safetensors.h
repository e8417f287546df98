// safetensors files and HF model directories (single file or sharded with an index).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace ds {

/// One tensor inside a mapped safetensors file. `data` points into the mapping.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first, as written in the header
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  const std::string* file = nullptr;  // path of the file holding it

  int64_t n_elements() const;
};

/// A validated, memory-mapped safetensors file. Every header entry is checked: dtype known,
/// shape sane, offsets inside the data section, size equal to shape × dtype, no overlaps.
class SafetensorsFile {
 public:
  /// Maps and validates `path`; throws ds::Error naming the file and the field.
  explicit SafetensorsFile(const std::string& path);
  /// Validates an already-mapped (or embedded) file.
  explicit SafetensorsFile(MappedFile file);
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::unique_ptr<uint64_t[]>> aligned_copies_;  // only for misaligned tensors
};

/// All tensors of a model directory: `model.safetensors`, or the shards named by
/// `model.safetensors.index.json`, or every `*.safetensors` file when neither exists.
class TensorStore {
 public:
  /// Opens a directory (or one .safetensors file); throws ds::Error on any inconsistency.
  static TensorStore open(const std::string& path);
  /// One in-memory safetensors image (an embedded model).
  static TensorStore from_memory(const uint8_t* data, size_t size, const std::string& name);

  /// The tensor called `name`, or nullptr.
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, const TensorInfo*>& all() const { return index_; }
  size_t n_files() const { return files_.size(); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> index_;
};

}  // namespace ds
