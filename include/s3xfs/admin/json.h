// The admin protocol's JSON value is the base library's (s3xfs/base/json.h).
#pragma once

#include "s3xfs/base/json.h"

namespace s3xfs::admin {
using Json = s3xfs::Json;
}  // namespace s3xfs::admin
