# tests/codec/extra.cmake — codec tests that are not cmocka programs, and
# the golden-file generator (built, not run as a test).

# The decoder library may depend on libc and libm only.
add_test(NAME codec/shared_lib_deps
  COMMAND sh ${CMAKE_SOURCE_DIR}/tests/codec/check_deps.sh $<TARGET_FILE:epr-codec>
          $<$<BOOL:${EPR_SANITIZE}>:sanitize>)
set_tests_properties(codec/shared_lib_deps PROPERTIES LABELS codec)

# gen_golden OUTDIR rewrites tests/data/golden/ when the format changes.
add_executable(gen_golden ${CMAKE_SOURCE_DIR}/tests/codec/gen_golden.c)
target_link_libraries(gen_golden PRIVATE epr-codec-static m)

# test_alloc_fail: every allocation of the codec through the test's wrappers
# (the N-th fails), and epr_encode wrapped so only its own are armed.
if(TARGET test_alloc_fail)
  target_link_options(test_alloc_fail PRIVATE
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=epr_encode)
endif()
