add_test(NAME e2e.run_cli COMMAND ${DSINFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_cli_test.py $<TARGET_FILE:dsinfer>)
set_tests_properties(e2e.run_cli PROPERTIES LABELS "e2e" TIMEOUT 300)
if(DSINFER_EMBED_OK)
  add_test(NAME e2e.default_model
           COMMAND ${DSINFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_cli_test.py $<TARGET_FILE:dsinfer> --default)
  set_tests_properties(e2e.default_model PROPERTIES LABELS "e2e" TIMEOUT 120)
endif()
add_test(NAME e2e.shipped_model_vs_pytorch
         COMMAND ${DSINFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/shipped_model_test.py $<TARGET_FILE:dsinfer>)
set_tests_properties(e2e.shipped_model_vs_pytorch PROPERTIES LABELS "e2e" TIMEOUT 300)
add_test(NAME e2e.shipped_model_eval
         COMMAND ${DSINFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/shipped_eval_test.py $<TARGET_FILE:dsinfer>)
set_tests_properties(e2e.shipped_model_eval PROPERTIES LABELS "e2e" TIMEOUT 600)
