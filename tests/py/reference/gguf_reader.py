"""A GGUF (v2/v3) reader of its own, written from the GGUF specification.

Reads the whole file with numpy.memmap; tensors come back as numpy arrays of
float32 in ggml's shape order reversed (numpy [ne[1]][ne[0]] for a matrix).
"""
import struct

import numpy as np

from . import dequant

# Metadata value types.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY, \
    _UINT64, _INT64, _FLOAT64 = range(13)

_SCALAR = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i",
    _FLOAT32: "<f", _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}


class TensorInfo:
    def __init__(self, name, ne, ggml_type, offset):
        self.name = name            # tensor name
        self.ne = ne                # [n_dims], ne[0] innermost
        self.type = ggml_type       # GGML type number
        self.offset = offset        # from the start of the data section, bytes


class GGUFFile:
    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        magic = bytes(self.buf[0:4])
        if magic != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file (magic {magic!r})")
        self.pos = 4
        self.version = self._read("<I")
        if self.version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {self.version} not supported")
        n_tensors = self._read("<Q")
        n_kv = self._read("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = self._read_string()
            vtype = self._read("<I")
            self.metadata[key] = self._read_value(vtype)
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._read_string()
            n_dims = self._read("<I")
            ne = [self._read("<Q") for _ in range(n_dims)]
            ggml_type = self._read("<I")
            offset = self._read("<Q")
            self.tensors[name] = TensorInfo(name, ne, ggml_type, offset)
        self.alignment = int(self.metadata.get("general.alignment", 32))
        self.data_start = (self.pos + self.alignment - 1) // self.alignment * self.alignment

    def _read(self, fmt):
        n = struct.calcsize(fmt)
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def _read_string(self):
        n = self._read("<Q")
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", errors="surrogateescape")
        self.pos += n
        return s

    def _read_value(self, vtype):
        if vtype == _STRING:
            return self._read_string()
        if vtype == _ARRAY:
            etype = self._read("<I")
            n = self._read("<Q")
            if etype in _SCALAR and etype != _BOOL:
                dt = np.dtype(_SCALAR[etype])
                arr = np.frombuffer(self.buf, dtype=dt, count=n, offset=self.pos).copy()
                self.pos += n * dt.itemsize
                return arr
            return [self._read_value(etype) for _ in range(n)]
        if vtype in _SCALAR:
            return self._read(_SCALAR[vtype])
        raise ValueError(f"{self.path}: unknown metadata type {vtype} at offset {self.pos}")

    def arch(self):
        return self.metadata["general.architecture"]

    def has_tensor(self, name):
        return name in self.tensors

    def tensor(self, name):
        """The tensor dequantized to float32, numpy shape = reversed(ne)."""
        info = self.tensors[name]
        n = int(np.prod(info.ne))
        nbytes = dequant.nbytes(info.type, n)
        start = self.data_start + info.offset
        raw = np.asarray(self.buf[start:start + nbytes])
        if raw.size != nbytes:
            raise ValueError(f"{self.path}: tensor {name} runs past the end of the file")
        values = dequant.dequantize(info.type, raw, n)
        return values.reshape(list(reversed(info.ne)))
