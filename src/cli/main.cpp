#include <cstdio>

int main() {
  std::fprintf(stderr, "entropix: not built yet\n");
  return 1;
}
