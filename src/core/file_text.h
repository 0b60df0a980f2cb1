// A whole file read into memory, with errors that name the file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace entropix {

// The bytes of the file at `path`. `what` names it in errors ("prompt file",
// "chat template"): throws entropix::Error "cannot read <what> <path>: <reason>"
// when it cannot be opened or read, and "<what> <path>: expected a file, found a
// directory" for a directory. Pipes and character devices (/dev/stdin) are read to
// their end.
std::string read_file(const std::filesystem::path& path, std::string_view what);

}  // namespace entropix
