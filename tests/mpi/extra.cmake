# MPI, checkpoint/resume and failure tests: the real `epr` under mpirun.
foreach(case grad_equal resume_bitwise resume_bitwise_np2 resume_bitwise_sgd resume_schedule kill_in_checkpoint rank_failure nan_failure
        segv_failure config_error_np2 prune_kmeans prune_kmeans_np2
        prune_kmeans_sgd)
  add_test(NAME mpi/${case}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/mpi/mpi_tests.sh ${case} $<TARGET_FILE:epr> ${CMAKE_BINARY_DIR}/mpi-tests)
  set_tests_properties(mpi/${case} PROPERTIES LABELS mpi TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endforeach()
