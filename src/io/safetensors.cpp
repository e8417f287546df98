#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace ds {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

// A header larger than this is certainly not a real safetensors header (the reference
// library caps it at 100 MB as well).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : SafetensorsFile(MappedFile(path)) {}

SafetensorsFile::SafetensorsFile(MappedFile file) : file_(std::move(file)) {
  const std::string& path = file_.path();
  const uint8_t* base = file_.data();
  const uint64_t size = file_.size();
  if (size < 8) throw Error(cat(path, ": not a safetensors file (", size, " bytes, too short)"));
  const uint64_t header_len = read_le64(base);
  if (header_len > kMaxHeaderBytes)
    throw Error(cat(path, ": safetensors header length ", header_len, " is absurd"));
  if (header_len > size - 8)
    throw Error(cat(path, ": truncated: header length ", header_len, " exceeds file size ", size));
  json header;
  try {
    header = json::parse(base + 8, base + 8 + header_len);
  } catch (const json::exception& e) {
    throw Error(cat(path, ": malformed safetensors header JSON: ", e.what()));
  }
  if (!header.is_object()) throw Error(cat(path, ": safetensors header is not a JSON object"));
  const uint8_t* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string& name = it.key();
    const json& e = it.value();
    auto where = [&] { return cat(path, ": tensor '", name, "'"); };
    if (!e.is_object()) throw Error(cat(where(), ": entry is not an object"));
    if (!e.contains("dtype") || !e["dtype"].is_string())
      throw Error(cat(where(), ": missing or non-string 'dtype'"));
    if (!e.contains("shape") || !e["shape"].is_array())
      throw Error(cat(where(), ": missing or non-array 'shape'"));
    if (!e.contains("data_offsets") || !e["data_offsets"].is_array() ||
        e["data_offsets"].size() != 2)
      throw Error(cat(where(), ": 'data_offsets' must be an array [begin, end]"));
    TensorInfo t;
    t.name = name;
    const std::string dt = e["dtype"].get<std::string>();
    if (!dtype_from_safetensors(dt, &t.dtype))
      throw Error(cat(where(), ": unsupported dtype '", dt, "'"));
    if (e["shape"].size() > 8) throw Error(cat(where(), ": too many dimensions"));
    uint64_t n_el = 1;
    for (const json& d : e["shape"]) {
      if (!d.is_number_unsigned())
        throw Error(cat(where(), ": shape holds a non-integer or negative"));
      const uint64_t v = d.get<uint64_t>();
      if (v > (1ull << 40) || (v != 0 && n_el > (1ull << 50) / v))
        throw Error(cat(where(), ": shape is absurdly large"));
      n_el *= v;
      t.shape.push_back(int64_t(v));
    }
    for (const json& o : e["data_offsets"])
      if (!o.is_number_unsigned())
        throw Error(cat(where(), ": data_offsets must be non-negative integers"));
    const uint64_t begin = e["data_offsets"][0].get<uint64_t>();
    const uint64_t end = e["data_offsets"][1].get<uint64_t>();
    if (begin > end) throw Error(cat(where(), ": data_offsets begin ", begin, " > end ", end));
    if (end > data_size)
      throw Error(cat(where(), ": data_offsets end ", end, " is past the end of the data (",
                      data_size, " bytes; file truncated?)"));
    const uint64_t expect = n_el * dtype_size(t.dtype);
    if (end - begin != expect)
      throw Error(cat(where(), ": holds ", end - begin, " bytes but shape and dtype ", dt, " need ",
                      expect));
    t.data = data + begin;
    const size_t align = dtype_size(t.dtype);
    if (align > 1 && reinterpret_cast<uintptr_t>(t.data) % align != 0) {
      // The reference writer pads the header so data is aligned; files written without
      // that padding get an aligned private copy of each such tensor (kernels load whole
      // elements and must not read misaligned ones).
      auto& copy = aligned_copies_.emplace_back(new uint64_t[(end - begin + 7) / 8]);
      std::memcpy(copy.get(), data + begin, end - begin);
      t.data = reinterpret_cast<const uint8_t*>(copy.get());
    }
    t.n_bytes = end - begin;
    t.file = &file_.path();
    if (end > begin) ranges.push_back({begin, end});
    tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw Error(cat(path, ": tensors overlap at data offset ", ranges[i].first));
}

TensorStore TensorStore::open(const std::string& path) {
  TensorStore s;
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    const fs::path index = dir / "model.safetensors.index.json";
    const fs::path single = dir / "model.safetensors";
    if (fs::exists(index)) {
      std::ifstream in(index);
      json j;
      try {
        j = json::parse(in);
      } catch (const json::exception& e) {
        throw Error(cat(index.string(), ": malformed JSON: ", e.what()));
      }
      if (!j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error(cat(index.string(), ": missing 'weight_map' object"));
      std::set<std::string> shard_names;
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string())
          throw Error(cat(index.string(), ": weight_map['", it.key(), "'] is not a file name"));
        const std::string f = it.value().get<std::string>();
        if (f.find('/') != std::string::npos || f == "..")
          throw Error(cat(index.string(), ": shard name '", f, "' must be a plain file name"));
        shard_names.insert(f);
      }
      for (const auto& f : shard_names) {
        if (!fs::exists(dir / f))
          throw Error(cat(index.string(), ": lists shard '", f, "', which does not exist"));
        files.push_back((dir / f).string());
      }
      s.files_.reserve(files.size());
      for (const auto& f : files) s.files_.push_back(std::make_unique<SafetensorsFile>(f));
      // Every tensor the index names must be in the shard it names.
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        const std::string shard = (dir / it.value().get<std::string>()).string();
        const SafetensorsFile* sf = nullptr;
        for (const auto& f : s.files_)
          if (f->path() == shard) sf = f.get();
        auto t = sf->tensors().find(it.key());
        if (t == sf->tensors().end())
          throw Error(cat(index.string(), ": tensor '", it.key(), "' is not in shard '",
                          it.value().get<std::string>(), "'"));
      }
      files.clear();
    } else if (fs::exists(single)) {
      files.push_back(single.string());
    } else {
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      if (files.empty())
        throw Error(
            cat(path, ": no model.safetensors, model.safetensors.index.json or *.safetensors"));
    }
  } else {
    throw Error(cat(path, ": no such file or directory"));
  }
  for (const auto& f : files) s.files_.push_back(std::make_unique<SafetensorsFile>(f));
  for (const auto& f : s.files_)
    for (const auto& [name, t] : f->tensors()) {
      auto [it, inserted] = s.index_.emplace(name, &t);
      if (!inserted)
        throw Error(
            cat("tensor '", name, "' appears in both ", *it->second->file, " and ", f->path()));
    }
  return s;
}

TensorStore TensorStore::from_memory(const uint8_t* data, size_t size, const std::string& name) {
  TensorStore s;
  s.files_.push_back(std::make_unique<SafetensorsFile>(MappedFile::borrow(data, size, name)));
  for (const auto& [n, t] : s.files_[0]->tensors()) s.index_.emplace(n, &t);
  return s;
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

}  // namespace ds
