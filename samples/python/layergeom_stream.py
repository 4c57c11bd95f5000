"""Stream activations to layergeom, in its stream form, with numpy only.

    from layergeom_stream import StreamWriter
    with StreamWriter() as w:                   # standard output
        w.write_meta(model="my-model")
        for batch, y in loader:                 # as a model produces them:
            hidden = model(batch)               # every layer of one batch at once
            w.write_batch({"layer00": hidden[0], "layer01": hidden[1]}, labels=y)

    python producer.py | layergeom ingest -o run.lgs -

Batch by batch (write_batch, format 1.1), only the current batch is held;
`layergeom ingest` commits every layer's rows every few seconds, so a
producer that dies loses only the last seconds.  Layer by layer (write_layer
/ write_rows, format 1.0) needs each layer whole before the next.

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
_LABELS_EXTEND, _LAYER = 9, 10
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
        self.batch_layers = None  # write_batch: name -> dict(id, d, dtype, rows, chunks)
        self.batch_labels = {}  # write_batch: label set name -> list of arrays
        head = _FILE_MAGIC + struct.pack("<HHI", 1, 1, 1) + bytes(44)
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

    @staticmethod
    def _rows(name, rows):
        rows = np.asarray(rows)
        if rows.ndim == 1:
            rows = rows[:, None]
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError("layer %r: rows must be a non-empty (B, D) array, got shape %s"
                             % (name, rows.shape))
        dtype = rows.dtype.newbyteorder("<")
        if dtype not in _DTYPES:
            raise ValueError("layer %r: rows must be float16, float32 or float64, got %s"
                             % (name, rows.dtype))
        return np.ascontiguousarray(rows, dtype=dtype)

    @staticmethod
    def _name_prefix(name):
        key = name.encode("utf-8")
        head = struct.pack("<I", len(key)) + key
        return head + bytes(-len(head) % 8)

    def write_batch(self, layers, labels=None, label_set="labels"):
        """One batch of B inputs, every layer at once.

        layers: a dict {name: (B, D) array} or a list of (B, D) arrays in
        layer order (named layer00, layer01, ...); every batch gives the same
        layers, each with the same D and type.  labels: the batch's B labels
        (integers), or None."""
        if self.layer is not None:
            raise ValueError("write_batch after write_rows: end the layer-by-layer part first")
        if not isinstance(layers, dict):
            layers = {"layer%02d" % i: a for i, a in enumerate(layers)}
        arrays = {name: self._rows(name, a) for name, a in layers.items()}
        sizes = {a.shape[0] for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError("every layer of a batch must have the same rows, got %s"
                             % {n: a.shape[0] for n, a in arrays.items()})
        (b,) = sizes
        if self.batch_layers is None:
            self.batch_layers = {}
            for name, a in arrays.items():
                L = dict(id=self.next_id, d=a.shape[1], dtype=a.dtype, rows=0, chunks=[])
                self.next_id += 1
                self.batch_layers[name] = L
                e = bytes([_DTYPES[a.dtype]]) + bytes(11)
                self._record(_LAYER, self._name_prefix(name), b=L["id"], d=L["d"], e=e)
        if set(arrays) != set(self.batch_layers):
            raise ValueError("this batch has layers %s; the first batch had %s"
                             % (sorted(arrays), sorted(self.batch_layers)))
        for name, a in arrays.items():
            L = self.batch_layers[name]
            if a.shape[1] != L["d"] or a.dtype != L["dtype"]:
                raise ValueError("layer %r has %d columns of %s; this batch has %d of %s"
                                 % (name, L["d"], L["dtype"], a.shape[1], a.dtype))
            per_chunk = max(1, self.chunk_bytes // a[0].nbytes)
            for start in range(0, b, per_chunk):
                block = a[start:start + per_chunk]
                e = bytes([_DTYPES[a.dtype], 0, 0]) + bytes(9)
                at = self._record(_CHUNK, block, a=L["rows"], b=L["id"], c=block.shape[0],
                                  d=L["d"], e=e)
                L["chunks"].append(at)
                L["rows"] += block.shape[0]
        if labels is not None:
            y = np.ascontiguousarray(np.asarray(labels), dtype="<i8").ravel()
            if y.shape[0] != b:
                raise ValueError("%d labels for a batch of %d rows" % (y.shape[0], b))
            done = self.batch_labels.setdefault(label_set, [])
            first = sum(len(v) for v in done)
            payload = self._name_prefix(label_set) + struct.pack("<QQ", 0, first) + y.tobytes()
            self._record(_LABELS_EXTEND, payload, a=first + b)
            done.append(y)

    def _end_batches(self):
        for name, L in (self.batch_layers or {}).items():
            payload = self._name_prefix(name)
            payload += struct.pack("<%dQ" % len(L["chunks"]), *L["chunks"])
            e = bytes([_DTYPES[L["dtype"]], 0, 0, 0]) + bytes(8)
            self._record(_SEAL, payload, a=L["rows"], b=L["id"], c=len(L["chunks"]), d=L["d"],
                         e=e)
        for name, parts in self.batch_labels.items():
            y = np.concatenate(parts)
            self._record(_LABELS, self._name_prefix(name) + y.tobytes(), a=y.shape[0])
        self.batch_layers = None
        self.batch_labels = {}

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
        self._end_batches()
        self._record(_END, a=self.records)
        self.out.flush()
