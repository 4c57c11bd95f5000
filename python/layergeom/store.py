"""The activation store from Python: Store reads, Writer writes batch by
batch (every layer of a batch at once, as a model produces them).

A store is one file (formats/store-format.md): chunks of rows of any layer,
checksummed, optionally compressed; a commit makes every layer's rows so far
durable, and a crash loses only what came after the last commit.
"""

import ctypes

import numpy as np

from . import _lib
from .errors import UsageError
from .estimators import label_ids

_DTYPES = {1: "f32", 2: "f16", 3: "bf16", 4: "f64"}
_CODECS = {0: "none", 1: "lz4", 2: "zstd"}
_SRC = {np.dtype(np.float32): 1, np.dtype(np.float16): 2, np.dtype(np.float64): 4}


class _Handle:
    """Owns an open lg_store; mapped views of its rows keep it alive."""

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            _lib.lib.lg_store_close(self.ptr)
            self.ptr = None


class Layer:
    """One layer's description: ``name``, ``n`` rows, ``d`` columns, the stored
    ``dtype`` and ``codec``, ``chunks``, bytes on disk and decoded."""

    def __init__(self, index, info):
        self.index = index
        self.id = info.id
        self.name = info.name.decode()
        self.n = info.n
        self.d = info.d
        self.dtype = _DTYPES.get(info.dtype, "?")
        self.codec = _CODECS.get(info.codec, "?")
        self.chunks = info.n_chunks
        self.bytes_stored = info.bytes_stored
        self.bytes_raw = info.bytes_raw
        self.content_crc = info.content_crc

    @property
    def shape(self):
        return (self.n, self.d)

    def __repr__(self):
        return "Layer(%r, n=%d, d=%d, %s, %s)" % (self.name, self.n, self.d, self.dtype,
                                                 self.codec)


class Store:
    """A store opened for reading: ``layers``, ``rows`` (N), ``label_sets``,
    ``labels(name)``, ``meta``, and a layer's rows as numpy arrays
    (``store[name]``, ``store.read(layer, start, stop)``).

    Rows of an uncompressed float32 layer are mapped, not copied, whenever
    the rows asked for lie in one chunk (``read(..., copy=False)``, the
    default): the array is read-only and keeps the store's mapping alive."""

    def __init__(self, path, verify=True):
        self.path = str(path)
        ptr = ctypes.c_void_p()
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_store_open(self.path.encode(), 0 if verify else 1,
                                          ctypes.byref(ptr), ctypes.byref(err)), err)
        self._h = _Handle(ptr)
        self.recovery = _lib.lib.lg_store_recovery(ptr)
        if self.recovery is not None:
            self.recovery = self.recovery.decode()

    # --- context manager ---
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Lets go of the store (mapped arrays still alive keep it open)."""
        self._h = None

    @property
    def _p(self):
        if self._h is None:
            raise UsageError("%s: the store is closed" % self.path)
        return self._h.ptr

    # --- description ---
    @property
    def layers(self):
        out = []
        for i in range(_lib.lib.lg_store_layer_count(self._p)):
            info = _lib.LayerInfo()
            _lib.lib.lg_store_layer(self._p, i, ctypes.byref(info))
            out.append(Layer(i, info))
        return out

    @property
    def names(self):
        return [l.name for l in self.layers]

    @property
    def rows(self):
        """N: the rows every layer and label set holds."""
        return _lib.lib.lg_store_rows(self._p)

    def __len__(self):
        return _lib.lib.lg_store_layer_count(self._p)

    def __repr__(self):
        return "Store(%r: %d layers of %d rows)" % (self.path, len(self), self.rows)

    @property
    def label_sets(self):
        return [_lib.lib.lg_store_label_set_name(self._p, i).decode()
                for i in range(_lib.lib.lg_store_label_set_count(self._p))]

    def labels(self, name=None):
        """A label set as an int64 array (a copy); None: the first set."""
        p = _lib.c_i64p()
        n = ctypes.c_uint64()
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_store_labels(self._p, name.encode() if name else None,
                                            ctypes.byref(p), ctypes.byref(n),
                                            ctypes.byref(err)), err)
        return np.ctypeslib.as_array(p, shape=(n.value,)).copy() if n.value else \
            np.zeros(0, np.int64)

    @property
    def meta(self):
        """Metadata as a dict (values decoded as UTF-8 where they are text)."""
        out = {}
        for i in range(_lib.lib.lg_store_meta_count(self._p)):
            k = ctypes.c_char_p()
            v = ctypes.c_void_p()
            n = ctypes.c_size_t()
            _lib.lib.lg_store_meta_at(self._p, i, ctypes.byref(k), ctypes.byref(v),
                                      ctypes.byref(n))
            raw = ctypes.string_at(v, n.value) if n.value else b""
            try:
                out[k.value.decode()] = raw.decode()
            except UnicodeDecodeError:
                out[k.value.decode()] = raw
        return out

    def layer_index(self, layer):
        if isinstance(layer, (int, np.integer)):
            if not 0 <= layer < len(self):
                raise UsageError("%s: no layer %d (the store has %d)" % (self.path, layer,
                                                                         len(self)))
            return int(layer)
        i = _lib.lib.lg_store_find_layer(self._p, str(layer).encode())
        if i < 0:
            raise _lib._raise(7, "%s: no layer '%s' (it has %s)" % (self.path, layer,
                                                                   ", ".join(self.names)))
        return i

    # --- rows ---
    def read(self, layer, start=0, stop=None, copy=False):
        """Rows [start, stop) of a layer (index or name) as float32."""
        i = self.layer_index(layer)
        L = self.layers[i]
        stop = L.n if stop is None else min(int(stop), L.n)
        start = int(start)
        if not 0 <= start <= stop:
            raise UsageError("rows %d..%d are not within 0..%d" % (start, stop, L.n))
        m = stop - start
        cur = ctypes.c_void_p()
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_cursor_open(self._p, i, max(m, 1), ctypes.byref(cur),
                                           ctypes.byref(err)), err)
        try:
            if m and not copy:
                view = self._view(cur, L, start, m)
                if view is not None:
                    return view
            out = np.empty((m, L.d), np.float32)
            if m:
                _lib.check(_lib.lib.lg_cursor_read(cur, start, m,
                                                   out.ctypes.data_as(_lib.c_fltp),
                                                   ctypes.byref(err)), err)
            return out
        finally:
            _lib.lib.lg_cursor_close(cur)

    def _view(self, cur, L, start, m):
        err = _lib.new_error()
        lib = _lib.lib
        if L.dtype != "f32" or L.codec != "none":
            return None
        # the cursor delivers in place up to the end of a chunk
        if start:
            _lib.check(lib.lg_cursor_seek(cur, start, ctypes.byref(err)), err)
        rows = _lib.c_fltp()
        r0 = ctypes.c_uint64()
        n = ctypes.c_size_t()
        _lib.check(lib.lg_cursor_next(cur, ctypes.byref(rows), ctypes.byref(r0), ctypes.byref(n),
                                      ctypes.byref(err)), err)
        if n.value != m or not lib.lg_cursor_in_place(cur):
            return None
        a = np.ctypeslib.as_array(rows, shape=(m, L.d))
        a.flags.writeable = False
        return _Mapped(a, self._h)

    def __getitem__(self, layer):
        return self.read(layer)

    def blocks(self, layer, rows=65536):
        """Iterates over a layer in blocks of up to `rows` rows: (first_row, array)."""
        i = self.layer_index(layer)
        L = self.layers[i]
        for r0 in range(0, L.n, rows):
            yield r0, self.read(i, r0, min(L.n, r0 + rows))

    def verify(self):
        """Checks every checksum of the file (raises CorruptError naming the
        record and offset)."""
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_store_verify(self.path.encode(), None, None, ctypes.byref(err)),
                   err)
        return True


class _Mapped(np.ndarray):
    """A read-only view into a store's mapping; holds the store open."""

    def __new__(cls, a, handle):
        obj = a.view(cls)
        obj._handle = handle
        return obj

    def __array_finalize__(self, obj):
        self._handle = getattr(obj, "_handle", None)


class Writer:
    """Writes a store batch by batch::

        with layergeom.Writer("run.lgs") as w:
            for batch in loader:
                w.add_batch({"layer0": h0, "layer1": h1}, labels=y)

    Every layer of a batch arrives at once; the writer commits whenever all
    layers (and label sets) hold the same rows and a commit is due (every
    ``commit_seconds``, every ``commit_bytes``, on ``commit()`` and at the
    end).  A crash, or an exception inside the ``with`` block, keeps every
    row up to the last commit.  ``append=True`` adds rows (or layers) to an
    existing store.  codec: "none", "lz4", "zstd"; dtype: "f32", "f16",
    "bf16", or None (as given)."""

    def __init__(self, path, *, append=False, codec="none", level=0, dtype=None, shuffle=False,
                 chunk_rows=0, durable=True, commit_seconds=5.0, commit_bytes=256 << 20):
        self.path = str(path)
        o = _lib.WriterOpts()
        _lib.lib.lg_writer_opts_default(ctypes.byref(o))
        codecs = {v: k for k, v in _CODECS.items()}
        if codec not in codecs:
            raise UsageError("codec takes none, lz4 or zstd (not %r)" % (codec,))
        o.codec = codecs[codec]
        o.level = int(level)
        o.filter = 1 if shuffle else 0
        dts = {v: k for k, v in _DTYPES.items()}
        if dtype is not None and dtype not in dts:
            raise UsageError("dtype takes f32, f16, bf16 or f64 (not %r)" % (dtype,))
        o.dtype = dts[dtype] if dtype else 0
        o.chunk_rows = int(chunk_rows)
        o.durable = int(bool(durable))
        o.commit_seconds = float(commit_seconds)
        o.commit_bytes = int(commit_bytes)
        w = ctypes.c_void_p()
        err = _lib.new_error()
        fn = _lib.lib.lg_writer_append if append else _lib.lib.lg_writer_create
        _lib.check(fn(self.path.encode(), ctypes.byref(o), ctypes.byref(w), ctypes.byref(err)),
                   err)
        self._w = w
        self._layers = {}

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if typ is None:
            self.close()
        else:
            self.abort()  # as a crash would: everything committed stays
        return False

    def __del__(self):
        if getattr(self, "_w", None):
            self.abort()

    @property
    def _p(self):
        if not self._w:
            raise UsageError("%s: the writer is closed" % self.path)
        return self._w

    def _layer(self, name, d, src):
        h = self._layers.get(name)
        if h is not None:
            return h
        out = ctypes.c_size_t()
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_writer_layer(self._p, name.encode(), d, src, ctypes.byref(out),
                                            ctypes.byref(err)), err)
        self._layers[name] = out.value
        return out.value

    def add_rows(self, name, rows):
        """Adds rows (B x D, float16/32/64) to one layer."""
        a = np.asarray(rows)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2:
            raise UsageError("layer '%s': rows must be B x D (got shape %s)" % (name, a.shape))
        if a.dtype not in _SRC:
            a = a.astype(np.float32)
        a = np.ascontiguousarray(a)
        h = self._layer(str(name), a.shape[1], _SRC[a.dtype])
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_writer_add_rows(self._p, h, a.ctypes.data_as(ctypes.c_void_p),
                                               a.shape[0], ctypes.byref(err)), err)

    def add_labels(self, labels, name="labels"):
        """Adds labels (one per row of the batch) to a label set."""
        y = label_ids(labels)
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_writer_add_labels(self._p, name.encode(),
                                                 y.ctypes.data_as(_lib.c_i64p), y.shape[0],
                                                 ctypes.byref(err)), err)

    def add_batch(self, layers, labels=None, label_set="labels"):
        """One batch of every layer: {name: B x D array}, and optionally the
        batch's labels.  Every array must have the same B."""
        arrays = {str(k): np.asarray(v) for k, v in layers.items()}
        sizes = {k: (v.shape[0] if v.ndim == 2 else 1) for k, v in arrays.items()}
        if len(set(sizes.values())) > 1:
            raise UsageError("a batch gives every layer the same rows: %s" %
                             ", ".join("%s %d" % kv for kv in sizes.items()))
        for k, v in arrays.items():
            self.add_rows(k, v)
        if labels is not None:
            self.add_labels(labels, label_set)

    def set_labels(self, labels, name="labels"):
        """A whole label set at once (replacing one of the same name)."""
        y = label_ids(labels)
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_writer_labels(self._p, name.encode(), y.ctypes.data_as(_lib.c_i64p),
                                             y.shape[0], ctypes.byref(err)), err)

    def set_meta(self, **pairs):
        """Metadata: model="esm2_t33", pooling="mean", ... (str or bytes)."""
        for k, v in pairs.items():
            b = v if isinstance(v, bytes) else str(v).encode()
            err = _lib.new_error()
            _lib.check(_lib.lib.lg_writer_meta(self._p, k.encode(), b, len(b), ctypes.byref(err)),
                       err)

    def rows_of(self, name):
        """Rows given to a layer so far."""
        return _lib.lib.lg_writer_rows_of(self._p, self._layers[str(name)])

    @property
    def rows_committed(self):
        return _lib.lib.lg_writer_rows_committed(self._p)

    def commit(self):
        """Commits now (every layer must hold the same rows)."""
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_writer_commit(self._p, ctypes.byref(err)), err)

    def close(self):
        """Commits and closes."""
        w, self._w = self._p, None
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_writer_close(w, ctypes.byref(err)), err)

    def abort(self):
        """Closes without committing what came after the last commit."""
        w, self._w = self._w, None
        if w:
            _lib.lib.lg_writer_abort(w)
