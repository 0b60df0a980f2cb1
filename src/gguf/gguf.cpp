// Implementation pending (helper "gguf").
#include "gguf/gguf.h"
