// Implementation pending (see include/s3xfs/s3/chunked.h).
#include "s3xfs/s3/chunked.h"
