/* Names and sizes of the element types, codecs and filters. */
#include <string.h>

#include "layergeom/common.h"

size_t lg_dtype_size(lg_dtype t)
{
    switch (t) {
    case LG_F32: return 4;
    case LG_F16: return 2;
    case LG_BF16: return 2;
    case LG_F64: return 8;
    default: return 0;
    }
}

const char *lg_dtype_name(lg_dtype t)
{
    switch (t) {
    case LG_DTYPE_KEEP: return "keep";
    case LG_F32: return "f32";
    case LG_F16: return "f16";
    case LG_BF16: return "bf16";
    case LG_F64: return "f64";
    default: return "?";
    }
}

int lg_dtype_parse(const char *s, lg_dtype *out)
{
    static const lg_dtype all[] = {LG_DTYPE_KEEP, LG_F32, LG_F16, LG_BF16, LG_F64};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, lg_dtype_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return LG_EUSAGE;
}

const char *lg_codec_name(lg_codec c)
{
    switch (c) {
    case LG_CODEC_NONE: return "none";
    case LG_CODEC_LZ4: return "lz4";
    case LG_CODEC_ZSTD: return "zstd";
    default: return "?";
    }
}

int lg_codec_parse(const char *s, lg_codec *out)
{
    for (int c = LG_CODEC_NONE; c <= LG_CODEC_ZSTD; c++)
        if (strcmp(s, lg_codec_name((lg_codec)c)) == 0) {
            *out = (lg_codec)c;
            return 0;
        }
    return LG_EUSAGE;
}

const char *lg_filter_name(lg_filter f)
{
    switch (f) {
    case LG_FILTER_NONE: return "none";
    case LG_FILTER_SHUFFLE: return "shuffle";
    default: return "?";
    }
}
