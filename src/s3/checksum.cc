// Implementation pending (see include/s3xfs/s3/checksum.h).
#include "s3xfs/s3/checksum.h"
