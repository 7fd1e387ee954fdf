#include "io/mapped_file.h"

#include <sys/types.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

// Emscripten's mmap works only on its in-memory file system (and copies there anyway), not on WORKERFS, where
// the browser's Files and Blobs live: the WebAssembly build reads files instead.
#if (defined(__unix__) || defined(__APPLE__)) && !defined(__EMSCRIPTEN__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define WEBSD_HAVE_MMAP 1
#endif

namespace websd {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
#ifdef WEBSD_HAVE_MMAP
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kNotFound, path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kNotFound, path + ": not a regular file");
  }
  f->size_ = size_t(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw Error(ErrorCode::kOutOfMemory, path + ": cannot map the file (" + std::strerror(e) + ")");
    }
    f->data_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
  }
  ::close(fd);
  return f;
#else
  return open_unmapped(path);
#endif
}

std::shared_ptr<MappedFile> MappedFile::open_unmapped(const std::string& path) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->stream_ = std::fopen(path.c_str(), "rb");
  if (!f->stream_) throw Error(ErrorCode::kNotFound, path + ": cannot open (" + std::strerror(errno) + ")");
  // fseeko/ftello: 64-bit offsets, also on wasm32 where long is 32 bits and models are larger than 2 GiB.
  if (fseeko(f->stream_, 0, SEEK_END) != 0) throw Error(ErrorCode::kNotFound, path + ": not a regular file");
  const off_t n = ftello(f->stream_);
  if (n < 0) throw Error(ErrorCode::kNotFound, path + ": not a regular file");
  if (uint64_t(n) > uint64_t(SIZE_MAX))
    throw Error(ErrorCode::kUnsupported, path + ": " + std::to_string(uint64_t(n) >> 20) +
                                             " MiB is more than this 32-bit build can address in one file; convert "
                                             "the model to a web pack (websd convert), whose shards are 128 MiB");
  f->size_ = size_t(n);
  return f;
}

void MappedFile::read(size_t offset, size_t n, void* dst) const {
  if (offset > size_ || n > size_ - offset)
    throw Error(ErrorCode::kCorruptFile, path_ + ": bytes " + std::to_string(offset) + "+" + std::to_string(n) +
                                             " lie past its end (" + std::to_string(size_) + " bytes)");
  if (data_) {
    std::memcpy(dst, data_ + offset, n);
    return;
  }
  std::lock_guard<std::mutex> lock(read_mutex_);
  if (!stream_ || fseeko(stream_, off_t(offset), SEEK_SET) != 0 || std::fread(dst, 1, n, stream_) != n)
    throw Error(ErrorCode::kCorruptFile, path_ + ": short read at byte " + std::to_string(offset) +
                                             " (was the file changed or removed while open?)");
}

std::vector<uint8_t> MappedFile::read(size_t offset, size_t n) const {
  std::vector<uint8_t> out(n);
  read(offset, n, out.data());
  return out;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->owned_ = std::move(bytes);
  f->data_ = f->owned_.data();
  f->size_ = f->owned_.size();
  f->path_ = std::move(name);
  return f;
}

MappedFile::~MappedFile() {
#ifdef WEBSD_HAVE_MMAP
  if (mapped_) munmap(const_cast<uint8_t*>(data_), size_);
#endif
  if (stream_) std::fclose(stream_);
}

}  // namespace websd
