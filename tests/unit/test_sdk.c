/* hangar — unit tests: sdk (being written). */
#include "test.h"

HG_TEST(placeholder)
{
    ASSERT_TRUE(1);
}

HG_SUITE(sdk) = {HG_CASE(placeholder), HG_CASE_END};
