// Implementation pending (see include/s3xfs/s3/xml.h).
#include "s3xfs/s3/xml.h"
