// The one folder where entropix keeps what it caches (models, profiles): one
// rule for every part that reads or writes there.
#pragma once

#include <filesystem>

namespace entropix {

// $ENTROPIX_CACHE, else $XDG_CACHE_HOME/entropix (an absolute XDG_CACHE_HOME only,
// as the XDG spec says), else $HOME/.cache/entropix. Not created. Throws
// entropix::Error when none of the three is set.
std::filesystem::path cache_dir();

}  // namespace entropix
