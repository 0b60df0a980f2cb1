"""Independent numpy reference for entropix.cpp: a GGUF reader, GGML dequantizers
and the llama-family forward pass. Shares no code with the C++ engine; tests
compare the engine's logits with these."""
