// The one error type of the project: what was expected, what was found, and where.
#pragma once

#include <stdexcept>
#include <string>

namespace entropix {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace entropix
