/* Contiguous data sets' row offsets (rawrows.h). */
#include "io/rawrows.h"

#include <string.h>

#include "io/h5util.h"

cascade_status cascade_h5_raw_rows(cascade_h5file *f, const char *dataset, cascade_h5_raw *out) {
    h5_quiet();
    memset(out, 0, sizeof *out);
    hid_t d = H5Dopen2(f->id, dataset, H5P_DEFAULT);
    if (d < 0) return h5_fail(CASCADE_EIO, f->path, "cannot open data set '%s'", dataset);
    hid_t dcpl = H5Dget_create_plist(d), type = H5Dget_type(d), space = H5Dget_space(d);
    cascade_shape shape = {0};
    cascade_status st = dcpl < 0 || type < 0 || space < 0
                            ? h5_fail(CASCADE_EIO, f->path, "cannot read the header of '%s'", dataset)
                            : h5_space_shape(space, f->path, dataset, &shape);
    if (!st && shape.ndim >= 1 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_nfilters(dcpl) == 0 &&
        H5Pget_external_count(dcpl) == 0 && H5Tequal(type, H5T_IEEE_F32LE) > 0 &&
        H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0) {
        haddr_t at = H5Dget_offset(d); /* absolute: includes a user block */
        cascade_shape row = cascade_shape_make(shape.ndim - 1, shape.d + 1);
        out->ok = at != HADDR_UNDEF;
        out->offset = (int64_t)at;
        out->row_bytes = 4 * cascade_shape_numel(&row);
    }
    H5E_BEGIN_TRY { /* a failed query above left nothing to report: ok stays 0 */
        if (dcpl >= 0) H5Pclose(dcpl);
        if (type >= 0) H5Tclose(type);
        if (space >= 0) H5Sclose(space);
        H5Dclose(d);
    }
    H5E_END_TRY;
    return st;
}
