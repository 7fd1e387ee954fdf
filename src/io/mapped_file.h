// A read-only file: memory-mapped where the platform can (data() is the whole file). Elsewhere (the WebAssembly
// build, whose files are the browser's Files and Blobs) nothing is read up front: data() is null and read() brings
// the ranges asked for, so a multi-gigabyte model never sits whole in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace websd {

class MappedFile {
 public:
  // Throws Error(kNotFound) if the file cannot be opened, naming the path.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  // Never maps: reads on demand, as the WebAssembly build always does (tests of that path run natively too).
  static std::shared_ptr<MappedFile> open_unmapped(const std::string& path);
  // Wraps bytes already in memory (tests, web streaming).
  static std::shared_ptr<MappedFile> from_bytes(std::vector<uint8_t> bytes, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }  // null where the file is read instead (resident() is false)
  bool resident() const { return data_ != nullptr || size_ == 0; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Copies bytes [offset, offset + n) into dst. Throws Error(kCorruptFile) naming the file if they are not all
  // there (the file shrank, or a Blob became unreadable). Thread-safe.
  void read(size_t offset, size_t n, void* dst) const;
  std::vector<uint8_t> read(size_t offset, size_t n) const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> owned_;
  std::string path_;
  std::FILE* stream_ = nullptr;  // files that are read, not mapped
  mutable std::mutex read_mutex_;
};

}  // namespace websd
