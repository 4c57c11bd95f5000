/*
 * layergeom.h -- the whole public API.
 *
 * layergeom profiles the geometry of a neural network's hidden
 * representations, layer by layer: intrinsic dimension (TwoNN, GRIDE),
 * neighbourhood overlaps between layers and with labels, on activation dumps
 * larger than memory.  Each area has its own header:
 *
 *   layergeom/common.h   status codes, lg_error, element types
 *   layergeom/store.h    the activation store: read, write, verify, stream form
 *   layergeom/import.h   .npy, safetensors, raw and label importers
 *   layergeom/nn.h       neighbour lists (lg_knn): what searches give, estimators take
 *   layergeom/knn.h      k-nearest-neighbour search: exact (blocked GEMM), incremental, approximate
 *   layergeom/estimate.h TwoNN, GRIDE, overlaps, the recommended layer
 *   layergeom/profile.h  the layer-by-layer profile of a store
 *   layergeom/report.h   the profile as a table, JSON or CSV
 *   layergeom/job.h      a profile by named settings, with the command line's policy
 */
#ifndef LAYERGEOM_H
#define LAYERGEOM_H

#include "layergeom/common.h"
#include "layergeom/import.h"
#include "layergeom/job.h"
#include "layergeom/estimate.h"
#include "layergeom/knn.h"
#include "layergeom/nn.h"
#include "layergeom/profile.h"
#include "layergeom/report.h"
#include "layergeom/store.h"
#include "layergeom/team.h"

#endif
