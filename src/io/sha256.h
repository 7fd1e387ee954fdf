// SHA-256 digests (OpenSSL's implementation), as lowercase hex: for shard integrity in packs.
#pragma once

#include <cstddef>
#include <string>

namespace websd {

std::string sha256_hex(const void* data, size_t size);
// Streams the file; Error(kNotFound) if it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace websd
