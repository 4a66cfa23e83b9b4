# tests/slurm/extra.cmake — the Slurm scripts (slurm/) against a real
# single-node Slurm started by the test itself (root; packages slurmctld
# slurmd slurm-client munge).  Skipped (77) only when those are missing.
add_test(NAME slurm/sweep_submit_merge_requeue
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_slurm.sh $<TARGET_FILE:epr> ${CMAKE_SOURCE_DIR})
set_tests_properties(slurm/sweep_submit_merge_requeue PROPERTIES LABELS slurm TIMEOUT 900
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
