// Implementation pending (see include/s3xfs/s3/sigv4.h).
#include "s3xfs/s3/sigv4.h"
