#pragma once

#include <string>
#include <vector>

namespace s3xfs::ledger_schema {
// Migration i (0-based) takes the schema from version i to i + 1.
const std::vector<std::string>& Migrations();
}  // namespace s3xfs::ledger_schema
