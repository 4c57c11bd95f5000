/* safetensors import: the JSON header and the tensors it points at. */
#include "fuzz_common.h"
#include "layergeom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lg_source *src;
    lg_error err;
    if (lg_source_open_safetensors(fuzz_file(data, size), NULL, 0, &src, &err) != LG_OK)
        return 0;
    read_all(src);
    lg_source_close(src);
    return 0;
}
