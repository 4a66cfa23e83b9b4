# Big-network smoke test: a narrow resnet20-4-layout ResNet with batch norm
# and EPR DFT groups on synthetic CIFAR-format data, train -> model.epr ->
# epr eval, end to end with the real binary.
add_test(NAME bignets/smoke_cifar_resnet
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bignets/smoke.sh $<TARGET_FILE:epr> ${CMAKE_BINARY_DIR}/bignets-tests)
set_tests_properties(bignets/smoke_cifar_resnet PROPERTIES LABELS bignets TIMEOUT 900)

# epr-pack (JPEG directory -> packed images) on JPEGs the test writes with
# libjpeg; only where libjpeg was found (the top-level CMakeLists.txt).
if(TARGET epr-pack)
  add_executable(pack_jpeg_test ${CMAKE_SOURCE_DIR}/tests/bignets/pack_jpeg_test.c)
  target_link_libraries(pack_jpeg_test PRIVATE epr-harness PkgConfig::CMOCKA PkgConfig::LIBJPEG)
  target_compile_definitions(pack_jpeg_test PRIVATE EPR_PACK_BIN="$<TARGET_FILE:epr-pack>")
  add_dependencies(pack_jpeg_test epr-pack)
  add_test(NAME bignets/pack_jpeg_test COMMAND pack_jpeg_test)
  set_tests_properties(bignets/pack_jpeg_test PROPERTIES LABELS bignets)
endif()

# The same pipeline on a packed image file with crop + rrc-flip.
add_test(NAME bignets/smoke_pack_rrc
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bignets/smoke.sh $<TARGET_FILE:epr> ${CMAKE_BINARY_DIR}/bignets-tests pack)
set_tests_properties(bignets/smoke_pack_rrc PROPERTIES LABELS bignets TIMEOUT 900)

# The Fashion-MNIST experiment files of resnet20-4 and vgg16 ([data] pad = 2):
# a few steps at batch 4 on 64 real training images, epr eval of the files.
add_test(NAME bignets/fashion_smoke
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bignets/fashion_smoke.sh $<TARGET_FILE:epr> ${CMAKE_BINARY_DIR}/bignets-tests
          ${CMAKE_SOURCE_DIR})
set_tests_properties(bignets/fashion_smoke PROPERTIES LABELS bignets TIMEOUT 900 SKIP_REGULAR_EXPRESSION "SKIPPED: ")
