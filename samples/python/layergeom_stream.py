"""Stream activations to layergeom, in its stream form, with numpy only.

    from layergeom_stream import StreamWriter
    with StreamWriter() as w:                   # standard output
        w.write_meta(model="my-model")
        w.write_layer("layer00", hidden0)       # an (N, D) float16/32/64 array
        for block in blocks_of_layer_1:         # or a layer in blocks of rows
            w.write_rows("layer01", block)
        w.write_labels(labels)                  # N integers

    python producer.py | layergeom ingest -o run.lgs -

The byte layout is formats/store-format.md (the stream form).  Record
headers carry their CRC32C; payload checksums are left to the ingesting side
(flag bit 0), since numpy has no fast CRC32C.
"""

import struct
import sys

import numpy as np

__all__ = ["StreamWriter"]

_FILE_MAGIC = b"\x89LGS\r\n\x1a\n"
_RECORD_MAGIC = 0x3152474C  # "LGR1"
_CHUNK, _SEAL, _LABELS, _META, _END = 1, 2, 3, 4, 7
_NO_PAYLOAD_CRC = 1
_DTYPES = {np.dtype("<f4"): 1, np.dtype("<f2"): 2, np.dtype("<f8"): 4}


def _make_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def _crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ _TABLE[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


class StreamWriter:
    """Writes the stream form to a binary file object (default: stdout)."""

    def __init__(self, out=None, chunk_bytes=4 << 20):
        self.out = out if out is not None else sys.stdout.buffer
        self.chunk_bytes = chunk_bytes
        self.offset = 0
        self.records = 0
        self.next_id = 0
        self.layer = None  # the open layer: dict(name, id, d, dtype, rows, chunks)
        head = _FILE_MAGIC + struct.pack("<HHI", 1, 0, 1) + bytes(44)
        self._write(head + struct.pack("<I", _crc32c(head)))

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.out.flush()  # leave the stream unterminated: ingest reports it

    def _write(self, data):
        self.out.write(data)
        self.offset += len(data)

    def _record(self, rtype, payload=b"", a=0, b=0, c=0, d=0, e=bytes(12)):
        payload = memoryview(payload).cast("B")
        size = payload.nbytes
        head = struct.pack("<IBBHQQQIII12sI", _RECORD_MAGIC, rtype, 1,
                           _NO_PAYLOAD_CRC if size else 0, size, size, a, b, c, d, e, 0)
        at = self.offset
        self._write(head + struct.pack("<I", _crc32c(head)))
        if size:
            self._write(payload)
            pad = -size % 64
            if pad:
                self._write(bytes(pad))
        self.records += 1
        return at

    def write_rows(self, layer, rows):
        """Appends rows (an (n, D) array) to layer; a new name ends the open layer."""
        rows = np.asarray(rows)
        if rows.ndim == 1:
            rows = rows[:, None]
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError("rows must be a non-empty (n, D) array, got shape %s" % (rows.shape,))
        dtype = rows.dtype.newbyteorder("<")
        if dtype not in _DTYPES:
            raise ValueError("rows must be float16, float32 or float64, got %s" % rows.dtype)
        rows = np.ascontiguousarray(rows, dtype=dtype)
        if self.layer is not None and self.layer["name"] != layer:
            self.end_layer()
        if self.layer is None:
            self.layer = dict(name=layer, id=self.next_id, d=rows.shape[1], dtype=dtype,
                              rows=0, chunks=[])
            self.next_id += 1
        L = self.layer
        if rows.shape[1] != L["d"] or dtype != L["dtype"]:
            raise ValueError("layer %r has %d columns of %s; these rows have %d of %s"
                             % (layer, L["d"], L["dtype"], rows.shape[1], dtype))
        per_chunk = max(1, self.chunk_bytes // rows[0].nbytes)
        for start in range(0, rows.shape[0], per_chunk):
            block = rows[start:start + per_chunk]
            e = bytes([_DTYPES[dtype], 0, 0]) + bytes(9)
            at = self._record(_CHUNK, block, a=L["rows"], b=L["id"], c=block.shape[0],
                              d=L["d"], e=e)
            L["chunks"].append(at)
            L["rows"] += block.shape[0]

    def end_layer(self):
        """Completes the open layer (write_layer and a new name do it for you)."""
        L = self.layer
        if L is None:
            return
        name = L["name"].encode("utf-8")
        head = struct.pack("<I", len(name)) + name
        head += bytes(-len(head) % 8)
        payload = head + struct.pack("<%dQ" % len(L["chunks"]), *L["chunks"])
        e = bytes([_DTYPES[L["dtype"]], 0, 0, 0]) + bytes(8)  # content CRC: left to ingest
        self._record(_SEAL, payload, a=L["rows"], b=L["id"], c=len(L["chunks"]), d=L["d"], e=e)
        self.layer = None

    def write_layer(self, name, array):
        """A whole layer: an (N, D) array."""
        self.write_rows(name, array)
        self.end_layer()

    def write_labels(self, labels, name="labels"):
        """N integer labels, one per row."""
        labels = np.ascontiguousarray(np.asarray(labels), dtype="<i8").ravel()
        key = name.encode("utf-8")
        head = struct.pack("<I", len(key)) + key
        head += bytes(-len(head) % 8)
        self._record(_LABELS, head + labels.tobytes(), a=labels.shape[0])

    def write_meta(self, **pairs):
        """Metadata: model="...", anything=str."""
        payload = b""
        for k, v in pairs.items():
            k, v = str(k).encode("utf-8"), str(v).encode("utf-8")
            payload += struct.pack("<II", len(k), len(v)) + k + v
        self._record(_META, payload, a=len(pairs))

    def close(self):
        """Ends the open layer and the stream."""
        self.end_layer()
        self._record(_END, a=self.records)
        self.out.flush()
