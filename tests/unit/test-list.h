/* The unit test suites, in the order they run. Each names hg_suite_<name> in test_<name>.c. */
HG_SUITE_ENTRY(core)
HG_SUITE_ENTRY(sigv4)
HG_SUITE_ENTRY(validate)
HG_SUITE_ENTRY(store)
HG_SUITE_ENTRY(http)
HG_SUITE_ENTRY(policy)
HG_SUITE_ENTRY(fleetiq)
HG_SUITE_ENTRY(config)
