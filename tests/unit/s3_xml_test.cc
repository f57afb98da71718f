// Tests pending.
#include <gtest/gtest.h>
