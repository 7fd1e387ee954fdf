#include "io/mapped_file.h"

#include <cerrno>
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
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
#ifdef WEBSD_HAVE_MMAP
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
#else
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) throw Error(ErrorCode::kNotFound, path + ": cannot open");
  std::fseek(fp, 0, SEEK_END);
  long n = std::ftell(fp);
  std::fseek(fp, 0, SEEK_SET);
  f->owned_.resize(size_t(n));
  if (n > 0 && std::fread(f->owned_.data(), 1, size_t(n), fp) != size_t(n)) {
    std::fclose(fp);
    throw Error(ErrorCode::kCorruptFile, path + ": short read");
  }
  std::fclose(fp);
  f->data_ = f->owned_.data();
  f->size_ = f->owned_.size();
#endif
  return f;
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
}

}  // namespace websd
