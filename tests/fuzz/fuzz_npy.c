/* .npy import: header and body. */
#include "fuzz_common.h"
#include "layergeom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lg_source *src;
    lg_error err;
    if (lg_source_open_npy(fuzz_file(data, size), &src, &err) != LG_OK)
        return 0;
    read_all(src);
    lg_source_close(src);
    int64_t *lab;
    uint64_t n;
    char *names;
    if (lg_labels_load(fuzz_file(data, size), &lab, &n, &names, &err) == LG_OK) {
        free(lab);
        free(names);
    }
    return 0;
}
