// Errors that cross module boundaries inside the engine. Programmer bugs use assert; everything a user can cause
// (bad files, unsupported configs, limits) is an Error with a code and a message that says what to do next.
#pragma once

#include <stdexcept>
#include <string>

namespace websd {

enum class ErrorCode {
  kInvalidArgument,  // a parameter the caller passed is out of range
  kNotFound,         // a file or folder does not exist
  kCorruptFile,      // a file exists but its contents are malformed
  kUnsupported,      // a valid model that this engine does not implement
  kShapeMismatch,    // a tensor has a different shape or dtype than the architecture needs
  kOutOfMemory,
  kCancelled,
  kDeviceLost,
  kInternal,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace websd
