/* safetensors import: the JSON header and the tensors it points at. */
#include "fuzz_common.h"
#include "layergeom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lg_source *src;
    lg_error err;
    if (lg_source_open_safetensors(fuzz_file(data, size), NULL, 0, &src, &err) != LG_OK)
        return 0;
    for (size_t i = 0; i < lg_source_layer_count(src); i++) {
        uint64_t n;
        uint32_t d;
        lg_dtype t;
        lg_source_layer(src, i, NULL, &n, &d, &t);
        size_t row = (size_t)d * lg_dtype_size(t);
        void *buf = malloc(row * 16 + 1);
        for (uint64_t r = 0; buf && r < n; r += 16)
            lg_source_read(src, i, r, n - r < 16 ? (size_t)(n - r) : 16, buf, &err);
        free(buf);
    }
    lg_source_close(src);
    return 0;
}
