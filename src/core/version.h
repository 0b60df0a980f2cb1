// The version of entropix: what `entropix --version` prints and what the server's
// system_fingerprint carries.
#pragma once

namespace entropix {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace entropix
